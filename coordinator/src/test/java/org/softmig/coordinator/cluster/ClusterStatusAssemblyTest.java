package org.softmig.coordinator.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.softmig.coordinator.cluster.ClusterStatusAssembly.Membership;
import org.softmig.coordinator.cluster.ClusterStatusAssembly.Target;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.StatusReply;

class ClusterStatusAssemblyTest {

  private static final Duration STALE = Duration.ofSeconds(15);
  private static final Duration TIMEOUT = Duration.ofSeconds(2);

  private static NodeStatus status(String node, String gpu) {
    return NodeStatus.newBuilder()
        .setNode(node)
        .setHealth("ok")
        .setReachable(true)
        .addGpus(GpuStatus.newBuilder().setUuid(gpu).setMemoryTotalBytes(48L << 30))
        .build();
  }

  private static NodeView.Snapshot fresh(NodeStatus s) {
    return new NodeView.Snapshot(Optional.of(s), 1_000);
  }

  @Test
  void listsEveryTargetInNodeOrderWithItsReportedState() {
    StatusReply reply =
        ClusterStatusAssembly.assemble(
            List.of(new Target("n2", false, Membership.UP), new Target("n1", false, Membership.UP)),
            Map.of("n1", fresh(status("n1", "GPU-a")), "n2", fresh(status("n2", "GPU-b"))),
            Map.of(),
            STALE,
            TIMEOUT);

    assertThat(reply.getNodesList()).extracting(NodeStatus::getNode).containsExactly("n1", "n2");
    assertThat(reply.getNodesList()).allMatch(NodeStatus::getReachable);
    assertThat(reply.getNodes(1).getGpus(0).getUuid()).isEqualTo("GPU-b");
    assertThat(reply.getNodes(1).getHealth()).isEqualTo("ok");
  }

  @Test
  void nodeThatDidNotAnswerIsUnreachableWithItsLastKnownState() {
    StatusReply reply =
        ClusterStatusAssembly.assemble(
            List.of(new Target("n1", false, Membership.UP)),
            Map.of(),
            Map.of("n1", status("n1", "GPU-a")),
            STALE,
            TIMEOUT);

    NodeStatus n1 = reply.getNodes(0);
    assertThat(n1.getReachable()).isFalse();
    assertThat(n1.getGpus(0).getUuid()).isEqualTo("GPU-a");
    assertThat(n1.getHealth()).contains("no answer within 2000 ms");
  }

  @Test
  void nodeNeverSeenAndSilentIsStillListed() {
    StatusReply reply =
        ClusterStatusAssembly.assemble(
            List.of(new Target("n9", true, Membership.UP)), Map.of(), Map.of(), STALE, TIMEOUT);

    assertThat(reply.getNodesList()).hasSize(1);
    assertThat(reply.getNodes(0).getNode()).isEqualTo("n9");
    assertThat(reply.getNodes(0).getReachable()).isFalse();
    assertThat(reply.getNodes(0).getObserver()).isTrue();
  }

  @Test
  void membershipOverridesAnAnswerFromTheView() {
    Map<String, NodeView.Snapshot> answers =
        Map.of("n1", fresh(status("n1", "GPU-a")), "n2", fresh(status("n2", "GPU-b")));
    StatusReply reply =
        ClusterStatusAssembly.assemble(
            List.of(
                new Target("n1", false, Membership.UNREACHABLE),
                new Target("n2", false, Membership.LEFT)),
            answers,
            Map.of(),
            STALE,
            TIMEOUT);

    assertThat(reply.getNodesList()).noneMatch(NodeStatus::getReachable);
    assertThat(reply.getNodes(0).getGpusCount()).isEqualTo(1);
    assertThat(reply.getNodes(0).getHealth()).contains("unreachable");
    assertThat(reply.getNodes(1).getHealth()).contains("not a cluster member");
  }

  @Test
  void staleSnapshotMeansUnreachable() {
    NodeView.Snapshot old = new NodeView.Snapshot(Optional.of(status("n1", "GPU-a")), 15_001);
    NodeView.Snapshot recent = new NodeView.Snapshot(Optional.of(status("n2", "GPU-b")), 15_000);
    StatusReply reply =
        ClusterStatusAssembly.assemble(
            List.of(new Target("n1", false, Membership.UP), new Target("n2", false, Membership.UP)),
            Map.of("n1", old, "n2", recent),
            Map.of(),
            STALE,
            TIMEOUT);

    assertThat(reply.getNodes(0).getReachable()).isFalse();
    assertThat(reply.getNodes(0).getHealth()).contains("15001 ms ago");
    assertThat(reply.getNodes(1).getReachable()).isTrue();
  }

  @Test
  void viewWithoutAnySnapshotIsNotReachableYet() {
    StatusReply reply =
        ClusterStatusAssembly.assemble(
            List.of(new Target("n1", false, Membership.JOINING)),
            Map.of("n1", new NodeView.Snapshot(Optional.empty(), 0)),
            Map.of(),
            STALE,
            TIMEOUT);

    assertThat(reply.getNodes(0).getReachable()).isFalse();
    assertThat(reply.getNodes(0).getHealth()).isEqualTo("no report received yet");
  }

  @Test
  void bestMembershipWinsWhenARestartedNodeAppearsTwice() {
    List<ClusterMember> members =
        List.of(
            new ClusterMember("n1", "akka://softmig@h:1", "Up", false, false),
            new ClusterMember("n1", "akka://softmig@h:1", "Joining", true, false),
            new ClusterMember("n2", "akka://softmig@h:2", "Exiting", true, false),
            new ClusterMember("n3", "akka://softmig@h:3", "WeaklyUp", true, false));

    assertThat(ClusterStatusAssembly.membership(members, "n1")).isEqualTo(Membership.JOINING);
    assertThat(ClusterStatusAssembly.membership(members, "n2")).isEqualTo(Membership.LEFT);
    assertThat(ClusterStatusAssembly.membership(members, "n3")).isEqualTo(Membership.UP);
    assertThat(ClusterStatusAssembly.membership(members, "n4")).isEqualTo(Membership.LEFT);
    assertThat(ClusterStatusAssembly.liveAddress(members, "n1")).contains("akka://softmig@h:1");
    assertThat(ClusterStatusAssembly.liveAddress(members, "n2")).isEmpty();
  }
}
