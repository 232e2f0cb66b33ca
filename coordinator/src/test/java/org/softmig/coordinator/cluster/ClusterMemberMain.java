package org.softmig.coordinator.cluster;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.StatusReply;

/**
 * One cluster member as its own process, without the coordinator: for tests that start several
 * processes, kill one with SIGKILL and start it again. It publishes a node view with one
 * simulated GPU and prints the cluster status once a second, one line each:
 *
 * <pre>
 * status n1=up n2=down:not a cluster member n3=up
 * </pre>
 *
 * Usage: {@code ClusterMemberMain NODE PORT [SEED,SEED...] [observer]}, on 127.0.0.1.
 */
public final class ClusterMemberMain {

  private ClusterMemberMain() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: ClusterMemberMain NODE PORT [SEED,SEED...] [observer]");
      System.exit(2);
    }
    String node = args[0];
    int port = Integer.parseInt(args[1]);
    List<String> seeds =
        args.length > 2 && !args[2].isEmpty() ? Arrays.asList(args[2].split(",")) : List.of();
    boolean observer = args.length > 3 && args[3].equals("observer");
    ClusterSettings settings =
        ClusterSettings.of(node, "127.0.0.1", port, seeds, observer)
            .withIntervals(Duration.ofSeconds(1), Duration.ofSeconds(1));
    ActorSystem<Void> system =
        ActorSystem.create(
            Behaviors.empty(),
            ClusterSettings.SYSTEM_NAME,
            settings.toAkkaConfig().withFallback(ConfigFactory.load()));
    ClusterViews views = ClusterViews.start(system, settings);
    NodeStatus.Builder status = NodeStatus.newBuilder().setHealth("ok");
    if (!observer) {
      status.addGpus(GpuStatus.newBuilder().setUuid("GPU-" + node).setMemoryTotalBytes(48L << 30));
    }
    views.publishNode(status.build());
    System.out.println("started " + views.selfAddress());
    while (!system.getWhenTerminated().toCompletableFuture().isDone()) {
      try {
        StatusReply reply =
            views.clusterStatus(Duration.ofSeconds(1)).toCompletableFuture().get(10, TimeUnit.SECONDS);
        System.out.println(
            "status "
                + reply.getNodesList().stream()
                    .map(n -> n.getNode() + "=" + (n.getReachable() ? "up" : "down:" + n.getHealth()))
                    .collect(Collectors.joining(" ")));
      } catch (Exception e) {
        System.out.println("status failed: " + e);
      }
      Thread.sleep(1000);
    }
  }
}
