package org.softmig.coordinator.cluster;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.Entity;
import akka.cluster.sharding.typed.javadsl.EntityTypeKey;
import akka.cluster.typed.Cluster;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.softmig.proto.v1.NodeStatus;

/**
 * The latest snapshot of one node (its GPUs, jobs, memory, shares, unmanaged processes, health),
 * sharded by node name so any member can read it. The node's own coordinator pushes it on every
 * change and at least every push interval; the entity remembers when it last heard, so a reader
 * can tell a live node from a silent one without comparing clocks across machines.
 */
public final class NodeView extends AbstractBehavior<NodeView.Command> {

  public sealed interface Command {}

  /**
   * The node's coordinator pushes its current state. Taken only when {@code from} is the
   * publisher of the member that holds this view's node name, and the status names that node.
   */
  public record Update(NodeStatus status, ActorRef<NodePublisher.Command> from)
      implements Command, ClusterMessage {
    public Update {
      Objects.requireNonNull(status, "status");
      Objects.requireNonNull(from, "from");
    }
  }

  public record Get(ActorRef<Snapshot> replyTo) implements Command, ClusterMessage {}

  /** The shard's stop message after passivation. */
  public enum Stop implements Command {
    INSTANCE
  }

  private enum Idle implements Command {
    INSTANCE
  }

  /**
   * The entity's answer.
   *
   * @param status empty when the node never reported
   * @param ageMillis how long ago the snapshot arrived, by the entity's own clock
   */
  public record Snapshot(Optional<NodeStatus> status, long ageMillis) implements ClusterMessage {
    public Snapshot {
      Objects.requireNonNull(status, "status");
    }
  }

  public static final EntityTypeKey<Command> TypeKey =
      EntityTypeKey.create(Command.class, "NodeView");

  /** A node that has been silent this long is forgotten (its entity stops). */
  public static final Duration IDLE_TIMEOUT = Duration.ofHours(1);

  public static void init(ActorSystem<?> system) {
    ClusterSharding.get(system)
        .init(
            Entity.of(TypeKey, ctx -> create(ctx.getEntityId(), ctx.getShard(), IDLE_TIMEOUT))
                .withStopMessage(Stop.INSTANCE));
  }

  static Behavior<Command> create(
      String node, ActorRef<ClusterSharding.ShardCommand> shard, Duration idleTimeout) {
    return Behaviors.setup(
        ctx -> {
          ctx.setReceiveTimeout(idleTimeout, Idle.INSTANCE);
          return new NodeView(ctx, node, shard);
        });
  }

  private final String node;
  private final ActorRef<ClusterSharding.ShardCommand> shard;
  private final Cluster cluster;
  private Optional<NodeStatus> latest = Optional.empty();
  private long receivedNanos;
  private long refused;

  private NodeView(
      ActorContext<Command> context, String node, ActorRef<ClusterSharding.ShardCommand> shard) {
    super(context);
    this.node = node;
    this.shard = shard;
    this.cluster = Cluster.get(context.getSystem());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Update.class, this::onUpdate)
        .onMessage(Get.class, this::onGet)
        .onMessageEquals(Idle.INSTANCE, this::onIdle)
        .onMessageEquals(Stop.INSTANCE, Behaviors::stopped)
        .build();
  }

  private Behavior<Command> onUpdate(Update update) {
    if (!update.status().getNode().equals(node)
        || !Senders.isPublisherOf(cluster, update.from(), node)) {
      if (refused++ % 1000 == 0) {
        getContext()
            .getLog()
            .warn(
                "View of node [{}]: refused an update from [{}] ({} so far): only the member"
                    + " holding that name may publish it",
                node,
                update.from().path(),
                refused);
      }
      return this;
    }
    latest = Optional.of(update.status());
    receivedNanos = System.nanoTime();
    return this;
  }

  private Behavior<Command> onGet(Get get) {
    long age =
        latest.isPresent()
            ? TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - receivedNanos)
            : 0;
    get.replyTo().tell(new Snapshot(latest, age));
    return this;
  }

  private Behavior<Command> onIdle() {
    shard.tell(new ClusterSharding.Passivate<>(getContext().getSelf()));
    return this;
  }
}
