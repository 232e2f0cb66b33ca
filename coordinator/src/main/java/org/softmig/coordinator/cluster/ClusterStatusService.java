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
import java.util.Optional;
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
  /** The members, and the nodes that left until they are forgotten. */
  private final RememberedNodes seen;

  private final Map<String, NodeStatus> lastKnown = new HashMap<>();

  private ClusterStatusService(ActorContext<Command> context, ClusterSettings settings) {
    super(context);
    this.settings = settings;
    this.seen =
        new RememberedNodes(settings.limits().forgetAfter(), settings.limits().maxRemembered());
    seen.member(settings.nodeName(), settings.observer());
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
              if (event instanceof ClusterEvent.MemberRemoved) {
                if (Senders.holderOf(Cluster.get(getContext().getSystem()), node).isEmpty()) {
                  seen.departed(node, System.currentTimeMillis());
                }
                return;
              }
              if (!seen.nodes().containsKey(node)) {
                getContext().getLog().info("Cluster node [{}] seen", node);
              }
              seen.member(node, event.member().hasRole(ClusterSettings.ROLE_OBSERVER));
            });
    seen.prune(System.currentTimeMillis()).forEach(lastKnown::remove);
    return this;
  }

  private Behavior<Command> onGetStatus(GetStatus request) {
    List<ClusterMember> members = ClusterMember.of(Cluster.get(getContext().getSystem()).state());
    seen.prune(System.currentTimeMillis()).forEach(lastKnown::remove);
    List<ClusterStatusAssembly.Target> targets = new ArrayList<>();
    Cluster cluster = Cluster.get(getContext().getSystem());
    seen.nodes().forEach(
        (node, observer) -> {
          // of several members claiming one name, only the one holding it speaks for it
          Optional<String> holder = Senders.holderOf(cluster, node).map(Object::toString);
          List<ClusterMember> own =
              members.stream()
                  .filter(m -> !m.node().equals(node) || holder.map(m.address()::equals).orElse(true))
                  .toList();
          targets.add(
              new ClusterStatusAssembly.Target(
                  node,
                  observer,
                  ClusterStatusAssembly.membership(own, node),
                  ClusterStatusAssembly.liveAddress(own, node)));
        });
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
    done.answered()
        .forEach(
            (node, status) -> {
              if (seen.nodes().containsKey(node)) {
                lastKnown.put(node, status);
              }
            });
    done.replyTo().tell(done.reply());
    return this;
  }
}
