package org.softmig.coordinator.nvml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SimulatedGpusTest {

  @Test
  void derivesTheDocumentedUuids() {
    SimulatedGpus gpus = SimulatedGpus.fromSpec("48G,48G");
    assertThat(gpus.gpus()).extracting(GpuInfo::uuid)
        .containsExactly(
            "GPU-51dc187a-af0f-2fa8-127c-46fedfac9019", "GPU-cae8b510-42c5-392f-81d1-aa5a0543af22");
    assertThat(SimulatedGpus.fromSpec("L40S:48G,L40S:48G").gpus().get(0).uuid())
        .isEqualTo("GPU-4d782f5b-c20b-b089-1357-40d9d2da2104");
  }

  @Test
  void namesSizesAndIndexes() {
    SimulatedGpus gpus = SimulatedGpus.fromSpec("L40S:48G, 24G");
    GpuInfo first = gpus.gpus().get(0);
    assertThat(first.name()).isEqualTo("L40S");
    assertThat(first.memoryTotalBytes()).isEqualTo(48L << 30);
    assertThat(first.simulated()).isTrue();
    assertThat(gpus.gpus().get(1).name()).isEqualTo(SimulatedGpus.DEFAULT_NAME);
    assertThat(gpus.gpus().get(1).index()).isEqualTo(1);
    assertThat(gpus.processes(first.uuid())).isEmpty();
  }

  @Test
  void rejectsBadSpecsNamingTheEntry() {
    assertThatThrownBy(() -> SimulatedGpus.fromSpec("48G,12X")).hasMessageContaining("12X");
    assertThatThrownBy(() -> SimulatedGpus.fromSpec("")).hasMessageContaining("empty");
    assertThatThrownBy(() -> SimulatedGpus.fromSpec("48G,,")).hasMessageContaining("entry 1");
    assertThatThrownBy(() -> SimulatedGpus.fromSpec("0")).hasMessageContaining("no memory");
  }
}
