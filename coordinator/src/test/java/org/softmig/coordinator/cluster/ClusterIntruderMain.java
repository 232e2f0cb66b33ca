package org.softmig.coordinator.cluster;

import akka.actor.AddressFromURIString;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Down;
import com.typesafe.config.ConfigFactory;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.softmig.coordinator.config.ClusterOptions;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;

/**
 * A hostile cluster member as its own process, for the cluster tests: it joins (with the site's
 * certificate, or with none), publishes its own node, and forges what another member would:
 * the view of node {@code VIEW_VICTIM} (a GPU {@code GPU-FORGED} with a job), a view of a node
 * that does not exist ({@code ghost}), and a part of job {@code JOB} on node {@code JOB_NODE}
 * (GPU {@code GPU-FORGED}); every 500 ms, through the cluster's own messages. It reads commands
 * from stdin: {@code down ADDRESS} sends Akka's {@code Down} for that member.
 *
 * <p>Usage: {@code ClusterIntruderMain NAME PORT SEED TLS_CONF|none VIEW_VICTIM JOB_NODE JOB},
 * on 127.0.0.1.
 */
public final class ClusterIntruderMain {

  private ClusterIntruderMain() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 7) {
      System.err.println(
          "usage: ClusterIntruderMain NAME PORT SEED TLS_CONF|none VIEW_VICTIM JOB_NODE JOB");
      System.exit(2);
    }
    String name = args[0];
    String victim = args[4];
    String jobNode = args[5];
    String job = args[6];
    ClusterSettings settings =
        ClusterSettings.of(name, "127.0.0.1", Integer.parseInt(args[1]), List.of(args[2]), false)
            .withIntervals(Duration.ofSeconds(1), Duration.ofSeconds(1));
    if (!args[3].equals("none")) {
      settings = settings.withTls(ClusterOptions.load(Path.of(args[3])).tls().orElseThrow());
    }
    ActorSystem<Void> system =
        ActorSystem.create(
            Behaviors.empty(),
            ClusterSettings.SYSTEM_NAME,
            settings.toAkkaConfig().withFallback(ConfigFactory.load()));
    ClusterViews views = ClusterViews.start(system, settings);
    views.publishNode(
        NodeStatus.newBuilder()
            .setHealth("ok")
            .addGpus(GpuStatus.newBuilder().setUuid("GPU-" + name).setMemoryTotalBytes(1L << 30))
            .build());
    ActorRef<NodePublisher.Command> ownPublisher =
        ActorRefResolver.get(system).resolveActorRef(NodePublisher.pathAt(views.selfAddress()));
    NodeStatus forged =
        NodeStatus.newBuilder()
            .setNode(victim)
            .setHealth("ok")
            .setReachable(true)
            .addGpus(
                GpuStatus.newBuilder()
                    .setUuid("GPU-FORGED")
                    .setMemoryTotalBytes(80L << 30)
                    .addJobs(JobStatus.newBuilder().setJobId("forged-job").setUser("mallory")))
            .build();
    JobReport forgedPart =
        JobReport.newBuilder().setJobId(job).setNode(jobNode).setGpuUuid("GPU-FORGED").build();
    ClusterSharding sharding = ClusterSharding.get(system);
    system
        .scheduler()
        .scheduleWithFixedDelay(
            Duration.ofSeconds(1),
            Duration.ofMillis(500),
            () -> {
              long now = System.currentTimeMillis();
              sharding
                  .entityRefFor(NodeView.TypeKey, victim)
                  .tell(new NodeView.Update(forged.toBuilder().setUpdatedUnixMs(now).build(), ownPublisher));
              sharding
                  .entityRefFor(NodeView.TypeKey, "ghost")
                  .tell(
                      new NodeView.Update(
                          forged.toBuilder().setNode("ghost").setUpdatedUnixMs(now).build(),
                          ownPublisher));
              sharding
                  .entityRefFor(JobView.TypeKey, job)
                  .tell(new JobView.Update(forgedPart, true, ownPublisher));
            },
            system.executionContext());
    System.out.println("started " + views.selfAddress());
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.startsWith("down ")) {
        Cluster.get(system)
            .manager()
            .tell(new Down(AddressFromURIString.parse(line.substring(5).trim())));
        System.out.println("sent down " + line.substring(5).trim());
      }
    }
    system.terminate();
  }
}
