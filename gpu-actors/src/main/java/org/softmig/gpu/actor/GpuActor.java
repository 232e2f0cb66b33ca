package org.softmig.gpu.actor;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.actor.typed.javadsl.TimerScheduler;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.LongSupplier;
import org.softmig.gpu.domain.ByteSizes;
import org.softmig.gpu.domain.GpuJobs;
import org.softmig.gpu.domain.LeaseSharing;
import org.softmig.gpu.domain.MemoryLedger;
import org.softmig.gpu.domain.TimeSliceScheduler;

/**
 * One physical GPU. Every memory request and every lease request of every job on the GPU passes
 * through this actor, one at a time: that is what makes the limits exact. Routing only, over plain
 * domain classes: {@link MemoryLedger} (memory), {@link LeaseSharing} over {@link
 * TimeSliceScheduler} (SM time-slice leases, shared by the sessions of a job) and {@link GpuJobs}
 * (the jobs' figures and history, for status and reports). Lease requests and releases come
 * straight from the connection and grants and revokes go straight back to it ({@link
 * SessionOutput}): one route, like memory requests and replies.
 */
public final class GpuActor extends AbstractBehavior<GpuActor.Command> {

  public sealed interface Command {}

  /**
   * A session starts using this GPU as its device {@code device.deviceIndex()}; the job's limits
   * come with it. Answered with {@link SessionActor.Attached}. Memory replies go straight to
   * {@code output} (the hot path: one hop fewer); everything else through the session actor.
   */
  public record Attach(
      SessionSpec spec,
      DeviceRequest device,
      SessionOutput output,
      ActorRef<SessionActor.Event> session)
      implements Command {}

  /** The session ended: release everything it held, memory and lease. */
  public record Detach(long sessionId) implements Command {}

  /** Answered with {@link SessionActor.MemDecision} to the session. */
  public record Reserve(long sessionId, long requestId, long bytes) implements Command {}

  public record Free(long sessionId, long bytes) implements Command {}

  /** The session gave its credit of {@code epoch} back (no figure: the ledger counts). */
  public record CreditReturn(long sessionId, long epoch) implements Command {}

  /**
   * What the session decided locally since its previous report, as deltas ({@link
   * MemoryLedger#memReport}). With a {@code requestId} other than 0 it is answered with a {@link
   * SessionActor.MemDecision}: granted when the job is within its limit after recording it.
   */
  public record MemReport(
      long sessionId,
      long requestId,
      long creditEpoch,
      long takenBytes,
      long freedBytes,
      long peakBytes,
      long localRefusals)
      implements Command {}

  /** The session has kernels to launch; answered with {@link SessionActor.LeaseGranted}. */
  public record LeaseRequest(long sessionId) implements Command {}

  /**
   * The session is done with a lease: its work took {@code gpuTimeNanos}; {@code idle} means it
   * stopped launching (otherwise it wants the next lease). {@code releasedMonoNanos}: when the
   * process sent it, in the node's CLOCK_MONOTONIC (0 = unknown); {@code handoffNanos}: the
   * hand-off the process saw for this lease, from the GPU becoming free to the grant's arrival (0
   * = unknown). {@code workPending}: its last kernels still run, a second release of the same
   * lease follows with {@code workEndMonoNanos} (and {@code workStartMonoNanos}) set, when they
   * are done ({@link LeaseSharing.Release#isWorkReport}).
   */
  public record LeaseRelease(
      long sessionId,
      long leaseId,
      long gpuTimeNanos,
      boolean idle,
      long releasedMonoNanos,
      long handoffNanos,
      boolean workPending,
      long workStartMonoNanos,
      long workEndMonoNanos)
      implements Command {
    public LeaseRelease(long sessionId, long leaseId, long gpuTimeNanos, boolean idle) {
      this(sessionId, leaseId, gpuTimeNanos, idle, 0, 0);
    }

    public LeaseRelease(
        long sessionId,
        long leaseId,
        long gpuTimeNanos,
        boolean idle,
        long releasedMonoNanos,
        long handoffNanos) {
      this(sessionId, leaseId, gpuTimeNanos, idle, releasedMonoNanos, handoffNanos, false, 0, 0);
    }
  }

