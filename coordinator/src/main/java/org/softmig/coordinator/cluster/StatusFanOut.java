package org.softmig.coordinator.cluster;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
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
 * One cluster status request: asks every target's NodeView, and every live member's own
 * publisher, all at once with the same timeout, then hands the assembled reply to the service and
 * stops. The member's own answer wins over its view's (it is fresher, and it comes even while the
 * member hosting the view is gone); the view keeps the last state of a node that is gone. A node
 * that does not answer in time is still listed (see {@link ClusterStatusAssembly}).
 */
final class StatusFanOut extends AbstractBehavior<StatusFanOut.Command> {

  sealed interface Command {}

  private record Answered(String node, boolean direct, Optional<NodeView.Snapshot> snapshot)
      implements Command {}

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
          ActorRefResolver resolver = ActorRefResolver.get(ctx.getSystem());
          int asks = 0;
          for (ClusterStatusAssembly.Target t : targets) {
            ctx.ask(
                NodeView.Snapshot.class,
                sharding.entityRefFor(NodeView.TypeKey, t.node()),
                timeout,
                NodeView.Get::new,
                (snapshot, failure) -> new Answered(t.node(), false, Optional.ofNullable(snapshot)));
            asks++;
            if (t.address().isPresent()) {
              ActorRef<NodePublisher.Command> publisher =
                  resolver.resolveActorRef(NodePublisher.pathAt(t.address().get()));
              ctx.ask(
                  NodeView.Snapshot.class,
                  publisher,
                  timeout,
                  NodePublisher.GetLatest::new,
                  (snapshot, failure) -> new Answered(t.node(), true, Optional.ofNullable(snapshot)));
              asks++;
            }
          }
          ctx.setReceiveTimeout(timeout.plus(GRACE), Timeout.INSTANCE);
          StatusFanOut fanOut =
              new StatusFanOut(
                  ctx, targets, lastKnown, staleAfter, timeout, service, replyTo, asks);
          return targets.isEmpty() ? fanOut.finish() : fanOut;
        });
  }

  private final List<ClusterStatusAssembly.Target> targets;
  private final Map<String, NodeStatus> lastKnown;
  private final Duration staleAfter;
  private final Duration timeout;
  private final ActorRef<ClusterStatusService.Command> service;
  private final ActorRef<StatusReply> replyTo;
  private final Map<String, NodeView.Snapshot> viewAnswers = new HashMap<>();
  private final Map<String, NodeView.Snapshot> directAnswers = new HashMap<>();
  private int pending;

  private StatusFanOut(
      ActorContext<Command> context,
      List<ClusterStatusAssembly.Target> targets,
      Map<String, NodeStatus> lastKnown,
      Duration staleAfter,
      Duration timeout,
      ActorRef<ClusterStatusService.Command> service,
      ActorRef<StatusReply> replyTo,
      int asks) {
    super(context);
    this.targets = targets;
    this.lastKnown = lastKnown;
    this.staleAfter = staleAfter;
    this.timeout = timeout;
    this.service = service;
    this.replyTo = replyTo;
    this.pending = asks;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Answered.class, this::onAnswered)
        .onMessageEquals(Timeout.INSTANCE, this::finish)
        .build();
  }

  private Behavior<Command> onAnswered(Answered answered) {
    answered
        .snapshot()
        // a node speaks for itself only: an answer about another node is dropped
        .filter(s -> s.status().map(st -> st.getNode().equals(answered.node())).orElse(true))
        .ifPresent(
            s -> (answered.direct() ? directAnswers : viewAnswers).put(answered.node(), s));
    pending--;
    return pending <= 0 ? finish() : this;
  }

  private Behavior<Command> finish() {
    Map<String, NodeView.Snapshot> answers = new HashMap<>(viewAnswers);
    directAnswers.forEach(
        (node, s) -> {
          if (s.status().isPresent()) {
            answers.put(node, s);
          }
        });
    StatusReply reply =
        ClusterStatusAssembly.assemble(targets, answers, lastKnown, staleAfter, timeout);
    Map<String, NodeStatus> seen = new HashMap<>();
    answers.forEach((node, s) -> s.status().ifPresent(status -> seen.put(node, status)));
    service.tell(new ClusterStatusService.FanOutDone(reply, seen, replyTo));
    return Behaviors.stopped();
  }
}
