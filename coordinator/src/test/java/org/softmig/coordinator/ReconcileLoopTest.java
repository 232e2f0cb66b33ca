package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.softmig.coordinator.nvml.GpuSampler;
import org.softmig.coordinator.nvml.ProcessUsage;
import org.softmig.gpu.actor.GpuDescriptor;
import org.softmig.gpu.actor.GpuSnapshot;
import org.softmig.gpu.domain.Reconciler;

/** How a GPU actor's snapshot and NVML's sample become the reconciler's input. */
class ReconcileLoopTest {

  static final long GIB = 1L << 30;
  static final GpuDescriptor GPU = new GpuDescriptor("GPU-a", 0, "H100", 80 * GIB);
  static final GpuSampler.GpuSample SAMPLE =
      new GpuSampler.GpuSample("GPU-a", List.of(new ProcessUsage(42, GIB)), 2 * GIB, 10, null);

  static GpuSnapshot.JobSnapshot job(
      String id, long limit, double sm, boolean placed, GpuSnapshot.ProcessSnapshot... ps) {
    return new GpuSnapshot.JobSnapshot(
        id, "alice", 0, limit, 0, 0, sm, 0, 0, 0, 0, 0, placed, List.of(ps));
  }

  @Test
  void sessionsLimitsAndObservedProcessesComeThrough() {
    GpuSnapshot snapshot =
        new GpuSnapshot(
            GPU,
            0,
            0,
            0,
            List.of(
                job(
                    "j",
                    8 * GIB,
                    0,
                    false,
                    new GpuSnapshot.ProcessSnapshot(7, 1, GIB, 8 * GIB),
                    new GpuSnapshot.ProcessSnapshot(0, 2, 5, 5))));
    Reconciler.GpuInput in = ReconcileLoop.input(snapshot, SAMPLE, false);
    assertThat(in.holdsSlices()).isTrue();
    assertThat(in.sessions()).containsExactly(new Reconciler.Session(7, "j", "alice", GIB));
    assertThat(in.jobLimitBytes()).containsEntry("j", 8 * GIB);
    assertThat(in.observed()).containsExactly(new Reconciler.ObservedProcess(42, GIB));
  }

  @Test
  void aGpuHoldsSlicesOnlyWithAPlacedOrLimitedJobAndNeverInMigMode() {
    GpuSnapshot unlimited = new GpuSnapshot(GPU, 0, 0, 0, List.of(job("u", 0, 0, false)));
    assertThat(ReconcileLoop.input(unlimited, SAMPLE, false).holdsSlices()).isFalse();
    GpuSnapshot placed = new GpuSnapshot(GPU, 0, 0, 0, List.of(job("p", 0, 0, true)));
    assertThat(ReconcileLoop.input(placed, SAMPLE, false).holdsSlices()).isTrue();
    GpuSnapshot smOnly = new GpuSnapshot(GPU, 0, 0, 0, List.of(job("s", 0, 25, false)));
    assertThat(ReconcileLoop.input(smOnly, SAMPLE, false).holdsSlices()).isTrue();
    assertThat(ReconcileLoop.input(placed, SAMPLE, true).holdsSlices()).isFalse();
  }
}
