package org.softmig.gpu.actor;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One connected process. Attaches itself to the GPU actor of each of its devices, welcomes the
 * process once all have answered, passes what the GPU actors send on to the connection, and
 * detaches from every GPU when the connection ends.
 */
public final class SessionActor extends AbstractBehavior<SessionActor.Command> {

  public sealed interface Command {}

  /** Messages from GPU actors to this session. */
  public sealed interface Event extends Command {}

  /** Messages that go out to the process. */
  public sealed interface Outbound extends Event {}

  /** A GPU actor took the session on. */
  public record Attached(int deviceIndex, DeviceLimit limit) implements Event {}

  public record MemDecision(
      long requestId,
      int deviceIndex,
      boolean granted,
      long jobUsedBytes,
      long jobLimitBytes,
      long deviceFreeBytes,
      String reason)
      implements Outbound {}

  public record CreditGranted(int deviceIndex, long ceilingBytes, long epoch) implements Outbound {}

  public record CreditRevoked(int deviceIndex, long epoch) implements Outbound {}

  /**
   * {@code durationNanos} 0 = open-ended; {@code gpuFreeMonoNanos}: when the GPU became free for
   * this grant, in the node's CLOCK_MONOTONIC ({@link System#nanoTime}), 0 = unknown.
   */
  public record LeaseGranted(
      int deviceIndex, long leaseId, long durationNanos, long gpuFreeMonoNanos)
      implements Outbound {
    public LeaseGranted(int deviceIndex, long leaseId, long durationNanos) {
      this(deviceIndex, leaseId, durationNanos, 0);
    }
  }

  public record LeaseRevoked(int deviceIndex, long leaseId) implements Outbound {}

  /** The connection ended (exit, crash, SIGKILL): release everything. */
  public enum Stop implements Command {
    INSTANCE
  }

  /**
   * A device of the session.
   *
   * @param gpu null when this node does not manage the device, or the job may not use it ({@link
   *     DeviceRequest#denied})
   */
  public record Binding(DeviceRequest request, ActorRef<GpuActor.Command> gpu) {}

  private final SessionSpec spec;
  private final List<Binding> bindings;
  private final SessionOutput output;
  private final DeviceLimit[] limits;
  private int waitingFor;
  private List<Outbound> early = new ArrayList<>();

  public static Behavior<Command> create(
      SessionSpec spec, List<Binding> bindings, SessionOutput output) {
    return Behaviors.setup(ctx -> new SessionActor(ctx, spec, bindings, output));
  }

  private SessionActor(
      ActorContext<Command> ctx, SessionSpec spec, List<Binding> bindings, SessionOutput output) {
    super(ctx);
    this.spec = spec;
    this.bindings = List.copyOf(bindings);
    this.output = output;
    this.limits = new DeviceLimit[bindings.size()];
    ActorRef<Event> self = ctx.getSelf().narrow();
    for (int i = 0; i < bindings.size(); i++) {
      Binding b = bindings.get(i);
      if (b.request().denied()) {
        limits[i] = DeviceLimit.denied(b.request().deviceIndex(), b.request().deniedReason());
      } else if (b.gpu() == null) {
        limits[i] = DeviceLimit.unmanaged(b.request().deviceIndex());
      } else {
        waitingFor++;
        b.gpu().tell(new GpuActor.Attach(spec, b.request(), output, self));
      }
    }
    if (waitingFor == 0) {
      welcome();
    }
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Attached.class, this::onAttached)
        .onMessage(Outbound.class, this::onOutbound)
        .onMessageEquals(Stop.INSTANCE, this::onStop)
        .build();
  }

  private Behavior<Command> onAttached(Attached attached) {
    for (int i = 0; i < bindings.size(); i++) {
      if (bindings.get(i).request().deviceIndex() == attached.deviceIndex() && limits[i] == null) {
        limits[i] = attached.limit();
        if (--waitingFor == 0) {
          welcome();
        }
        break;
      }
    }
    return this;
  }

  private Behavior<Command> onOutbound(Outbound message) {
    if (early != null) {
      early.add(message);
    } else {
      output.send(message);
    }
    return this;
  }

  private Behavior<Command> onStop() {
    for (Binding b : bindings) {
      if (b.gpu() != null && !b.request().denied()) {
        b.gpu().tell(new GpuActor.Detach(spec.sessionId()));
      }
    }
    getContext().getLog().debug("Session [{}] of job [{}] ended", spec.sessionId(), spec.jobId());
    return Behaviors.stopped();
  }

  private void welcome() {
    int maxIndex = -1;
    for (Binding b : bindings) {
      maxIndex = Math.max(maxIndex, b.request().deviceIndex());
    }
    List<ActorRef<GpuActor.Command>> gpus = new ArrayList<>(Collections.nCopies(maxIndex + 1, null));
    for (Binding b : bindings) {
      gpus.set(b.request().deviceIndex(), b.request().denied() ? null : b.gpu());
    }
    output.welcome(spec, List.of(limits), getContext().getSelf(), gpus);
    List<Outbound> pending = early;
    early = null;
    pending.forEach(output::send);
  }
}
