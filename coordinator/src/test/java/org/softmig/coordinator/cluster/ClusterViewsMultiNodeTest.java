package org.softmig.coordinator.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.ReportReply;
import org.softmig.proto.v1.StatusReply;

/** Three members in one JVM: two GPU nodes and an observer. */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterViewsMultiNodeTest {

  private static final Duration ASK = Duration.ofSeconds(1);

  private static ClusterTestNode n1;
  private static ClusterTestNode n2;
  private static ClusterTestNode n3;

  @BeforeAll
  static void startCluster() {
    n1 = ClusterTestNode.start(ClusterTestNode.settings("n1", 0, List.of(), false));
    List<String> seeds = List.of(n1.seed());
    n2 = ClusterTestNode.start(ClusterTestNode.settings("n2", 0, seeds, false));
    n3 = ClusterTestNode.start(ClusterTestNode.settings("n3", 0, seeds, true));
    n1.awaitMembersUp(3);
    n2.awaitMembersUp(3);
    n3.awaitMembersUp(3);
  }

  @AfterAll
  static void stopCluster() {
    ClusterTestNode.closeAll(java.util.Arrays.asList(n3, n2, n1));
  }

  private static NodeStatus gpuNode(String node, String gpu, String job) {
    return NodeStatus.newBuilder()
        .setNode(node)
        .setHealth("ok")
        .addGpus(
            GpuStatus.newBuilder()
                .setUuid(gpu)
                .setMemoryTotalBytes(48L << 30)
                .addJobs(JobStatus.newBuilder().setJobId(job).setMemoryUsedBytes(1L << 30)))
        .build();
  }

  private static StatusReply status(ClusterTestNode from) throws Exception {
    return from.views.clusterStatus(ASK).toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static NodeStatus node(StatusReply reply, String name) {
    return reply.getNodesList().stream()
        .filter(n -> n.getNode().equals(name))
        .findFirst()
        .orElseThrow(() -> new AssertionError(name + " missing from " + reply));
  }

  @Test
  @Order(1)
  void everyNodeSeesEveryNodesViewThroughSharding() {
    n1.views.publishNode(gpuNode("n1", "GPU-1", "100"));
    n2.views.publishNode(gpuNode("", "GPU-2", "200"));

    for (ClusterTestNode from : List.of(n1, n2, n3)) {
      await()
          .atMost(Duration.ofSeconds(20))
          .ignoreExceptions()
          .untilAsserted(
              () -> {
                StatusReply reply = status(from);
                assertThat(reply.getNodesList())
                    .extracting(NodeStatus::getNode)
                    .containsExactly("n1", "n2", "n3");
                assertThat(reply.getNodesList()).allMatch(NodeStatus::getReachable);
                assertThat(node(reply, "n1").getGpus(0).getJobs(0).getJobId()).isEqualTo("100");
                assertThat(node(reply, "n2").getGpus(0).getUuid()).isEqualTo("GPU-2");
                assertThat(node(reply, "n3").getObserver()).isTrue();
                assertThat(node(reply, "n3").getGpusCount()).isZero();
              });
    }
  }

  @Test
  @Order(2)
  void jobReportAggregatesPartsFromEveryNodeAndIsReadableAnywhere() {
    n1.views.publishJob(
        JobReport.newBuilder().setJobId("77").setGpuUuid("GPU-1").setGpuTimeUs(10).build(), false);
    n2.views.publishJob(
        JobReport.newBuilder().setJobId("77").setGpuUuid("GPU-2").setGpuTimeUs(20).build(), true);

    await()
        .atMost(Duration.ofSeconds(10))
        .ignoreExceptions()
        .untilAsserted(
            () -> {
              ReportReply reply =
                  n3.views.report("77", ASK).toCompletableFuture().get(5, TimeUnit.SECONDS);
              assertThat(reply.getReportsList())
                  .extracting(JobReport::getNode, JobReport::getGpuTimeUs)
                  .containsExactly(
                      org.assertj.core.groups.Tuple.tuple("n1", 10L),
                      org.assertj.core.groups.Tuple.tuple("n2", 20L));
              assertThat(reply.getReports(0).getEndedUnixMs()).isZero();
              assertThat(reply.getReports(1).getEndedUnixMs()).isPositive();
            });
  }

  @Test
  @Order(3)
  void unknownJobGivesAnEmptyReport() throws Exception {
    ReportReply reply = n2.views.report("no-such-job", Duration.ofSeconds(3))
        .toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(reply.getReportsCount()).isZero();
  }

  @Test
  @Order(4)
  void nodeThatStopsIsListedUnreachableAndRejoinsWhenItComesBack() throws Exception {
    int port = n2.port();
    n2.close();

    await()
        .atMost(Duration.ofSeconds(20))
        .ignoreExceptions()
        .untilAsserted(
            () -> {
              StatusReply reply = status(n1);
              assertThat(reply.getNodesList())
                  .extracting(NodeStatus::getNode)
                  .containsExactly("n1", "n2", "n3");
              assertThat(node(reply, "n2").getReachable()).isFalse();
              assertThat(node(reply, "n2").getGpus(0).getUuid()).isEqualTo("GPU-2");
              assertThat(node(reply, "n1").getReachable()).isTrue();
              assertThat(node(reply, "n3").getReachable()).isTrue();
            });

    n2 = ClusterTestNode.start(ClusterTestNode.settings("n2", port, List.of(n1.seed()), false));
    n2.views.publishNode(gpuNode("n2", "GPU-2b", "201"));

    await()
        .atMost(Duration.ofSeconds(25))
        .ignoreExceptions()
        .untilAsserted(
            () -> {
              StatusReply reply = status(n3);
              assertThat(reply.getNodesList()).allMatch(NodeStatus::getReachable);
              assertThat(node(reply, "n2").getGpus(0).getUuid()).isEqualTo("GPU-2b");
            });
  }

  @Test
  @Order(5)
  void crashedNodeIsListedUnreachableAndTheOthersKeepAnswering() throws Exception {
    n2.close();
    n2 = ClusterTestNode.start(
        ClusterTestNode.settings("n2", 0, List.of(n1.seed()), false),
        ClusterTestNode.CRASH_ON_TERMINATE);
    n2.views.publishNode(gpuNode("n2", "GPU-2c", "202"));
    await()
        .atMost(Duration.ofSeconds(25))
        .ignoreExceptions()
        .untilAsserted(
            () -> {
              StatusReply reply = status(n3);
              assertThat(reply.getNodesList()).allMatch(NodeStatus::getReachable);
              NodeView.Snapshot view =
                  ClusterSharding.get(n3.system)
                      .entityRefFor(NodeView.TypeKey, "n2")
                      .<NodeView.Snapshot>ask(NodeView.Get::new, ASK)
                      .toCompletableFuture()
                      .get(5, TimeUnit.SECONDS);
              assertThat(view.status().orElseThrow().getGpus(0).getUuid()).isEqualTo("GPU-2c");
            });

    n2.close(); // no leave: the others find out through the failure detector

    await()
        .atMost(Duration.ofSeconds(30))
        .ignoreExceptions()
        .untilAsserted(
            () -> {
              StatusReply reply = status(n3);
              assertThat(node(reply, "n2").getReachable()).isFalse();
              assertThat(node(reply, "n2").getGpus(0).getUuid()).isEqualTo("GPU-2c");
              assertThat(node(reply, "n1").getReachable()).isTrue();
              assertThat(node(reply, "n3").getReachable()).isTrue();
            });
    n2 = null;
  }
}
