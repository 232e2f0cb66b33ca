package org.softmig.gpu.actor;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The root of a node's actors: one {@link GpuActor} per physical GPU (fixed at start), one {@link
 * JobActor} per job with connected processes (created on demand).
 */
public final class NodeGuardian extends AbstractBehavior<NodeGuardian.Command> {

  public sealed interface Command {}

  /** The node's GPUs and their actors, in index order. */
  public record GetGpus(ActorRef<Gpus> replyTo) implements Command {}

  public record Gpus(List<GpuRef> gpus) {}

  public record GpuRef(GpuDescriptor gpu, ActorRef<GpuActor.Command> ref) {}

  /**
   * A process connected and its job is known. The session reports back through {@code output}
   * (welcome first).
   */
  public record OpenSession(SessionSpec spec, List<DeviceRequest> devices, SessionOutput output)
      implements Command {}

  /** From a job actor whose last session ended, after {@code sessionsSeen} sessions. */
  record JobIdle(String jobId, long sessionsSeen) implements Command {}

  private static final class JobEntry {
    final ActorRef<JobActor.Command> ref;
    long sessionsSent;

    JobEntry(ActorRef<JobActor.Command> ref) {
      this.ref = ref;
    }
  }

  private final List<GpuRef> gpus = new ArrayList<>();
  private final Map<String, ActorRef<GpuActor.Command>> gpusByUuid = new HashMap<>();
  private final Map<String, JobEntry> jobs = new LinkedHashMap<>();
  private long jobSeq;

  public static Behavior<Command> create(List<GpuDescriptor> gpus, GpuActor.Settings settings) {
    return Behaviors.setup(ctx -> new NodeGuardian(ctx, gpus, settings));
  }

  private NodeGuardian(
      ActorContext<Command> ctx, List<GpuDescriptor> descriptors, GpuActor.Settings settings) {
    super(ctx);
    for (GpuDescriptor gpu : descriptors) {
      ActorRef<GpuActor.Command> ref =
          ctx.spawn(GpuActor.create(gpu, settings), "gpu-" + gpu.index());
      gpus.add(new GpuRef(gpu, ref));
      gpusByUuid.put(gpu.uuid(), ref);
    }
    ctx.getLog().info("Managing [{}] GPUs", gpus.size());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(OpenSession.class, this::onOpenSession)
        .onMessage(JobIdle.class, this::onJobIdle)
        .onMessage(GetGpus.class, this::onGetGpus)
        .build();
  }

  private Behavior<Command> onGetGpus(GetGpus get) {
    get.replyTo().tell(new Gpus(List.copyOf(gpus)));
    return this;
  }

  private Behavior<Command> onOpenSession(OpenSession open) {
    List<SessionActor.Binding> bindings = new ArrayList<>();
    for (DeviceRequest device : open.devices()) {
      bindings.add(new SessionActor.Binding(device, gpusByUuid.get(device.uuid())));
    }
    String jobId = open.spec().jobId();
    JobEntry job = jobs.get(jobId);
    if (job == null) {
      ActorRef<JobActor.Command> ref =
          getContext().spawn(JobActor.create(jobId, getContext().getSelf()), "job-" + (++jobSeq));
      job = new JobEntry(ref);
      jobs.put(jobId, job);
    }
    job.sessionsSent++;
    job.ref.tell(new JobActor.AddSession(open.spec(), bindings, open.output()));
    return this;
  }

  private Behavior<Command> onJobIdle(JobIdle idle) {
    JobEntry job = jobs.get(idle.jobId());
    if (job != null && job.sessionsSent == idle.sessionsSeen()) {
      jobs.remove(idle.jobId());
      getContext().stop(job.ref);
    }
    return this;
  }
}
