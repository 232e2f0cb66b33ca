package org.softmig.coordinator.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.JobReport;

class ClusterJobPartsTest {

  private static JobReport part(String node, String gpu, long gpuTimeUs) {
    return JobReport.newBuilder()
        .setJobId("42")
        .setNode(node)
        .setGpuUuid(gpu)
        .setGpuTimeUs(gpuTimeUs)
        .build();
  }

  @Test
  void keepsOnePartPerNodeAndGpuOrderedByNode() {
    JobParts parts = new JobParts();
    parts.put(part("n2", "GPU-b", 5), false, 1_000);
    parts.put(part("n1", "GPU-a", 1), false, 1_000);
    parts.put(part("n1", "GPU-a", 7), false, 2_000);
    parts.put(part("n1", "GPU-c", 3), false, 2_000);

    assertThat(parts.all())
        .extracting(JobReport::getNode, JobReport::getGpuUuid, JobReport::getGpuTimeUs)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple("n1", "GPU-a", 7L),
            org.assertj.core.groups.Tuple.tuple("n1", "GPU-c", 3L),
            org.assertj.core.groups.Tuple.tuple("n2", "GPU-b", 5L));
  }

  @Test
  void endedPartGetsAnEndTimeAndKeepsItsFinalFigures() {
    JobParts parts = new JobParts();
    parts.put(part("n1", "GPU-a", 9), true, 5_000);
    parts.put(part("n1", "GPU-a", 1), false, 6_000); // late running update

    assertThat(parts.all()).hasSize(1);
    assertThat(parts.all().get(0).getEndedUnixMs()).isEqualTo(5_000);
    assertThat(parts.all().get(0).getGpuTimeUs()).isEqualTo(9);
  }

  @Test
  void endTimeGivenByTheNodeIsKept() {
    JobParts parts = new JobParts();
    parts.put(part("n1", "GPU-a", 9).toBuilder().setEndedUnixMs(4_000).build(), true, 5_000);

    assertThat(parts.all().get(0).getEndedUnixMs()).isEqualTo(4_000);
  }
}
