package org.softmig.coordinator.nvml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

  @TempDir Path dir;

  /**
   * Builds the stand-in NVML of src/test/resources/fake-nvml with the C compiler, or skips the
   * test where there is none.
   */
  private Path buildFakeNvml(String... defines) throws IOException, InterruptedException {
    assumeTrue(Platform.isLinux(), "the fake NVML is built for Linux");
    Path source = dir.resolve("fake_nvml.c");
    try (InputStream in = getClass().getResourceAsStream("/fake-nvml/fake_nvml.c")) {
      Files.copy(in, source);
    }
    Path library = dir.resolve("libfake-nvml-" + defines.length + ".so.1");
    List<String> command = new ArrayList<>(List.of("cc", "-shared", "-fPIC", "-o", library.toString()));
    for (String d : defines) {
      command.add("-D" + d);
    }
    command.add(source.toString());
    Process cc;
    try {
      cc = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      assumeTrue(false, "no C compiler: " + e.getMessage());
      return null;
    }
    String output = new String(cc.getInputStream().readAllBytes());
    assertThat(cc.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(cc.exitValue()).as(output).isZero();
    return library;
  }

  @Test
  void readsDevicesThroughTheNativeLayer() throws Exception {
    try (NvmlLibrary lib = NvmlLibrary.open(buildFakeNvml().toString())) {
      assertThat(lib.deviceCount()).isEqualTo(2);
      assertThat(lib.uuid(1)).isEqualTo("GPU-fake-1");
      assertThat(lib.name(0)).isEqualTo("Fake GPU 0");
      assertThat(lib.pciBusId(1)).isEqualTo("00000000:3C:00.0");
      assertThat(lib.memory(0)).isEqualTo(new NvmlApi.Memory(16L << 30, 15L << 30, 1L << 30));
      assertThat(lib.migEnabled(1)).isTrue();
      assertThatThrownBy(() -> lib.migEnabled(0))
          .isInstanceOfSatisfying(
              NvmlException.class,
              e -> {
                assertThat(e.isNotSupported()).isTrue();
                assertThat(e.getMessage()).contains("nvmlDeviceGetMigMode", "Not Supported");
              });
      assertThat(lib.utilization(0)).isEqualTo(new NvmlApi.Utilization(42, 7));
      assertThatThrownBy(() -> lib.uuid(5))
          .isInstanceOfSatisfying(
              NvmlException.class,
              e -> assertThat(e.code()).isEqualTo(Nvml.NVML_ERROR_INVALID_ARGUMENT));
    }
  }

  @Test
  void readsAProcessListLongerThanTheFirstBuffer() throws Exception {
    try (NvmlLibrary lib = NvmlLibrary.open(buildFakeNvml().toString())) {
      List<NvmlApi.ProcessInfo> processes = lib.computeProcessesV3(0);

      assertThat(processes).hasSize(100);
      assertThat(processes.get(0)).isEqualTo(new NvmlApi.ProcessInfo(1000, 0));
      assertThat(processes.get(99)).isEqualTo(new NvmlApi.ProcessInfo(1099, 99L << 20));
      assertThat(lib.graphicsProcessesV3(0)).isEmpty();
    }
  }

  @Test
  void aMissingV3QueryIsFunctionNotFoundAndTheInventoryFallsBack() throws Exception {
    NvmlLibrary lib = NvmlLibrary.open(buildFakeNvml("FAKE_NVML_NO_V3").toString());

    assertThatThrownBy(() -> lib.computeProcessesV3(1))
        .isInstanceOfSatisfying(
            NvmlException.class, e -> assertThat(e.isFunctionNotFound()).isTrue());
    try (NvmlGpuInventory inventory = NvmlGpuInventory.discover(lib)) {
      assertThat(inventory.gpus())
          .containsExactly(
              new GpuInfo("GPU-fake-0", 0, "Fake GPU 0", 16L << 30, "00000000:3B:00.0", false, false),
              new GpuInfo("GPU-fake-1", 1, "Fake GPU 1", 16L << 30, "00000000:3C:00.0", true, false));
      assertThat(inventory.processes("GPU-fake-1")).containsExactly(new ProcessUsage(2000, 0));
      assertThat(inventory.utilizationPercent("GPU-fake-1")).isEqualTo(-1);
      assertThat(inventory.memoryUsedBytes("GPU-fake-0")).isEqualTo(1L << 30);
    }
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
