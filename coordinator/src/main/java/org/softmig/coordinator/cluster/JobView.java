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
import java.util.List;
import java.util.Objects;
import org.softmig.proto.v1.JobReport;

/**
 * One job's usage across every node and GPU it ran on, sharded by job id. Each node pushes its
 * part while the job runs and once more when it ends; the final parts stay readable after the
 * job is gone (until the entity has been idle for {@link #RETENTION}).
 */
public final class JobView extends AbstractBehavior<JobView.Command> {

  public sealed interface Command {}

  /**
   * One node's part of the job (one GPU); {@code ended}: the job is over on that node. Taken only
   * when {@code from} is the publisher of the member that holds the part's node name.
   */
  public record Update(JobReport part, boolean ended, ActorRef<NodePublisher.Command> from)
      implements Command, ClusterMessage {
    public Update {
      Objects.requireNonNull(part, "part");
      Objects.requireNonNull(from, "from");
    }
  }

  public record Get(ActorRef<Parts> replyTo) implements Command, ClusterMessage {}

  public enum Stop implements Command {
    INSTANCE
  }

  private enum Idle implements Command {
    INSTANCE
  }

  /** Every part known, ordered by node and GPU; empty when no node ever reported the job. */
  public record Parts(List<JobReport> parts) implements ClusterMessage {
    public Parts {
      parts = List.copyOf(parts);
    }
  }

  public static final EntityTypeKey<Command> TypeKey =
      EntityTypeKey.create(Command.class, "JobView");

  /** How long a job's report stays after its last update. */
  public static final Duration RETENTION = Duration.ofHours(24);

  public static void init(ActorSystem<?> system) {
    ClusterSharding.get(system)
        .init(
            Entity.of(TypeKey, ctx -> create(ctx.getShard(), RETENTION))
                .withStopMessage(Stop.INSTANCE));
  }

  static Behavior<Command> create(ActorRef<ClusterSharding.ShardCommand> shard, Duration idle) {
    return Behaviors.setup(
        ctx -> {
          ctx.setReceiveTimeout(idle, Idle.INSTANCE);
          return new JobView(ctx, shard);
        });
  }

  private final ActorRef<ClusterSharding.ShardCommand> shard;
  private final Cluster cluster;
  private final JobParts parts = new JobParts();
  private long refused;

  private JobView(ActorContext<Command> context, ActorRef<ClusterSharding.ShardCommand> shard) {
    super(context);
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
    if (!Senders.isPublisherOf(cluster, update.from(), update.part().getNode())) {
      if (refused++ % 1000 == 0) {
        getContext()
            .getLog()
            .warn(
                "Job view: refused a part of node [{}] from [{}] ({} so far): only the member"
                    + " holding that name may publish it",
                update.part().getNode(),
                update.from().path(),
                refused);
      }
      return this;
    }
    parts.put(update.part(), update.ended(), System.currentTimeMillis());
    return this;
  }

  private Behavior<Command> onGet(Get get) {
    List<JobReport> all = parts.all();
    get.replyTo().tell(new Parts(all));
    if (all.isEmpty()) {
      // a query for a job no node reported: do not keep an empty entity for a day
      shard.tell(new ClusterSharding.Passivate<>(getContext().getSelf()));
    }
    return this;
  }

  private Behavior<Command> onIdle() {
    shard.tell(new ClusterSharding.Passivate<>(getContext().getSelf()));
    return this;
  }
}
