package org.softmig.coordinator.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.NodeStatus;

class StandaloneViewsTest {

  private final StandaloneViews views =
      new StandaloneViews(ClusterSettings.of("solo", "127.0.0.1", 0, List.of(), false));

  private static JobReport part(String job, long peak) {
    return JobReport.newBuilder()
        .setJobId(job)
        .setNode("solo")
        .setGpuUuid("GPU-1")
        .setMemoryPeakBytes(peak)
        .build();
  }

  @Test
  void answersTheClusterStatusWithThisNodeAlone() {
    assertThat(views.status().getNodes(0).getReachable()).isFalse();
    views.publishNode(NodeStatus.newBuilder().setNode("solo").setHealth("ok").build());
    assertThat(views.status().getNodesList()).hasSize(1);
    assertThat(views.status().getNodes(0).getReachable()).isTrue();
  }

  @Test
  void keepsAJobsFinalReportForTheRetentionAfterItsLastUpdate() {
    long t0 = 1_000_000L;
    views.publishJob(part("7", 5), true, t0);
    views.publishJob(part("7", 9), false, t0 + 1); // a late running update: the final one stays
    assertThat(views.report("7", t0 + 2)).singleElement()
        .satisfies(r -> assertThat(r.getMemoryPeakBytes()).isEqualTo(5));
    long retention = JobView.RETENTION.toMillis();
    assertThat(views.report("7", t0 + 1 + retention)).hasSize(1);
    assertThat(views.report("7", t0 + 2 + retention)).isEmpty();
    assertThat(views.report("unknown", t0)).isEmpty();
  }
}
