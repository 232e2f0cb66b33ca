package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.softmig.gpu.domain.Reconciler;

class OverheadEstimatesTest {

  static Reconciler.JobUsage usage(String gpu, String job, long nvml, long tracked) {
    return new Reconciler.JobUsage(gpu, job, nvml, tracked, 0, false);
  }

  @Test
  void overheadIsWhatNvmlSeesBeyondTheTrackedBytesNeverNegative() {
    OverheadEstimates e = new OverheadEstimates();
    assertThat(
            e.update(
                List.of(usage("g0", "a", 1500, 1000), usage("g0", "b", 100, 400)), List.of("g0")))
        .isEqualTo(Map.of("g0", Map.of("a", 500L, "b", 0L)));
  }

  @Test
  void aOneRoundSpikeIsNotCharged() {
    OverheadEstimates e = new OverheadEstimates();
    e.update(List.of(usage("g0", "a", 1500, 1000)), List.of("g0"));
    // NVML already sees 2000 more that the usage report has not brought yet
    assertThat(e.update(List.of(usage("g0", "a", 3500, 1000)), List.of("g0")).get("g0"))
        .containsEntry("a", 500L);
    // the report arrives: the overhead is what it was
    assertThat(e.update(List.of(usage("g0", "a", 3500, 3000)), List.of("g0")).get("g0"))
        .containsEntry("a", 500L);
    // a lasting rise is charged from its second round
    assertThat(e.update(List.of(usage("g0", "a", 3800, 3000)), List.of("g0")).get("g0"))
        .containsEntry("a", 500L);
    assertThat(e.update(List.of(usage("g0", "a", 3800, 3000)), List.of("g0")).get("g0"))
        .containsEntry("a", 800L);
  }

  @Test
  void gpusNotMeasuredThisRoundAreLeftOutAndKeepTheirHistory() {
    OverheadEstimates e = new OverheadEstimates();
    e.update(List.of(usage("g0", "a", 1500, 1000)), List.of("g0"));
    assertThat(e.update(List.of(), List.of("g1"))).isEqualTo(Map.of("g1", Map.of()));
    assertThat(e.update(List.of(usage("g0", "a", 1900, 1000)), List.of("g0")).get("g0"))
        .containsEntry("a", 500L);
  }
}
