package org.softmig.coordinator.cluster;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.cluster.ClusterEvent;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Subscribe;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.StatusReply;

/**
 * Answers cluster status requests on this node. It remembers every node it has seen in
 * membership (so a node that left or died is still listed) and the last state each node
 * reported, and spawns one {@link StatusFanOut} per request.
 */
public final class ClusterStatusService extends AbstractBehavior<ClusterStatusService.Command> {

  public sealed interface Command {}

  /** Ask every known node; each gets {@code timeout} to answer. */
  public record GetStatus(Duration timeout, ActorRef<StatusReply> replyTo) implements Command {}

  record FanOutDone(
      StatusReply reply, Map<String, NodeStatus> answered, ActorRef<StatusReply> replyTo)
      implements Command {}

  private record MemberChanged(ClusterEvent.MemberEvent event) implements Command {}

  static Behavior<Command> create(ClusterSettings settings) {
    return Behaviors.setup(
        ctx -> {
          Cluster.get(ctx.getSystem())
              .subscriptions()
              .tell(
                  Subscribe.create(
                      ctx.messageAdapter(ClusterEvent.MemberEvent.class, MemberChanged::new),
                      ClusterEvent.MemberEvent.class));
          return new ClusterStatusService(ctx, settings);
        });
  }

  private final ClusterSettings settings;
  /** Every node seen in membership, with its observer flag. */
  private final Map<String, Boolean> seen = new TreeMap<>();

  private final Map<String, NodeStatus> lastKnown = new HashMap<>();

  private ClusterStatusService(ActorContext<Command> context, ClusterSettings settings) {
    super(context);
    this.settings = settings;
    seen.put(settings.nodeName(), settings.observer());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(GetStatus.class, this::onGetStatus)
        .onMessage(FanOutDone.class, this::onFanOutDone)
        .onMessage(MemberChanged.class, this::onMemberChanged)
        .build();
  }

  private Behavior<Command> onMemberChanged(MemberChanged changed) {
    ClusterEvent.MemberEvent event = changed.event();
    ClusterMember.nodeName(event.member())
        .ifPresent(
            node -> {
              if (!seen.containsKey(node)) {
                getContext().getLog().info("Cluster node [{}] seen", node);
              }
              seen.put(node, event.member().hasRole(ClusterSettings.ROLE_OBSERVER));
            });
    return this;
  }

  private Behavior<Command> onGetStatus(GetStatus request) {
    List<ClusterMember> members = ClusterMember.of(Cluster.get(getContext().getSystem()).state());
    List<ClusterStatusAssembly.Target> targets = new ArrayList<>();
    seen.forEach(
        (node, observer) ->
            targets.add(
                new ClusterStatusAssembly.Target(
                    node,
                    observer,
                    ClusterStatusAssembly.membership(members, node),
                    ClusterStatusAssembly.liveAddress(members, node))));
    getContext().getLog().debug("Cluster status over [{}] nodes", targets.size());
    getContext()
        .spawnAnonymous(
            StatusFanOut.create(
                List.copyOf(targets),
                Map.copyOf(lastKnown),
                settings.staleAfter(),
                request.timeout(),
                getContext().getSelf(),
                request.replyTo()));
    return this;
  }

  private Behavior<Command> onFanOutDone(FanOutDone done) {
    lastKnown.putAll(done.answered());
    done.replyTo().tell(done.reply());
    return this;
  }
}
