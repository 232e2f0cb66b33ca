package org.softmig.gpu.actor;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.Props;
import akka.actor.typed.SupervisorStrategy;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.softmig.gpu.domain.JobOwnership;
import org.softmig.gpu.domain.Placement;

/**
 * The root of a node's actors: one {@link GpuActor} per physical GPU (fixed at start), one {@link
 * JobActor} per job with connected processes (created on demand), and the node's placements.
 *
 * <p>Placements survive restarts: the guardian starts with the placements saved before (put back
 * on their GPUs before it handles any message, so before any process can attach) and hands the
 * whole table to its {@link PlacementStore} after every change; a place or release is answered
 * once the store has written it, so a slice that the Prolog was told about is on disk.
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

  /**
   * Reserves a slice for a job on the GPU that fits it best ({@link Placement}); answered with
   * the decision. Idempotent for the same job and size.
   */
  public record Place(
      String jobId, String user, long memoryBytes, double smPercent, boolean mps,
      ActorRef<Placement.Decision> replyTo)
      implements Command {
    /** A slice for a time-slicing GPU. */
    public Place(
        String jobId, String user, long memoryBytes, double smPercent,
        ActorRef<Placement.Decision> replyTo) {
      this(jobId, user, memoryBytes, smPercent, false, replyTo);
    }
  }

  /** Ends a job's placement; answered with false when nothing was placed for it. */
  public record Release(String jobId, ActorRef<Boolean> replyTo) implements Command {}

  /** From a job actor whose last session ended, after {@code sessionsSeen} sessions. */
  record JobIdle(String jobId, long sessionsSeen) implements Command {}

  /** The store finished a save; {@code reply} answers the request that caused it. */
  private record Saved(Runnable reply, Throwable failure) implements Command {}

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
  private final Placement placement;
  private final Map<String, String> userOfJob = new HashMap<>();
  private final PlacementStore store;
  private final JobOwnership ownership = new JobOwnership();
  private long jobSeq;

  public static Behavior<Command> create(List<GpuDescriptor> gpus, GpuActor.Settings settings) {
    return create(gpus, gpu -> settings);
  }

  /** With settings per GPU (the lease gate is off on GPUs shared through MPS). */
  public static Behavior<Command> create(
      List<GpuDescriptor> gpus, Function<GpuDescriptor, GpuActor.Settings> settings) {
    return create(gpus, settings, List.of(), PlacementStore.NONE);
  }

  /**
   * With the placements saved before a restart ({@code restored}, put back on their GPUs first;
   * those that no longer fit this node are dropped with a warning) and the store that keeps them.
   */
  public static Behavior<Command> create(
      List<GpuDescriptor> gpus,
      Function<GpuDescriptor, GpuActor.Settings> settings,
      List<SavedPlacement> restored,
      PlacementStore store) {
    return create(gpus, settings, restored, store, Props.empty());
  }

  /**
   * As above, with the props the GPU actors are spawned with (their dispatcher: {@code
   * softmig.gpu-dispatcher}, see docs/ARCHITECTURE.md).
   */
  public static Behavior<Command> create(
      List<GpuDescriptor> gpus,
      Function<GpuDescriptor, GpuActor.Settings> settings,
      List<SavedPlacement> restored,
      PlacementStore store,
      Props gpuProps) {
    return Behaviors.setup(ctx -> new NodeGuardian(ctx, gpus, settings, restored, store, gpuProps));
  }

  private NodeGuardian(
      ActorContext<Command> ctx,
      List<GpuDescriptor> descriptors,
      Function<GpuDescriptor, GpuActor.Settings> settings,
      List<SavedPlacement> restored,
      PlacementStore store,
      Props gpuProps) {
    super(ctx);
    this.store = store;
    for (GpuDescriptor gpu : descriptors) {
      ActorRef<GpuActor.Command> ref =
          ctx.spawn(
              // a bug in one request must not lose the GPU's ledger: keep the state, go on
              Behaviors.supervise(GpuActor.create(gpu, settings.apply(gpu)))
                  .onFailure(SupervisorStrategy.resume()),
              "gpu-" + gpu.index(),
              gpuProps);
      gpus.add(new GpuRef(gpu, ref));
      gpusByUuid.put(gpu.uuid(), ref);
    }
    List<Placement.Gpu> placeable = new ArrayList<>();
    for (GpuDescriptor gpu : descriptors) {
      placeable.add(
          new Placement.Gpu(gpu.uuid(), gpu.index(), gpu.memoryTotalBytes(), gpu.mps()));
    }
    placement = new Placement(placeable);
    ctx.getLog().info("Managing [{}] GPUs", gpus.size());
    restore(restored);
  }

  /** Puts the saved placements back, before any message (so before any session) is handled. */
  private void restore(List<SavedPlacement> restored) {
    for (SavedPlacement saved : restored) {
      Placement.Decision decision =
          placement.restore(
              new Placement.Slice(
                  saved.jobId(), saved.memoryBytes(), saved.smPercent(), saved.mps()),
              saved.gpuUuid());
      if (decision instanceof Placement.Placed placed) {
        userOfJob.put(saved.jobId(), saved.user());
        ownership.placed(saved.jobId(), saved.user());
        gpusByUuid
            .get(placed.uuid())
            .tell(
                new GpuActor.Place(
                    saved.jobId(), saved.user(), saved.memoryBytes(), saved.smPercent()));
        getContext()
            .getLog()
            .info(
                "Placement of job [{}] restored on GPU [{}] ([{}] bytes, [{}] % SM)",
                saved.jobId(),
                placed.uuid(),
                saved.memoryBytes(),
                saved.smPercent());
      } else if (decision instanceof Placement.Refused refused) {
        getContext()
            .getLog()
            .warn("Saved placement of job [{}] dropped: {}", saved.jobId(), refused.reason());
      }
    }
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(OpenSession.class, this::onOpenSession)
        .onMessage(JobIdle.class, this::onJobIdle)
        .onMessage(GetGpus.class, this::onGetGpus)
        .onMessage(Place.class, this::onPlace)
        .onMessage(Release.class, this::onRelease)
        .onMessage(Saved.class, this::onSaved)
        .build();
  }

  private Behavior<Command> onGetGpus(GetGpus get) {
    get.replyTo().tell(new Gpus(List.copyOf(gpus)));
    return this;
  }

  private Behavior<Command> onPlace(Place place) {
    Placement.Decision decision =
        placement.place(
            new Placement.Slice(
                place.jobId(), place.memoryBytes(), place.smPercent(), place.mps()));
    if (decision instanceof Placement.Placed placed) {
      ownership.placed(place.jobId(), place.user());
      gpusByUuid
          .get(placed.uuid())
          .tell(
              new GpuActor.Place(
                  place.jobId(), place.user(), place.memoryBytes(), place.smPercent()));
      String before = userOfJob.get(place.jobId());
      if (!place.user().isEmpty()) {
        userOfJob.put(place.jobId(), place.user()); // a re-place that names no user keeps it
      } else {
        userOfJob.putIfAbsent(place.jobId(), "");
      }
      if (!placed.alreadyPlaced() || !userOfJob.get(place.jobId()).equals(before)) {
        save(() -> place.replyTo().tell(decision));
        return this;
      }
    }
    place.replyTo().tell(decision);
    return this;
  }

  private Behavior<Command> onRelease(Release release) {
    Optional<Placement.Gpu> gpu = placement.gpuOf(release.jobId());
    boolean released = placement.release(release.jobId());
    userOfJob.remove(release.jobId());
    ownership.unplaced(release.jobId());
    gpu.ifPresent(g -> gpusByUuid.get(g.uuid()).tell(new GpuActor.Unplace(release.jobId())));
    if (released) {
      save(() -> release.replyTo().tell(true));
    } else {
      release.replyTo().tell(false);
    }
    return this;
  }

  /** Hands the whole placement table to the store; {@code reply} once it is written (or not). */
  private void save(Runnable reply) {
    List<SavedPlacement> table = new ArrayList<>();
    for (Placement.Gpu g : placement.gpus()) {
      for (Placement.Slice s : placement.slicesOn(g.uuid())) {
        table.add(
            new SavedPlacement(
                s.jobId(),
                userOfJob.getOrDefault(s.jobId(), ""),
                s.memoryBytes(),
                s.smPercent(),
                s.mps(),
                g.uuid()));
      }
    }
    getContext().pipeToSelf(store.save(table), (ok, failure) -> new Saved(reply, failure));
  }

  private Behavior<Command> onSaved(Saved saved) {
    if (saved.failure() != null) {
      // the decision stands (the job runs either way); only a restart would forget it
      getContext()
          .getLog()
          .error(
              "Placements not saved, a restart would forget the latest change: {}",
              saved.failure().getMessage());
    }
    saved.reply().run();
    return this;
  }

  private Behavior<Command> onOpenSession(OpenSession open) {
    SessionSpec spec = open.spec();
    List<DeviceRequest> devices = open.devices();
    JobOwnership.Decision admitted =
        ownership.admit(
            new JobOwnership.Claim(spec.jobId(), spec.uid(), spec.user(), spec.kernelJob()));
    if (admitted instanceof JobOwnership.Refused refused) {
      getContext()
          .getLog()
          .info("Session of pid [{}] uid [{}] refused: {}", spec.pid(), spec.uid(),
              refused.reason());
      open.output().refuse(refused.reason());
      return this;
    }
    Optional<Placement.Slice> slice = placement.sliceOf(spec.jobId());
    if (slice.isPresent() && spec.source() != LimitSource.ADMIN_CONFIG) {
      // no admin config file: the placement's slice is the job's limit on its GPU
      String uuid = placement.gpuOf(spec.jobId()).orElseThrow().uuid();
      List<DeviceRequest> placed = new ArrayList<>();
      for (DeviceRequest d : devices) {
        placed.add(
            d.uuid().equals(uuid)
                ? new DeviceRequest(
                    d.deviceIndex(),
                    d.uuid(),
                    d.holdingBytes(),
                    slice.get().memoryBytes(),
                    slice.get().smPercent())
                : d);
      }
      devices = placed;
      spec = spec.withSource(LimitSource.PLACEMENT);
    }
    if (spec.source() == LimitSource.PROCESS_ENVIRONMENT) {
      devices = ownLimits(spec.jobId(), devices);
    }
    devices = confine(spec.jobId(), spec.source(), devices);
    List<SessionActor.Binding> bindings = new ArrayList<>();
    for (DeviceRequest device : devices) {
      bindings.add(new SessionActor.Binding(device, gpusByUuid.get(device.uuid())));
    }
    String jobId = spec.jobId();
    JobEntry job = jobs.get(jobId);
    if (job == null) {
      ActorRef<JobActor.Command> ref =
          getContext().spawn(JobActor.create(jobId, getContext().getSelf()), "job-" + (++jobSeq));
      job = new JobEntry(ref);
      jobs.put(jobId, job);
    }
    job.sessionsSent++;
    job.ref.tell(new JobActor.AddSession(spec, bindings, open.output()));
    return this;
  }

  /**
   * A placed job gets nothing on any other GPU of the node, whatever the process sees; a job
   * without admin limits gets nothing on a GPU that holds slices ({@link Placement#refusal}).
   */
  private List<DeviceRequest> confine(
      String jobId, LimitSource source, List<DeviceRequest> devices) {
    boolean adminLimits = source != LimitSource.PROCESS_ENVIRONMENT;
    List<DeviceRequest> result = new ArrayList<>();
    for (DeviceRequest d : devices) {
      Optional<String> refusal = placement.refusal(jobId, d.uuid(), adminLimits);
      result.add(refusal.isPresent() ? d.deny(refusal.get()) : d);
    }
    return result;
  }

  /** A job without an admin source: its first session on each GPU set its limits there. */
  private List<DeviceRequest> ownLimits(String jobId, List<DeviceRequest> devices) {
    List<DeviceRequest> result = new ArrayList<>();
    for (DeviceRequest d : devices) {
      JobOwnership.Limits limits =
          ownership.ownLimits(
              jobId, d.uuid(), new JobOwnership.Limits(d.memoryLimitBytes(), d.smLimitPercent()));
      result.add(
          new DeviceRequest(
              d.deviceIndex(), d.uuid(), d.holdingBytes(), limits.memoryBytes(),
              limits.smPercent()));
    }
    return result;
  }

  private Behavior<Command> onJobIdle(JobIdle idle) {
    JobEntry job = jobs.get(idle.jobId());
    if (job != null && job.sessionsSent == idle.sessionsSeen()) {
      jobs.remove(idle.jobId());
      ownership.forget(idle.jobId());
      getContext().stop(job.ref);
    }
    return this;
  }
}
