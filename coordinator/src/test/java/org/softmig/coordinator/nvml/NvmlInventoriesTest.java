package org.softmig.coordinator.nvml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** {@link GpuInventories#open}: NVML, simulated GPUs, or a refusal. */
class NvmlInventoriesTest {
  private static final Supplier<NvmlApi> NO_NVML =
      () -> {
        throw new NvmlException(
            "loading libnvidia-ml.so.1", Nvml.NVML_ERROR_LIBRARY_NOT_FOUND, "not found");
      };

  private final AtomicInteger simulatedBuilt = new AtomicInteger();
  private final Function<String, GpuInventory> simulated =
      spec -> {
        simulatedBuilt.incrementAndGet();
        return new OneSimulatedGpu(spec);
      };

  @Test
  void usesNvmlWhenItLoads() {
    FakeNvml nvml = new FakeNvml(2);

    GpuInventory inventory = GpuInventories.open(null, false, () -> nvml, simulated);

    assertThat(inventory).isInstanceOf(NvmlGpuInventory.class);
    assertThat(inventory.gpus()).hasSize(2).noneMatch(GpuInfo::simulated);
    assertThat(simulatedBuilt).hasValue(0);
  }

  @Test
  void usesSimulatedGpusWhenTheyAreAskedForWithoutTouchingNvml() {
    AtomicInteger loads = new AtomicInteger();

    GpuInventory inventory =
        GpuInventories.open(
            " 48G ",
            false,
            () -> {
              loads.incrementAndGet();
              return new FakeNvml(1);
            },
            simulated);

    assertThat(inventory.gpus()).singleElement().satisfies(g -> assertThat(g.name()).isEqualTo("48G"));
    assertThat(loads).hasValue(0);
  }

  @Test
  void runsWithNoGpusWhenNvmlIsMissingAndNothingIsRequired() {
    GpuInventory inventory = GpuInventories.open("", false, NO_NVML, simulated);

    assertThat(inventory.gpus()).isEmpty();
    assertThatThrownBy(() -> inventory.processes("GPU-x"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void refusesToStartWithoutNvmlWhenRealGpusAreRequired() {
    assertThatThrownBy(() -> GpuInventories.open(null, true, NO_NVML, simulated))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("real GPUs are required")
        .hasMessageContaining("not found");
  }

  @Test
  void refusesASimulationWhenRealGpusAreRequired() {
    assertThatThrownBy(() -> GpuInventories.open("48G", true, () -> new FakeNvml(1), simulated))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("--simulate");
    assertThat(simulatedBuilt).hasValue(0);
  }

  @Test
  void refusesWhenRealGpusAreRequiredAndNvmlSeesNone() {
    FakeNvml nvml = new FakeNvml(0);

    assertThatThrownBy(() -> GpuInventories.open(null, true, () -> nvml, simulated))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("reports none");
    assertThat(nvml.closes).isEqualTo(1);
  }

  @Test
  void shutsNvmlDownWhenDiscoveryFails() {
    FakeNvml nvml = new FakeNvml(1).fail("deviceCount", Nvml.NVML_ERROR_UNKNOWN);

    GpuInventory inventory = GpuInventories.open(null, false, () -> nvml, simulated);

    assertThat(inventory.gpus()).isEmpty();
    assertThat(nvml.closes).isEqualTo(1);
  }

  /** Stands in for the simulated inventory: one GPU named after the spec. */
  private record OneSimulatedGpu(String spec) implements GpuInventory {
    @Override
    public List<GpuInfo> gpus() {
      return List.of(new GpuInfo("GPU-sim", 0, spec, 48L << 30, "", false, true));
    }

    @Override
    public List<ProcessUsage> processes(String uuid) {
      return List.of();
    }

    @Override
    public int utilizationPercent(String uuid) {
      return -1;
    }

    @Override
    public void close() {}
  }
}
