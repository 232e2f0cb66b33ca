package org.softmig.coordinator.cluster;

import static org.awaitility.Awaitility.await;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import ch.qos.logback.classic.Level;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;

/** One cluster member inside the test JVM, with short timings. */
final class ClusterTestNode implements AutoCloseable {

  static final Duration PUSH = Duration.ofMillis(500);
  static final Duration QUERY = Duration.ofSeconds(1);

  /** Fast gossip and failure detection so that tests take seconds, not minutes. */
  static final String FAST =
      String.join(
          "\n",
          "akka.loglevel = WARNING",
          "akka.cluster.jmx.multi-mbeans-in-same-jvm = on",
          "akka.coordinated-shutdown.run-by-jvm-shutdown-hook = off",
          "akka.cluster.gossip-interval = 200ms",
          "akka.cluster.leader-actions-interval = 200ms",
          "akka.cluster.unreachable-nodes-reaper-interval = 200ms",
          "akka.cluster.failure-detector.heartbeat-interval = 200ms",
          "akka.cluster.failure-detector.acceptable-heartbeat-pause = 2s",
          "akka.cluster.split-brain-resolver.stable-after = 2s",
          "akka.cluster.seed-node-timeout = 1s",
          "akka.cluster.retry-unsuccessful-join-after = 1s",
          "akka.cluster.sharding.retry-interval = 200ms",
          "akka.remote.artery.advanced.outbound-restart-backoff = 200ms",
          "akka.remote.artery.advanced.inbound-restart-with-backoff = 200ms",
          "");

  static {
    ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME))
        .setLevel(Level.WARN);
  }

  final ActorSystem<Void> system;
  final ClusterViews views;

  private ClusterTestNode(ActorSystem<Void> system, ClusterViews views) {
    this.system = system;
    this.views = views;
  }

  static ClusterSettings settings(String node, int port, List<String> seeds, boolean observer) {
    return ClusterSettings.of(node, "127.0.0.1", port, seeds, observer).withIntervals(PUSH, QUERY);
  }

  static ClusterTestNode start(ClusterSettings settings) {
    return start(settings, "");
  }

  /**
   * Terminating a node started with this config does not leave the cluster first: to the others
   * it looks like a crash.
   */
  static final String CRASH_ON_TERMINATE =
      "akka.coordinated-shutdown.run-by-actor-system-terminate = off";

  static ClusterTestNode start(ClusterSettings settings, String extraConfig) {
    Config config =
        ConfigFactory.parseString(extraConfig)
            .withFallback(ConfigFactory.parseString(FAST))
            .withFallback(settings.toAkkaConfig())
            .withFallback(ConfigFactory.load());
    ActorSystem<Void> system =
        ActorSystem.create(Behaviors.empty(), ClusterSettings.SYSTEM_NAME, config);
    return new ClusterTestNode(system, ClusterViews.start(system, settings));
  }

  /** {@code 127.0.0.1:port}, for other nodes' seed lists. */
  String seed() {
    return "127.0.0.1:" + port();
  }

  int port() {
    return system.address().getPort().get();
  }

  void awaitMembersUp(int count) {
    awaitMembersUp(count, Duration.ofSeconds(30));
  }

  void awaitMembersUp(int count, Duration atMost) {
    await()
        .atMost(atMost)
        .until(() -> views.members().stream().filter(ClusterMember::isUp).count() == count);
  }

  @Override
  public void close() {
    closeAll(List.of(this));
  }

  /** Stops the nodes at the same time and waits for all of them; null entries are skipped. */
  static void closeAll(List<ClusterTestNode> nodes) {
    nodes.stream().filter(Objects::nonNull).forEach(n -> n.system.terminate());
    for (ClusterTestNode n : nodes) {
      if (n == null) {
        continue;
      }
      try {
        n.system.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        // a member that never joined can take long to give up on a busy machine; the JVM ends
        // with the test run, so the test's result does not depend on it
        System.err.println("actor system at " + n.system.address() + " still stopping after 60 s");
      } catch (Exception e) {
        throw new IllegalStateException("actor system did not stop", e);
      }
    }
  }
}