  /** A job was placed on this GPU before any of its processes started. */
  public record Place(String jobId, String user, long memoryBytes, double smPercent)
      implements Command {}

  /** The job's placement ends; its sessions, if any, keep their limits until they end. */
  public record Unplace(String jobId) implements Command {}

  public record GetSnapshot(ActorRef<GpuSnapshot> replyTo) implements Command {}

  /**
   * Each job's device memory beyond what its sessions track (contexts, modules), as NVML sees it
   * on this GPU; jobs not named have none. Counts against the job's limit ({@link
   * MemoryLedger#setOverhead}).
   */
  public record SetOverhead(Map<String, Long> overheadBytesByJob, Map<Integer, Long> usedBytesByPid)
      implements Command {
    public SetOverhead {
      overheadBytesByJob = Map.copyOf(overheadBytesByJob);
      usedBytesByPid = Map.copyOf(usedBytesByPid);
    }

    public SetOverhead(Map<String, Long> overheadBytesByJob) {
      this(overheadBytesByJob, Map.of());
    }
  }

  /** Answered with what this GPU knows of the job, if anything. */
  public record GetReport(String jobId, ActorRef<Optional<JobReportSnapshot>> replyTo)
      implements Command {}

  /**
   * Something happened on the GPU that may have hurt the jobs on it (an MPS server shut down in
   * fault, the MPS control daemon restarted): recorded in the report of every job on the GPU now.
   */
  public record RecordIncident(String text) implements Command {}

  private enum Tick implements Command {
    INSTANCE
  }

  /**
   * The node's socket is open: sessions reconnect from now on, and the ledger settles for {@link
   * Settings#settle} before it decides again.
   */
  public enum SocketOpen implements Command {
    INSTANCE
  }

  /** The settling time after the start is over: the ledger decides again. */
  private enum EndSettling implements Command {
    INSTANCE
  }

  /** A revoked credit that was not returned in time. */
  private record CreditTimeout(long sessionId, long epoch) implements Command {}

  /** How long a session has to answer a CreditRevoke before its credit is ended for it. */
  static final Duration CREDIT_RETURN_TIMEOUT = Duration.ofSeconds(2);

  /**
   * Node settings for the GPU actors.
   *
   * @param gated whether launches need a lease
   * @param scheduler lease policy and length
   * @param grants told of every grant (metrics)
   */
  /**
   * @param contextReserveBytes device memory each session is assumed to use for its CUDA context
   *     until NVML measures more ({@link MemoryLedger#setContextReserve}); 0 on simulated GPUs
   */
  /**
   * @param settle how long after the node's socket opens ({@link SocketOpen}) the ledger only
   *     records (reconnecting sessions come back with their holdings) before it decides reserves
   *     and lends credits ({@link MemoryLedger#startSettling}); zero for none
   */
  public record Settings(
      boolean gated,
      TimeSliceScheduler.Settings scheduler,
      GrantListener grants,
      long contextReserveBytes,
      Duration settle) {
    public Settings(
        boolean gated,
        TimeSliceScheduler.Settings scheduler,
        GrantListener grants,
        long contextReserveBytes) {
      this(gated, scheduler, grants, contextReserveBytes, Duration.ZERO);
    }

    public Settings(boolean gated, TimeSliceScheduler.Settings scheduler, GrantListener grants) {
      this(gated, scheduler, grants, 0);
    }

    public Settings(boolean gated, TimeSliceScheduler.Settings scheduler) {
      this(gated, scheduler, GrantListener.NONE);
    }

    /** The same settings with the lease gate on or off (off on a GPU shared through MPS). */
    public Settings withGated(boolean v) {
      return new Settings(v, scheduler, grants, contextReserveBytes, settle);
    }
  }

  /** Due deadlines ticked at once in one message, before falling back to the timer. */
  private static final int MAX_IMMEDIATE_TICKS = 8;

