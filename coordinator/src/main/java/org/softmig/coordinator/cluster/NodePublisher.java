package org.softmig.coordinator.cluster;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.actor.typed.javadsl.TimerScheduler;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.EntityRef;
import java.time.Duration;
import java.util.Optional;
import org.softmig.proto.v1.NodeStatus;

/**
 * Feeds this node's NodeView: pushes each new state (at most one push per {@link #MIN_GAP}, the
 * latest state wins) and re-pushes the latest every push interval, so readers can tell a live
 * node from a silent one. Each push stamps {@code updated_unix_ms} with the time it was sent.
 */
public final class NodePublisher extends AbstractBehavior<NodePublisher.Command> {

  public sealed interface Command {}

  /** Where every member runs its publisher. */
  static final String NAME = "softmig-node-publisher";

  /** The publisher of the member at {@code address} ({@code akka://softmig@host:port}). */
  static String pathAt(String address) {
    return address + "/system/" + NAME;
  }

  record Publish(NodeStatus status) implements Command {}

  /**
   * Asked by other members' status queries, straight to this node: a live node answers even
   * while the member hosting its NodeView is gone.
   */
  public record GetLatest(ActorRef<NodeView.Snapshot> replyTo) implements Command, ClusterMessage {}

  private enum Tick implements Command {
    INSTANCE
  }

  private enum Flush implements Command {
    INSTANCE
  }

  /** Bursts of changes are coalesced into one push per this interval. */
  static final Duration MIN_GAP = Duration.ofMillis(100);

  static Behavior<Command> create(ClusterSettings settings) {
    return Behaviors.setup(
        ctx ->
            Behaviors.withTimers(
                timers -> {
                  timers.startTimerWithFixedDelay(Tick.INSTANCE, settings.pushInterval());
                  NodePublisher publisher = new NodePublisher(ctx, timers, settings);
                  publisher.push();
                  return publisher;
                }));
  }

  private final TimerScheduler<Command> timers;
  private final EntityRef<NodeView.Command> view;
  private NodeStatus latest;
  private long lastPushNanos;
  private boolean flushPending;

  private NodePublisher(
      ActorContext<Command> context, TimerScheduler<Command> timers, ClusterSettings settings) {
    super(context);
    this.timers = timers;
    this.view =
        ClusterSharding.get(context.getSystem()).entityRefFor(NodeView.TypeKey, settings.nodeName());
    this.latest =
        NodeStatus.newBuilder()
            .setNode(settings.nodeName())
            .setObserver(settings.observer())
            .setHealth(settings.observer() ? "ok" : "starting")
            .build();
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Publish.class, this::onPublish)
        .onMessage(GetLatest.class, this::onGetLatest)
        .onMessageEquals(Tick.INSTANCE, this::onTick)
        .onMessageEquals(Flush.INSTANCE, this::onFlush)
        .build();
  }

  private Behavior<Command> onPublish(Publish publish) {
    latest = publish.status();
    long sinceLast = System.nanoTime() - lastPushNanos;
    if (sinceLast >= MIN_GAP.toNanos()) {
      push();
    } else if (!flushPending) {
      flushPending = true;
      timers.startSingleTimer(Flush.INSTANCE, MIN_GAP.minusNanos(sinceLast));
    }
    return this;
  }

  private Behavior<Command> onGetLatest(GetLatest get) {
    get.replyTo().tell(new NodeView.Snapshot(Optional.of(stamped()), 0));
    return this;
  }

  private Behavior<Command> onFlush() {
    flushPending = false;
    push();
    return this;
  }

  private Behavior<Command> onTick() {
    push();
    return this;
  }

  private void push() {
    lastPushNanos = System.nanoTime();
    view.tell(new NodeView.Update(stamped(), getContext().getSelf()));
  }

  private NodeStatus stamped() {
    return latest.toBuilder().setReachable(true).setUpdatedUnixMs(System.currentTimeMillis()).build();
  }
}
