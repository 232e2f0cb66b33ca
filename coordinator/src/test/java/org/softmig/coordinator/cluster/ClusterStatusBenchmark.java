package org.softmig.coordinator.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.StatusReply;

/**
 * Latency of a cluster status query (fan-out to every NodeView, one reply) over N members in one
 * JVM, each publishing 4 GPUs with 2 jobs. Not a unit test; run it with
 *
 * <pre>
 * java -cp ... org.softmig.coordinator.cluster.ClusterStatusBenchmark [nodes] [queries]
 * </pre>
 *
 * (docs/CLUSTER.md has the full command). Queries go one after another, from each member in
 * turn.
 */
public final class ClusterStatusBenchmark {

  /**
   * Small members: each actor system gets two dispatcher threads. Failure detection is lenient,
   * so that sixteen members on one busy machine do not declare each other dead.
   */
  private static final String SMALL =
      String.join(
          "\n",
          "akka.cluster.failure-detector.heartbeat-interval = 1s",
          "akka.cluster.failure-detector.acceptable-heartbeat-pause = 10s",
          "akka.cluster.split-brain-resolver.stable-after = 30s",
          "akka.cluster.sharding.updating-state-timeout = 5s",
          "akka.cluster.sharding.waiting-for-state-timeout = 5s",
          "akka.actor.default-dispatcher.fork-join-executor.parallelism-min = 2",
          "akka.actor.default-dispatcher.fork-join-executor.parallelism-max = 2",
          "akka.actor.internal-dispatcher.fork-join-executor.parallelism-min = 2",
          "akka.actor.internal-dispatcher.fork-join-executor.parallelism-max = 2",
          "akka.remote.default-remote-dispatcher.fork-join-executor.parallelism-min = 2",
          "akka.remote.default-remote-dispatcher.fork-join-executor.parallelism-max = 2",
          "");

  private ClusterStatusBenchmark() {}

  public static void main(String[] args) throws Exception {
    int nodes = args.length > 0 ? Integer.parseInt(args[0]) : 16;
    int queries = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
    Duration perNode = Duration.ofSeconds(1);
    Duration push = Duration.ofSeconds(2);

    List<ClusterTestNode> members = new ArrayList<>();
    try {
      long startNanos = System.nanoTime();
      ClusterTestNode first =
          ClusterTestNode.start(
              ClusterTestNode.settings("node00", 0, List.of(), false).withIntervals(push, perNode),
              SMALL);
      members.add(first);
      for (int i = 1; i < nodes; i++) {
        String name = String.format("node%02d", i);
        members.add(
            ClusterTestNode.start(
                ClusterTestNode.settings(name, 0, List.of(first.seed()), false)
                    .withIntervals(push, perNode),
                SMALL));
      }
      for (int i = 0; i < nodes; i++) {
        members.get(i).views.publishNode(node(i));
      }
      try {
        first.awaitMembersUp(nodes, Duration.ofSeconds(180));
      } catch (RuntimeException e) {
        first.views.members().forEach(System.out::println);
        throw e;
      }
      awaitAllReachable(first, nodes, perNode);
      System.out.printf(
          "%d members up and reporting after %d ms%n",
          nodes, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));

      for (int i = 0; i < 200; i++) { // warm-up: every member's fan-out and sharding caches
        query(members.get(i % nodes), perNode);
      }
      Histogram micros = new Histogram(TimeUnit.SECONDS.toMicros(10), 3);
      int unreachable = 0;
      for (int i = 0; i < queries; i++) {
        long t0 = System.nanoTime();
        StatusReply reply = query(members.get(i % nodes), perNode);
        micros.recordValue(TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0));
        if (reply.getNodesCount() != nodes
            || reply.getNodesList().stream().anyMatch(n -> !n.getReachable())) {
          unreachable++;
        }
      }
      System.out.printf(
          "clusterStatus over %d nodes, %d queries: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms,"
              + " max %.2f ms; replies missing a node or with one unreachable: %d%n",
          nodes,
          queries,
          micros.getValueAtPercentile(50) / 1000.0,
          micros.getValueAtPercentile(90) / 1000.0,
          micros.getValueAtPercentile(99) / 1000.0,
          micros.getMaxValue() / 1000.0,
          unreachable);
    } finally {
      ClusterTestNode.closeAll(members);
    }
  }

  private static StatusReply query(ClusterTestNode from, Duration perNode) throws Exception {
    return from.views.clusterStatus(perNode).toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  private static void awaitAllReachable(ClusterTestNode from, int nodes, Duration perNode)
      throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (System.nanoTime() < deadline) {
      StatusReply reply = query(from, perNode);
      if (reply.getNodesCount() == nodes
          && reply.getNodesList().stream().allMatch(NodeStatus::getReachable)) {
        return;
      }
      Thread.sleep(200);
    }
    throw new IllegalStateException("the members did not all report within 120 s");
  }

  private static NodeStatus node(int i) {
    NodeStatus.Builder b = NodeStatus.newBuilder().setHealth("ok");
    for (int g = 0; g < 4; g++) {
      GpuStatus.Builder gpu =
          GpuStatus.newBuilder()
              .setUuid(String.format("GPU-%02d-%d", i, g))
              .setIndex(g)
              .setName("NVIDIA H100 80GB HBM3")
              .setMemoryTotalBytes(80L << 30);
      for (int j = 0; j < 2; j++) {
        gpu.addJobs(
            JobStatus.newBuilder()
                .setJobId(String.valueOf(1000 + i * 10 + g * 2 + j))
                .setUser("user" + j)
                .setMemoryUsedBytes(10L << 30)
                .setMemoryLimitBytes(40L << 30)
                .setSmLimitPercent(50)
                .setSmSharePercent(49.5)
                .addProcesses(4000 + j));
      }
      b.addGpus(gpu);
    }
    return b.build();
  }
}
