package org.softmig.coordinator.cluster;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.StatusReply;

/**
 * One cluster status request: asks every target's NodeView at once, each with the same timeout,
 * then hands the assembled reply to the service and stops. A node that does not answer in time is
 * still listed (see {@link ClusterStatusAssembly}).
 */
final class StatusFanOut extends AbstractBehavior<StatusFanOut.Command> {

  sealed interface Command {}

  private record Answered(String node, Optional<NodeView.Snapshot> snapshot) implements Command {}

  private enum Timeout implements Command {
    INSTANCE
  }

  /** Slack after the per-node timeout before the request gives up on stragglers. */
  private static final Duration GRACE = Duration.ofMillis(500);

  static Behavior<Command> create(
      List<ClusterStatusAssembly.Target> targets,
      Map<String, NodeStatus> lastKnown,
      Duration staleAfter,
      Duration timeout,
      ActorRef<ClusterStatusService.Command> service,
      ActorRef<StatusReply> replyTo) {
    return Behaviors.setup(
        ctx -> {
          ClusterSharding sharding = ClusterSharding.get(ctx.getSystem());
          for (ClusterStatusAssembly.Target t : targets) {
            ctx.ask(
                NodeView.Snapshot.class,
                sharding.entityRefFor(NodeView.TypeKey, t.node()),
                timeout,
                NodeView.Get::new,
                (snapshot, failure) -> new Answered(t.node(), Optional.ofNullable(snapshot)));
          }
          ctx.setReceiveTimeout(timeout.plus(GRACE), Timeout.INSTANCE);
          StatusFanOut fanOut =
              new StatusFanOut(ctx, targets, lastKnown, staleAfter, timeout, service, replyTo);
          return targets.isEmpty() ? fanOut.finish() : fanOut;
        });
  }

  private final List<ClusterStatusAssembly.Target> targets;
  private final Map<String, NodeStatus> lastKnown;
  private final Duration staleAfter;
  private final Duration timeout;
  private final ActorRef<ClusterStatusService.Command> service;
  private final ActorRef<StatusReply> replyTo;
  private final Map<String, NodeView.Snapshot> answers = new HashMap<>();
  private int pending;

  private StatusFanOut(
      ActorContext<Command> context,
      List<ClusterStatusAssembly.Target> targets,
      Map<String, NodeStatus> lastKnown,
      Duration staleAfter,
      Duration timeout,
      ActorRef<ClusterStatusService.Command> service,
      ActorRef<StatusReply> replyTo) {
    super(context);
    this.targets = targets;
    this.lastKnown = lastKnown;
    this.staleAfter = staleAfter;
    this.timeout = timeout;
    this.service = service;
    this.replyTo = replyTo;
    this.pending = targets.size();
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Answered.class, this::onAnswered)
        .onMessageEquals(Timeout.INSTANCE, this::finish)
        .build();
  }

  private Behavior<Command> onAnswered(Answered answered) {
    answered.snapshot().ifPresent(s -> answers.put(answered.node(), s));
    pending--;
    return pending <= 0 ? finish() : this;
  }

  private Behavior<Command> finish() {
    StatusReply reply =
        ClusterStatusAssembly.assemble(targets, answers, lastKnown, staleAfter, timeout);
    Map<String, NodeStatus> seen = new HashMap<>();
    answers.forEach((node, s) -> s.status().ifPresent(status -> seen.put(node, status)));
    service.tell(new ClusterStatusService.FanOutDone(reply, seen, replyTo));
    return Behaviors.stopped();
  }
}
