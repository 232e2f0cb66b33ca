package org.softmig.coordinator.nvml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.softmig.coordinator.nvml.NvmlApi.ProcessInfo;

class NvmlGpuInventoryTest {

  @Test
  void mapsEveryDeviceToGpuInfo() {
    FakeNvml nvml = new FakeNvml(2);
    nvml.devices.get(1).name = "NVIDIA L40S";
    nvml.devices.get(1).totalBytes = 48L << 30;

    NvmlGpuInventory inventory = NvmlGpuInventory.discover(nvml);

    assertThat(inventory.gpus())
        .containsExactly(
            new GpuInfo(
                "GPU-00000000-0000-0000-0000-000000000000",
                0,
                "NVIDIA H100 80GB HBM3",
                80L << 30,
                "00000000:10:00.0",
                false,
                false),
            new GpuInfo(
                "GPU-00000001-0000-0000-0000-000000000000",
                1,
                "NVIDIA L40S",
                48L << 30,
                "00000000:11:00.0",
                false,
                false));
  }

  @Test
  void reportsMigModeWhereTheGpuHasIt() {
    FakeNvml nvml = new FakeNvml(2);
    nvml.devices.get(0).migMode = 1;
    nvml.devices.get(1).migMode = 0;

    List<GpuInfo> gpus = NvmlGpuInventory.discover(nvml).gpus();

    assertThat(gpus).extracting(GpuInfo::migEnabled).containsExactly(true, false);
  }

  @Test
  void leavesOutAGpuThatCannotBeReadAndKeepsTheOthers() {
    FakeNvml nvml = new FakeNvml(3).fail("uuid@1", Nvml.NVML_ERROR_NO_PERMISSION);

    List<GpuInfo> gpus = NvmlGpuInventory.discover(nvml).gpus();

    assertThat(gpus).extracting(GpuInfo::index).containsExactly(0, 2);
  }

  @Test
  void migQueryErrorsOtherThanNotSupportedLeaveTheGpuOut() {
    FakeNvml nvml = new FakeNvml(2).fail("migEnabled@0", Nvml.NVML_ERROR_GPU_IS_LOST);

    assertThat(NvmlGpuInventory.discover(nvml).gpus()).extracting(GpuInfo::index).containsExactly(1);
  }

  @Test
  void failsDiscoveryWhenTheCountCannotBeRead() {
    FakeNvml nvml = new FakeNvml(1).fail("deviceCount", Nvml.NVML_ERROR_UNINITIALIZED);

    assertThatThrownBy(() -> NvmlGpuInventory.discover(nvml))
        .isInstanceOfSatisfying(
            NvmlException.class,
            e -> assertThat(e.code()).isEqualTo(Nvml.NVML_ERROR_UNINITIALIZED));
  }

  @Test
  void mergesComputeAndGraphicsProcessesByPid() {
    FakeNvml nvml = new FakeNvml(1);
    FakeNvml.Device d = nvml.devices.get(0);
    d.compute.add(new ProcessInfo(300, 1_000));
    d.compute.add(new ProcessInfo(100, 5_000));
    d.graphics.add(new ProcessInfo(100, 5_000));
    d.graphics.add(new ProcessInfo(200, 700));
    NvmlGpuInventory inventory = NvmlGpuInventory.discover(nvml);

    List<ProcessUsage> processes = inventory.processes(d.uuid);

    assertThat(processes)
        .containsExactly(
            new ProcessUsage(100, 5_000), new ProcessUsage(200, 700), new ProcessUsage(300, 1_000));
  }

  @Test
  void listsAProcessWhoseMemoryNvmlCannotTellWithZeroBytes() {
    FakeNvml nvml = new FakeNvml(1);
    nvml.devices.get(0).compute.add(new ProcessInfo(42, Nvml.NVML_VALUE_NOT_AVAILABLE));

    List<ProcessUsage> processes =
        NvmlGpuInventory.discover(nvml).processes(nvml.devices.get(0).uuid);

    assertThat(processes).containsExactly(new ProcessUsage(42, 0));
  }

