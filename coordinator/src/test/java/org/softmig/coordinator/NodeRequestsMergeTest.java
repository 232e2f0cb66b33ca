package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.ReportReply;

class NodeRequestsMergeTest {

  private static JobReport part(String node, String gpu, long peak) {
    return JobReport.newBuilder()
        .setJobId("42")
        .setNode(node)
        .setGpuUuid(gpu)
        .setMemoryPeakBytes(peak)
        .build();
  }

  @Test
  void ownPartsWinAndOtherNodesPartsAreAdded() {
    ReportReply local = ReportReply.newBuilder().addReports(part("n1", "GPU-a", 200)).build();
    ReportReply cluster =
        ReportReply.newBuilder()
            .addReports(part("n1", "GPU-a", 100))
            .addReports(part("n2", "GPU-b", 300))
            .build();

    ReportReply merged = NodeRequests.mergeReports(local, cluster);

    assertThat(merged.getReportsList())
        .containsExactly(part("n1", "GPU-a", 200), part("n2", "GPU-b", 300));
  }

  @Test
  void aJobOnlyElsewhereComesFromTheCluster() {
    ReportReply cluster = ReportReply.newBuilder().addReports(part("n2", "GPU-b", 300)).build();

    assertThat(
            NodeRequests.mergeReports(ReportReply.getDefaultInstance(), cluster)
                .getReportsList())
        .containsExactly(part("n2", "GPU-b", 300));
  }

  @Test
  void theClusterCannotAddPartsOfThisNodeWhileThisNodeKnowsTheJob() {
    ReportReply local = ReportReply.newBuilder().addReports(part("n1", "GPU-a", 200)).build();
    ReportReply cluster =
        ReportReply.newBuilder()
            .addReports(part("n1", "GPU-forged", 999))
            .addReports(part("n2", "GPU-b", 300))
            .build();

    assertThat(NodeRequests.mergeReports(local, cluster).getReportsList())
        .containsExactly(part("n1", "GPU-a", 200), part("n2", "GPU-b", 300));
  }
}
