package org.softmig.coordinator.cluster;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Props;
import akka.actor.typed.javadsl.AskPattern;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.ReportReply;
import org.softmig.proto.v1.StatusReply;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The coordinator's door to the cluster: it publishes this node's state and its jobs' usage into
 * the sharded views, and answers cluster-wide queries from any node. Thread-safe; every method
 * returns at once.
 *
 * <pre>{@code
 * ClusterSettings cs = ...;
 * ActorSystem<Void> system = ActorSystem.create(guardian, ClusterSettings.SYSTEM_NAME,
 *     cs.toAkkaConfig().withFallback(ConfigFactory.load()));
 * ClusterViews views = ClusterViews.start(system, cs);
 * views.publishNode(nodeStatus);                     // on every change
 * views.clusterStatus(Duration.ofSeconds(2))         // StatusReply over all nodes
 * }</pre>
 */
public final class ClusterViews {

  private static final Logger log = LoggerFactory.getLogger(ClusterViews.class);

  private final ActorSystem<?> system;
  private final ClusterSettings settings;
  private final ActorRef<NodePublisher.Command> publisher;
  private final ActorRef<ClusterStatusService.Command> statusService;
  /** Standalone only (no cluster): this node's last status and its jobs' parts. */
  private final StandaloneViews standalone;

  private ClusterViews(
      ActorSystem<?> system,
      ClusterSettings settings,
      ActorRef<NodePublisher.Command> publisher,
      ActorRef<ClusterStatusService.Command> statusService,
      StandaloneViews standalone) {
    this.system = system;
    this.settings = settings;
    this.publisher = publisher;
    this.statusService = statusService;
    this.standalone = standalone;
  }

  /**
   * The views of a node that stands alone (no seeds, no cluster port): no cluster membership, no
   * TCP port; {@code status --cluster} and job reports answer from this node's own state. The
   * actor system may be a local one.
   */
  public static ClusterViews standalone(ActorSystem<?> system, ClusterSettings settings) {
    Objects.requireNonNull(settings, "settings");
    log.info("Node [{}] stands alone: no cluster configured, no TCP port", settings.nodeName());
    return new ClusterViews(system, settings, null, null, new StandaloneViews(settings));
  }

  /** Whether this node is a cluster member (else it stands alone). */
  public boolean clustered() {
    return standalone == null;
  }

  /**
   * Starts the views on {@code system}, which must have been created with {@code
   * settings.toAkkaConfig()} and the name {@value ClusterSettings#SYSTEM_NAME}. Without seeds the
   * node forms a cluster of its own. Call once per actor system.
   */
  public static ClusterViews start(ActorSystem<?> system, ClusterSettings settings) {
    Objects.requireNonNull(settings, "settings");
    if (!"cluster".equals(system.settings().config().getString("akka.actor.provider"))) {
      throw new IllegalArgumentException(
          "the actor system is not a cluster member: create it with ClusterSettings.toAkkaConfig()");
    }
    if (!ClusterSettings.SYSTEM_NAME.equals(system.name())) {
      throw new IllegalArgumentException(
          "the actor system is named ["
              + system.name()
              + "], cluster members must be named ["
              + ClusterSettings.SYSTEM_NAME
              + "]");
    }
    NodeView.init(system);
    JobView.init(system);
    InboundConnectionSweeper.start(system, settings.limits());
    Cluster cluster = Cluster.get(system);
    if (settings.seeds().isEmpty()) {
      cluster.manager().tell(Join.create(cluster.selfMember().address()));
    }
    log.info(
        "Cluster node [{}] at [{}] roles {} seeds {}",
        settings.nodeName(),
        cluster.selfMember().address(),
        settings.roles(),
        settings.seeds());
    ActorRef<NodePublisher.Command> publisher =
        system.systemActorOf(
            NodePublisher.create(settings), NodePublisher.NAME, Props.empty());
    ActorRef<ClusterStatusService.Command> statusService =
        system.systemActorOf(
            ClusterStatusService.create(settings), "softmig-cluster-status", Props.empty());
    return new ClusterViews(system, settings, publisher, statusService, null);
  }

  public ClusterSettings settings() {
    return settings;
  }