  @Test
  void fallsBackToV2QueriesOnceV3IsMissing() {
    FakeNvml nvml =
        new FakeNvml(1)
            .fail("computeProcessesV3", Nvml.NVML_ERROR_FUNCTION_NOT_FOUND)
            .fail("graphicsProcessesV3", Nvml.NVML_ERROR_FUNCTION_NOT_FOUND);
    nvml.devices.get(0).compute.add(new ProcessInfo(7, 123));
    NvmlGpuInventory inventory = NvmlGpuInventory.discover(nvml);
    String uuid = nvml.devices.get(0).uuid;

    assertThat(inventory.processes(uuid)).containsExactly(new ProcessUsage(7, 123));
    assertThat(inventory.processes(uuid)).containsExactly(new ProcessUsage(7, 123));

    assertThat(nvml.callCount("computeProcessesV3")).isEqualTo(1);
    assertThat(nvml.callCount("computeProcessesV2")).isEqualTo(2);
    assertThat(nvml.callCount("graphicsProcessesV3")).isEqualTo(1);
    assertThat(nvml.callCount("graphicsProcessesV2")).isEqualTo(2);
  }

  @Test
  void readsComputeProcessesOnlyOnAGpuWithoutGraphics() {
    FakeNvml nvml = new FakeNvml(2).fail("graphicsProcessesV3@1", Nvml.NVML_ERROR_NOT_SUPPORTED);
    nvml.devices.get(0).graphics.add(new ProcessInfo(5, 10));
    nvml.devices.get(1).compute.add(new ProcessInfo(7, 123));
    NvmlGpuInventory inventory = NvmlGpuInventory.discover(nvml);
    String gpu0 = nvml.devices.get(0).uuid;
    String gpu1 = nvml.devices.get(1).uuid;

    assertThat(inventory.processes(gpu1)).containsExactly(new ProcessUsage(7, 123));
    assertThat(inventory.processes(gpu1)).containsExactly(new ProcessUsage(7, 123));
    assertThat(inventory.processes(gpu0)).containsExactly(new ProcessUsage(5, 10));

    assertThat(nvml.callCount("graphicsProcessesV3")).isEqualTo(2);
  }

  @Test
  void passesOtherProcessQueryErrorsOnWithTheirCode() {
    FakeNvml nvml = new FakeNvml(1);
    NvmlGpuInventory inventory = NvmlGpuInventory.discover(nvml);
    nvml.fail("computeProcessesV3", Nvml.NVML_ERROR_GPU_IS_LOST);

    assertThatThrownBy(() -> inventory.processes(nvml.devices.get(0).uuid))
        .isInstanceOfSatisfying(
            NvmlException.class, e -> assertThat(e.code()).isEqualTo(Nvml.NVML_ERROR_GPU_IS_LOST));
    assertThat(nvml.callCount("computeProcessesV2")).isZero();
  }

  @Test
  void readsUtilizationAndSaysMinusOneWhereTheGpuCannotTell() {
    FakeNvml nvml = new FakeNvml(2);
    nvml.devices.get(0).utilization = new NvmlApi.Utilization(87, 40);
    nvml.fail("utilization@1", Nvml.NVML_ERROR_NOT_SUPPORTED);
    NvmlGpuInventory inventory = NvmlGpuInventory.discover(nvml);

    assertThat(inventory.utilizationPercent(nvml.devices.get(0).uuid)).isEqualTo(87);
    assertThat(inventory.utilizationPercent(nvml.devices.get(1).uuid)).isEqualTo(-1);
  }

  @Test
  void utilizationFailuresOtherThanUnsupportedAreThrown() {
    FakeNvml nvml = new FakeNvml(1);
    NvmlGpuInventory inventory = NvmlGpuInventory.discover(nvml);
    nvml.fail("utilization", Nvml.NVML_ERROR_GPU_IS_LOST);

    assertThatThrownBy(() -> inventory.utilizationPercent(nvml.devices.get(0).uuid))
        .isInstanceOf(NvmlException.class);
  }

  @Test
  void refusesAnUnknownUuid() {
    NvmlGpuInventory inventory = NvmlGpuInventory.discover(new FakeNvml(1));

    assertThatThrownBy(() -> inventory.processes("GPU-nope"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("GPU-nope");
  }

  @Test
  void closeShutsNvmlDown() {
    FakeNvml nvml = new FakeNvml(1);

    NvmlGpuInventory.discover(nvml).close();

    assertThat(nvml.closes).isEqualTo(1);
  }
}