  private record SessionEntry(
      SessionSpec spec, int deviceIndex, SessionOutput output, ActorRef<SessionActor.Event> ref) {}

  private final GpuDescriptor gpu;
  private final Settings settings;
  private final TimerScheduler<Command> timers;
  private final LongSupplier clock;
  private final MemoryLedger ledger;
  private final TimeSliceScheduler scheduler;
  private final LeaseSharing leases;
  private final GpuJobs jobs = new GpuJobs();
  private final Map<Long, SessionEntry> sessions = new HashMap<>();
  // NVML's per-process usage on this GPU from the last reconciliation (reconnect claims)
  private Map<Integer, Long> measuredByPid = Map.of();

  public static Behavior<Command> create(GpuDescriptor gpu, Settings settings) {
    return create(gpu, settings, System::nanoTime);
  }

  /** With a clock of monotonic nanoseconds (tests). */
  public static Behavior<Command> create(
      GpuDescriptor gpu, Settings settings, LongSupplier nanoClock) {
    return Behaviors.setup(
        ctx -> Behaviors.withTimers(timers -> new GpuActor(ctx, gpu, settings, timers, nanoClock)));
  }

  private GpuActor(
      ActorContext<Command> ctx,
      GpuDescriptor gpu,
      Settings settings,
      TimerScheduler<Command> timers,
      LongSupplier clock) {
    super(ctx);
    this.gpu = gpu;
    this.settings = settings;
    this.timers = timers;
    this.clock = clock;
    this.ledger = new MemoryLedger(gpu.uuid(), gpu.memoryTotalBytes());
    this.ledger.setContextReserve(settings.contextReserveBytes());
    if (settings.settle().compareTo(Duration.ZERO) > 0) {
      ledger.startSettling(); // until SocketOpen plus the settling time
    }
    this.scheduler = new TimeSliceScheduler(settings.scheduler());
    this.leases = new LeaseSharing(scheduler, gpu.timeSliced());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Reserve.class, this::onReserve)
        .onMessage(Free.class, this::onFree)
        .onMessage(MemReport.class, this::onMemReport)
        .onMessage(CreditReturn.class, this::onCreditReturn)
        .onMessage(LeaseRequest.class, this::onLeaseRequest)
        .onMessage(LeaseRelease.class, this::onLeaseRelease)
        .onMessageEquals(Tick.INSTANCE, this::onTick)
        .onMessage(CreditTimeout.class, this::onCreditTimeout)
        .onMessageEquals(SocketOpen.INSTANCE, this::onSocketOpen)
        .onMessageEquals(EndSettling.INSTANCE, this::onEndSettling)
        .onMessage(Attach.class, this::onAttach)
        .onMessage(Detach.class, this::onDetach)
        .onMessage(Place.class, this::onPlace)
        .onMessage(Unplace.class, this::onUnplace)
        .onMessage(GetSnapshot.class, this::onGetSnapshot)
        .onMessage(SetOverhead.class, this::onSetOverhead)
        .onMessage(GetReport.class, this::onGetReport)
        .onMessage(RecordIncident.class, this::onRecordIncident)
        .build();
  }

  // ------------------------------------------------------------------ sessions

  private Behavior<Command> onAttach(Attach attach) {
    SessionSpec spec = attach.spec();
    DeviceRequest device = attach.device();
    if (sessions.containsKey(spec.sessionId()) || device.holdingBytes() < 0) {
      getContext()
          .getLog()
          .warn("Ignoring attach of session [{}] to [{}]: already attached or negative holding",
              spec.sessionId(), gpu.uuid());
      return this;
    }
    // root joining a job does not make it root's: the job keeps the user it has
    String known = jobs.userOf(spec.jobId());
    jobs.attach(
        spec.jobId(),
        spec.uid() == 0 && !known.isEmpty() ? known : spec.user(),
        device.memoryLimitBytes(),
        device.smLimitPercent(),
        spec.pid(),
        System.currentTimeMillis());
    scheduler.setLimit(spec.jobId(), device.smLimitPercent());
    leases.join(spec.jobId(), spec.sessionId());
    sessions.put(
        spec.sessionId(),
        new SessionEntry(spec, device.deviceIndex(), attach.output(), attach.session()));
    List<MemoryLedger.Effect> effects = new ArrayList<>();
    effects.addAll(ledger.setLimit(spec.jobId(), device.memoryLimitBytes()));
    effects.addAll(
        ledger.attach(
            spec.jobId(),
            spec.sessionId(),
            device.holdingBytes(),
            measuredBytes(spec.pid()),
            spec.creditCapable()));
    attach
        .session()
        .tell(
            new SessionActor.Attached(
                device.deviceIndex(),
                new DeviceLimit(
                    device.deviceIndex(),
                    device.memoryLimitBytes(),
                    device.smLimitPercent(),
                    settings.gated())));
    getContext()
        .getLog()
        .info(
            "Session [{}] (pid [{}]) of job [{}] attached to [{}] with limit [{}],"
                + " [{}] % SM, holding [{}]",
            spec.sessionId(),
            spec.pid(),
            spec.jobId(),
            gpu.uuid(),
            ByteSizes.format(device.memoryLimitBytes()),
            device.smLimitPercent(),
            ByteSizes.format(device.holdingBytes()));
    apply(effects);
    return this;
  }

  private Behavior<Command> onDetach(Detach detach) {
    SessionEntry entry = sessions.remove(detach.sessionId());
    if (entry == null) {
      return this;
    }
    String jobId = entry.spec().jobId();
    jobs.live(jobId).ifPresent(job -> updateMemoryFigures(job));
    timers.cancel("credit-" + detach.sessionId());
    apply(ledger.detach(detach.sessionId()));
    act(leases.leave(detach.sessionId(), clock.getAsLong()));
    forgetIfIdle(jobId);
    getContext()
        .getLog()
        .info("Session [{}] of job [{}] left [{}]", detach.sessionId(), jobId, gpu.uuid());
    return this;
  }

  // ------------------------------------------------------------------ memory

  private Behavior<Command> onReserve(Reserve reserve) {
    SessionEntry entry = sessions.get(reserve.sessionId());
    if (entry == null) {
      return this;
    }
    MemoryLedger.Decision decision =
        ledger.reserve(reserve.sessionId(), reserve.bytes(), reserve.requestId());
    reply(entry, reserve.requestId(), decision);
    return this;
  }

  private Behavior<Command> onFree(Free free) {
    ledger.free(free.sessionId(), free.bytes());
    return this;
  }

  private Behavior<Command> onMemReport(MemReport report) {
    boolean within =
        ledger.memReport(
            report.sessionId(),
            report.creditEpoch(),
            report.takenBytes(),
            report.freedBytes(),
            report.peakBytes(),
            report.localRefusals());
    SessionEntry entry = sessions.get(report.sessionId());
    if (entry != null && report.requestId() != 0) {
      MemoryLedger.JobUsage u = ledger.job(entry.spec().jobId()).orElseThrow();
      entry
          .output()
          .send(
              new SessionActor.MemDecision(
                  report.requestId(),
                  entry.deviceIndex(),
                  within,
                  u.usedBytes() + u.overheadBytes(),
                  u.limitBytes(),
                  ledger.freeBytes(),
                  within ? "" : "job " + u.jobId() + " is over its limit"));
    }
    return this;
  }

  private Behavior<Command> onCreditReturn(CreditReturn credit) {
    timers.cancel("credit-" + credit.sessionId());
    apply(ledger.creditReturn(credit.sessionId(), credit.epoch()));
    return this;
  }

  /** NVML's last measurement of a pid on this GPU, or -1 when unknown. */
  private long measuredBytes(int pid) {
    Long bytes = measuredByPid.get(pid);
    return bytes == null ? -1 : bytes;
  }

  private void reply(SessionEntry entry, long requestId, MemoryLedger.Decision decision) {
    if (decision instanceof MemoryLedger.Granted g) {
      entry
          .output()
          .send(
              new SessionActor.MemDecision(
                  requestId,
                  entry.deviceIndex(),
                  true,
                  g.jobUsedBytes(),
                  g.jobLimitBytes(),
                  g.deviceFreeBytes(),
                  ""));
    } else if (decision instanceof MemoryLedger.Refused r) {
      getContext()
          .getLog()
          .debug(
              "Refused session [{}] on [{}]: {}", entry.spec().sessionId(), gpu.uuid(), r.reason());
      entry
          .output()
          .send(
              new SessionActor.MemDecision(
                  requestId,
                  entry.deviceIndex(),
                  false,
                  r.jobUsedBytes(),
                  r.jobLimitBytes(),
                  r.deviceFreeBytes(),
                  r.reason()));
    }
    // Deferred: answered when the job's credit comes back.
  }

  private void apply(List<MemoryLedger.Effect> effects) {
    for (MemoryLedger.Effect effect : effects) {
      if (effect instanceof MemoryLedger.CreditGrant g) {
        SessionEntry entry = sessions.get(g.sessionId());
        if (entry != null) {
          entry
              .ref()
              .tell(
                  new SessionActor.CreditGranted(entry.deviceIndex(), g.ceilingBytes(), g.epoch()));
        }
      } else if (effect instanceof MemoryLedger.CreditRevoke r) {
        SessionEntry entry = sessions.get(r.sessionId());
        if (entry != null) {
          entry.ref().tell(new SessionActor.CreditRevoked(entry.deviceIndex(), r.epoch()));
          timers.startSingleTimer(
              "credit-" + r.sessionId(),
              new CreditTimeout(r.sessionId(), r.epoch()),
              CREDIT_RETURN_TIMEOUT);
        }
      } else if (effect instanceof MemoryLedger.Resolved r) {
        SessionEntry entry = sessions.get(r.sessionId());
        if (entry != null) {
          reply(entry, r.ticket(), r.decision());
        }
      }
    }
  }

  private Behavior<Command> onSocketOpen() {
    if (settings.settle().compareTo(Duration.ZERO) > 0) {
      timers.startSingleTimer(EndSettling.INSTANCE, settings.settle());
    }
    return this;
  }

  private Behavior<Command> onEndSettling() {
    apply(ledger.endSettling());
    return this;
  }

  private Behavior<Command> onCreditTimeout(CreditTimeout timeout) {
    List<MemoryLedger.Effect> effects = ledger.expireCredit(timeout.sessionId(), timeout.epoch());
    getContext()
        .getLog()
        .warn(
            "Session [{}] did not return its credit [{}] on [{}] in time; ended it",
            timeout.sessionId(),
            timeout.epoch(),
            gpu.uuid());
    apply(effects);
    return this;
  }

  // ------------------------------------------------------------------ leases

  private Behavior<Command> onLeaseRequest(LeaseRequest request) {
    act(leases.request(request.sessionId(), clock.getAsLong()));
    return this;
  }

  private Behavior<Command> onLeaseRelease(LeaseRelease release) {
    SessionEntry entry = sessions.get(release.sessionId());
    if (entry == null) {
      return this;
    }
    LeaseSharing.Release r =
        new LeaseSharing.Release(
            release.sessionId(),
            release.leaseId(),
            release.gpuTimeNanos(),
            release.idle(),
            release.releasedMonoNanos(),
            release.handoffNanos(),
            release.workPending(),
            release.workStartMonoNanos(),
            release.workEndMonoNanos());
    if (!r.isWorkReport() && r.handoffNanos() > 0) {
      String jobId = entry.spec().jobId();
      settings.grants().handedOff(gpu.uuid(), jobId, jobs.userOf(jobId), r.handoffNanos());
    }
    act(leases.release(r, clock.getAsLong()));
    return this;
  }

  private Behavior<Command> onTick() {
    act(leases.tick(clock.getAsLong()));
    return this;
  }

  /**
   * Sends what the lease sharing decided, then re-arms the timer. Deadlines already due (the
   * scheduler often hands the GPU on "now", right after a release) are ticked here and then
   * ({@link LeaseSharing#tickDue}), not through the timer: an Akka timer, even of zero delay,
   * waits for the scheduler's next tick, which put about half a millisecond into every hand-off.
   */
  private void act(List<LeaseSharing.Effect> effects) {
    effects.forEach(this::send);
    long now = clock.getAsLong();
    leases.tickDue(now, MAX_IMMEDIATE_TICKS).forEach(this::send);
    OptionalLong deadline = leases.nextDeadlineNanos();
    if (deadline.isEmpty()) {
      timers.cancel(Tick.INSTANCE);
    } else {
      timers.startSingleTimer(
          Tick.INSTANCE, Duration.ofNanos(Math.max(0, deadline.getAsLong() - now)));
    }
  }

  /** Grants and revokes go straight to the connection, the way they came. */
  private void send(LeaseSharing.Effect effect) {
    if (effect instanceof LeaseSharing.Grant g) {
      SessionEntry entry = sessions.get(g.sessionId());
      if (entry != null) {
        entry
            .output()
            .send(
                new SessionActor.LeaseGranted(
                    entry.deviceIndex(), g.leaseId(), g.durationNanos(), g.gpuFreeMonoNanos()));
      }
    } else if (effect instanceof LeaseSharing.Revoke r) {
      SessionEntry entry = sessions.get(r.sessionId());
      if (entry != null) {
        entry.output().send(new SessionActor.LeaseRevoked(entry.deviceIndex(), r.leaseId()));
      }
    } else if (effect instanceof LeaseSharing.JobGranted g) {
      settings.grants().granted(gpu.uuid(), g.jobId(), jobs.userOf(g.jobId()), g.waitedNanos());
    }
  }

  // ------------------------------------------------------------------ placement, status

  private Behavior<Command> onPlace(Place place) {
    jobs.place(
        place.jobId(),
        place.user(),
        place.memoryBytes(),
        place.smPercent(),
        System.currentTimeMillis());
    scheduler.setLimit(place.jobId(), place.smPercent());
    apply(ledger.setLimit(place.jobId(), place.memoryBytes()));
    getContext()
        .getLog()
        .info(
            "Job [{}] placed on [{}] with [{}] and [{}] % SM",
            place.jobId(),
            gpu.uuid(),
            ByteSizes.format(place.memoryBytes()),
            place.smPercent());
    return this;
  }

  private Behavior<Command> onUnplace(Unplace unplace) {
    if (jobs.unplace(unplace.jobId())) {
      forgetIfIdle(unplace.jobId());
    }
    return this;
  }

  private Behavior<Command> onSetOverhead(SetOverhead set) {
    if (!set.usedBytesByPid().isEmpty()) {
      measuredByPid = set.usedBytesByPid();
    }
    for (GpuJobs.Job job : jobs.live()) {
      String jobId = job.jobId();
      long bytes = Math.max(0, set.overheadBytesByJob().getOrDefault(jobId, 0L));
      if (bytes != ledger.overheadBytes(jobId)) {
        getContext()
            .getLog()
            .debug(
                "Job [{}] uses [{}] on [{}] beyond its tracked memory",
                jobId,
                ByteSizes.format(bytes),
                gpu.uuid());
      }
      apply(ledger.setOverhead(jobId, bytes));
    }
    return this;
  }

  private Behavior<Command> onGetSnapshot(GetSnapshot get) {
    get.replyTo().tell(snapshot());
    return this;
  }

  private Behavior<Command> onGetReport(GetReport get) {
    Optional<GpuJobs.Job> live = jobs.live(get.jobId());
    live.ifPresent(
        job -> {
          updateMemoryFigures(job);
          updateComputeFigures(job, clock.getAsLong());
        });
    get.replyTo().tell(jobs.liveOrPast(get.jobId()).map(this::report));
    return this;
  }

  private JobReportSnapshot report(GpuJobs.Job job) {
    return new JobReportSnapshot(
        job.jobId(),
        job.user(),
        gpu.uuid(),
        job.memoryLimitBytes(),
        job.peakBytes(),
        job.smLimitPercent(),
        job.smSharePercent(System.currentTimeMillis()),
        job.gpuNanos(),
        job.waitNanos(),
        job.refusals(),
        job.startedUnixMs(),
        job.endedUnixMs(),
        job.pids(),
        job.incidents());
  }

  private Behavior<Command> onRecordIncident(RecordIncident incident) {
    jobs.incident(incident.text());
    getContext()
        .getLog()
        .warn("Incident on [{}] recorded for [{}] job(s): {}", gpu.uuid(), jobs.liveCount(),
            incident.text());
    return this;
  }

  private void updateMemoryFigures(GpuJobs.Job job) {
    ledger.job(job.jobId()).ifPresent(u -> job.memory(u.peakBytes(), u.refusals()));
  }

  private void updateComputeFigures(GpuJobs.Job job, long now) {
    for (TimeSliceScheduler.JobStats s : scheduler.stats(now)) {
      if (s.jobId().equals(job.jobId())) {
        job.compute(s.gpuNanosTotal(), s.waitNanosTotal());
      }
    }
  }

  private void forgetIfIdle(String jobId) {
    Optional<GpuJobs.Job> live = jobs.live(jobId);
    if (live.isEmpty() || live.get().placed() || !ledger.sessionsOf(jobId).isEmpty()) {
      return;
    }
    long now = clock.getAsLong();
    updateMemoryFigures(live.get());
    updateComputeFigures(live.get(), now);
    jobs.end(jobId, System.currentTimeMillis());
    ledger.removeJob(jobId);
    act(leases.removeJob(jobId, now));
  }

  private GpuSnapshot snapshot() {
    long now = clock.getAsLong();
    Map<String, TimeSliceScheduler.JobStats> stats = new HashMap<>();
    for (TimeSliceScheduler.JobStats s : scheduler.stats(now)) {
      stats.put(s.jobId(), s);
    }
    List<GpuSnapshot.JobSnapshot> list = new ArrayList<>();
    long used = 0;
    long committed = 0;
    double smCommitted = 0;
    for (GpuJobs.Job job : jobs.live()) {
      String jobId = job.jobId();
      MemoryLedger.JobUsage usage =
          ledger.job(jobId).orElse(new MemoryLedger.JobUsage(jobId, 0, 0, 0, 0, 0, List.of()));
      List<GpuSnapshot.ProcessSnapshot> processes = new ArrayList<>();
      for (MemoryLedger.SessionUsage s : usage.sessions()) {
        SessionEntry entry = sessions.get(s.sessionId());
        int pid = entry == null ? 0 : entry.spec().pid();
        processes.add(
            new GpuSnapshot.ProcessSnapshot(pid, s.sessionId(), s.usedBytes(), s.heldBytes()));
      }
      TimeSliceScheduler.JobStats s =
          stats.getOrDefault(
              jobId, new TimeSliceScheduler.JobStats(jobId, 0, 0, 0, 0, 0, 0, 0));
      used += usage.usedBytes();
      committed += job.memoryLimitBytes();
      smCommitted += job.smLimitPercent();
      list.add(
          new GpuSnapshot.JobSnapshot(
              jobId,
              job.user(),
              usage.usedBytes(),
              job.memoryLimitBytes(),
              Math.max(job.peakBytes(), usage.peakBytes()),
              usage.refusals(),
              job.smLimitPercent(),
              s.sharePercentLast10s(),
              s.gpuNanosTotal(),
              s.waitNanosTotal(),
              leases.handoffPercentile(jobId, 0.50),
              leases.handoffPercentile(jobId, 0.99),
              job.placed(),
              processes,
              usage.overLimit(),
              usage.unverifiedBytes()));
    }
    return new GpuSnapshot(gpu, used, committed, smCommitted, list);
  }
}
