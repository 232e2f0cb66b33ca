package org.softmig.coordinator.nvml;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.softmig.gpu.domain.Reconciler;
import org.softmig.proto.v1.ProcessMemory;
import org.softmig.proto.v1.UnmanagedProcess;

class NvmlReconcileMappingTest {

  @Test
  void mapsNvmlProcessesToReconcilerInput() {
    assertThat(ReconcileMapping.observed(List.of(new ProcessUsage(7, 100))))
        .containsExactly(new Reconciler.ObservedProcess(7, 100));
  }

  @Test
  void mapsAFindingToTheStatusEntry() {
    Reconciler.Finding f =
        new Reconciler.Finding("GPU-a", 4343, "bob", "77", 1 << 30, Reconciler.Reason.OVER_LIMIT, true, true);

    assertThat(ReconcileMapping.unmanaged(f, true))
        .isEqualTo(
            UnmanagedProcess.newBuilder()
                .setPid(4343)
                .setUser("bob")
                .setJobId("77")
                .setGpuUuid("GPU-a")
                .setUsedBytes(1 << 30)
                .setReason("over limit")
                .setKilled(true)
                .build());
  }

  @Test
  void mapsADiscrepancyToProcessMemory() {
    assertThat(ReconcileMapping.processMemory(new Reconciler.Discrepancy("GPU-a", 5, "1", 600, 500)))
        .isEqualTo(ProcessMemory.newBuilder().setPid(5).setUsedBytes(600).setTrackedBytes(500).build());
  }

  @Test
  void theKillerRefusesPidOneAndItself() {
    ProcessKiller killer = ProcessKiller.sigkill();

    assertThat(killer.kill(1)).isFalse();
    assertThat(killer.kill((int) ProcessHandle.current().pid())).isFalse();
  }
}
