package org.softmig.coordinator.nvml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The JNA layer itself: struct layouts, a missing library, and the real NVML where there is one. */
class NvmlLibraryTest {

  @Test
  void structLayoutsMatchNvmlHeaderOnLp64() {
    assumeTrue(Platform.is64Bit() && !Platform.isWindows());

    Nvml.nvmlProcessInfo_t process = new Nvml.nvmlProcessInfo_t();
    process.usedGpuMemory = 0x1122334455667788L;
    process.computeInstanceId = 7;
    process.write();
    assertThat(process.size()).isEqualTo(24);
    assertThat(process.getPointer().getLong(8)).isEqualTo(0x1122334455667788L);
    assertThat(process.getPointer().getInt(20)).isEqualTo(7);

    Nvml.nvmlPciInfo_t pci = new Nvml.nvmlPciInfo_t();
    pci.busId[0] = 'X';
    pci.write();
    assertThat(pci.size()).isEqualTo(16 + 5 * 4 + 32);
    assertThat(pci.getPointer().getByte(36)).isEqualTo((byte) 'X');
    assertThat(new Nvml.nvmlMemory_t().size()).isEqualTo(24);
    assertThat(new Nvml.nvmlUtilization_t().size()).isEqualTo(8);
  }

  @Test
  void aMissingLibraryIsLibraryNotFound() {
    assertThatThrownBy(() -> NvmlLibrary.open("libsoftmig-no-such-nvml.so.1"))
        .isInstanceOfSatisfying(
            NvmlException.class,
            e -> {
              assertThat(e.code()).isEqualTo(Nvml.NVML_ERROR_LIBRARY_NOT_FOUND);
              assertThat(e.getMessage()).contains("libsoftmig-no-such-nvml.so.1");
            });
  }

  /** Runs only where a driver is installed (a GPU node); elsewhere it is skipped. */
  @Test
  void readsTheRealGpusWhereThereAreAny() {
    NvmlLibrary lib;
    try {
      lib = NvmlLibrary.open(System.getProperty("softmig.nvml", NvmlLibrary.DEFAULT_LIBRARY));
    } catch (NvmlException e) {
      assumeTrue(false, "no NVML here: " + e.getMessage());
      return;
    }
    try (NvmlGpuInventory inventory = NvmlGpuInventory.discover(lib)) {
      assumeTrue(!inventory.gpus().isEmpty(), "NVML sees no GPU");
      for (GpuInfo gpu : inventory.gpus()) {
        assertThat(gpu.uuid()).startsWith("GPU-");
        assertThat(gpu.name()).isNotBlank();
        assertThat(gpu.pciBusId()).matches("[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\\.[0-7]");
        assertThat(gpu.memoryTotalBytes()).isGreaterThan(1L << 30);
        List<ProcessUsage> processes = inventory.processes(gpu.uuid());
        assertThat(processes).allSatisfy(p -> assertThat(p.usedBytes()).isNotNegative());
        assertThat(inventory.utilizationPercent(gpu.uuid())).isBetween(-1, 100);
        System.out.printf(
            "NVML GPU %d %s %s %s %d bytes mig=%s processes=%s util=%d%n",
            gpu.index(),
            gpu.uuid(),
            gpu.name(),
            gpu.pciBusId(),
            gpu.memoryTotalBytes(),
            gpu.migEnabled(),
            processes,
            inventory.utilizationPercent(gpu.uuid()));
      }
    }
  }
}