  /**
   * Publishes this node's state; call on every change (bursts are coalesced). An empty node name
   * means this node.
   *
   * @throws IllegalArgumentException when the status names another node
   */
  public void publishNode(NodeStatus status) {
    Objects.requireNonNull(status, "status");
    if (!status.getNode().isEmpty() && !status.getNode().equals(settings.nodeName())) {
      throw new IllegalArgumentException(
          "status of node ["
              + status.getNode()
              + "] cannot be published by node ["
              + settings.nodeName()
              + "]");
    }
    NodeStatus own =
        status.toBuilder()
            .setNode(settings.nodeName())
            .setObserver(settings.observer() || status.getObserver())
            .build();
    if (standalone != null) {
      standalone.publishNode(own);
      return;
    }
    publisher.tell(new NodePublisher.Publish(own));
  }

  /**
   * Publishes this node's part of a job (one GPU); {@code ended}: the job is over here, and the
   * part is its final report. An empty node name means this node.
   *
   * @throws IllegalArgumentException when the part has no job id or names another node
   */
  public void publishJob(JobReport part, boolean ended) {
    Objects.requireNonNull(part, "part");
    if (part.getJobId().isEmpty()) {
      throw new IllegalArgumentException("job report has no job id");
    }
    if (!part.getNode().isEmpty() && !part.getNode().equals(settings.nodeName())) {
      throw new IllegalArgumentException(
          "a part of node ["
              + part.getNode()
              + "] cannot be published by node ["
              + settings.nodeName()
              + "]");
    }
    JobReport own = part.toBuilder().setNode(settings.nodeName()).build();
    if (standalone != null) {
      standalone.publishJob(own, ended, System.currentTimeMillis());
      return;
    }
    ClusterSharding.get(system)
        .entityRefFor(JobView.TypeKey, part.getJobId())
        .tell(new JobView.Update(own, ended, publisher));
  }

  /**
   * Every node this node has seen in the cluster, each given {@code timeout} to answer. Nodes that
   * do not answer in time, are unreachable, have left, or stopped reporting are listed with
   * {@code reachable=false}, their last known state, and the reason as their health.
   */
  public CompletionStage<StatusReply> clusterStatus(Duration timeout) {
    if (standalone != null) {
      return CompletableFuture.completedFuture(standalone.status());
    }
    return AskPattern.ask(
        statusService,
        (ActorRef<StatusReply> replyTo) -> new ClusterStatusService.GetStatus(timeout, replyTo),
        timeout.plusSeconds(5),
        system.scheduler());
  }

  /**
   * The job's parts from every node it ran on; an empty reply when no node reported it. Fails
   * with a {@link TimeoutException} naming the job when its view does not answer in time.
   */
  public CompletionStage<ReportReply> report(String jobId, Duration timeout) {
    Objects.requireNonNull(jobId, "jobId");
    if (jobId.isEmpty()) {
      return CompletableFuture.failedFuture(new IllegalArgumentException("job id is empty"));
    }
    if (standalone != null) {
      return CompletableFuture.completedFuture(
          ReportReply.newBuilder()
              .addAllReports(standalone.report(jobId, System.currentTimeMillis()))
              .build());
    }
    return ClusterSharding.get(system)
        .entityRefFor(JobView.TypeKey, jobId)
        .<JobView.Parts>ask(JobView.Get::new, timeout)
        .handle(
            (parts, failure) -> {
              if (failure != null) {
                TimeoutException t =
                    new TimeoutException(
                        "no answer for job [" + jobId + "] within " + timeout.toMillis() + " ms");
                t.initCause(failure);
                throw new java.util.concurrent.CompletionException(t);
              }
              return ReportReply.newBuilder().addAllReports(parts.parts()).build();
            });
  }

  /** The members as membership sees them now, ordered by node name. */
  public List<ClusterMember> members() {
    if (standalone != null) {
      return List.of();
    }
    return ClusterMember.of(Cluster.get(system).state());
  }

  /** This node as membership sees it now. */
  public ClusterMember self() {
    requireCluster();
    return ClusterMember.of(Cluster.get(system).selfMember(), true);
  }

  /** This node's cluster address, {@code akka://softmig@host:port}; the port is the bound one. */
  public String selfAddress() {
    requireCluster();
    return Cluster.get(system).selfMember().address().toString();
  }

  /** Leaves the cluster gracefully; the actor system stops once the node is removed. */
  public void leave() {
    if (standalone != null) {
      return;
    }
    Cluster cluster = Cluster.get(system);
    cluster.manager().tell(akka.cluster.typed.Leave.create(cluster.selfMember().address()));
  }

  private void requireCluster() {
    if (standalone != null) {
      throw new IllegalStateException("node [" + settings.nodeName() + "] stands alone");
    }
  }
}
