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
import org.softmig.gpu.domain.MemoryLedger;

/**
 * One physical GPU. Every memory request of every job on the GPU passes through this actor, one at
 * a time: that is what makes the limits exact. A thin shell over {@link MemoryLedger}.
 */
public final class GpuActor extends AbstractBehavior<GpuActor.Command> {

  public sealed interface Command {}

  /**
   * A session starts using this GPU as its device {@code device.deviceIndex()}; the job's limits
   * come with it. Answered with {@link SessionActor.Attached}.
   */
  public record Attach(SessionSpec spec, DeviceRequest device, ActorRef<SessionActor.Event> session)
      implements Command {}

  /** The session ended: release everything it held. */
  public record Detach(long sessionId) implements Command {}

  /** Answered with {@link SessionActor.MemDecision} to the session. */
  public record Reserve(long sessionId, long requestId, long bytes) implements Command {}

  public record Free(long sessionId, long bytes) implements Command {}

  public record CreditReturn(long sessionId, long epoch, long usedBytes) implements Command {}

  public record UsageReport(long sessionId, long usedBytes) implements Command {}

  /** A job was placed on this GPU before any of its processes started. */
  public record Place(String jobId, String user, long memoryBytes, double smPercent)
      implements Command {}

  /** The job's placement ends; its sessions, if any, keep their limits until they end. */
  public record Unplace(String jobId) implements Command {}

  public record GetSnapshot(ActorRef<GpuSnapshot> replyTo) implements Command {}

  /**
   * Node settings for the GPU actors.
   *
   * @param gated whether launches need a lease
   * @param leaseNanos the default lease length
   */
  public record Settings(boolean gated, long leaseNanos) {}

  private static final class JobEntry {
    String user = "";
    long memoryLimitBytes;
    double smLimitPercent;
    boolean placed;
  }

  private record SessionEntry(
      SessionSpec spec, int deviceIndex, ActorRef<SessionActor.Event> ref) {}

  private final GpuDescriptor gpu;
  private final Settings settings;
  private final MemoryLedger ledger;
  private final Map<String, JobEntry> jobs = new LinkedHashMap<>();
  private final Map<Long, SessionEntry> sessions = new HashMap<>();

  public static Behavior<Command> create(GpuDescriptor gpu, Settings settings) {
    return Behaviors.setup(ctx -> new GpuActor(ctx, gpu, settings));
  }

  private GpuActor(ActorContext<Command> ctx, GpuDescriptor gpu, Settings settings) {
    super(ctx);
    this.gpu = gpu;
    this.settings = settings;
    this.ledger = new MemoryLedger(gpu.uuid(), gpu.memoryTotalBytes());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Reserve.class, this::onReserve)
        .onMessage(Free.class, this::onFree)
        .onMessage(UsageReport.class, this::onUsageReport)
        .onMessage(CreditReturn.class, this::onCreditReturn)
        .onMessage(Attach.class, this::onAttach)
        .onMessage(Detach.class, this::onDetach)
        .onMessage(Place.class, this::onPlace)
        .onMessage(Unplace.class, this::onUnplace)
        .onMessage(GetSnapshot.class, this::onGetSnapshot)
        .build();
  }

  private Behavior<Command> onAttach(Attach attach) {
    SessionSpec spec = attach.spec();
    DeviceRequest device = attach.device();
    JobEntry job = jobs.computeIfAbsent(spec.jobId(), id -> new JobEntry());
    job.user = spec.user();
    job.memoryLimitBytes = device.memoryLimitBytes();
    job.smLimitPercent = device.smLimitPercent();
    sessions.put(
        spec.sessionId(), new SessionEntry(spec, device.deviceIndex(), attach.session()));
    List<MemoryLedger.Effect> effects = new ArrayList<>();
    effects.addAll(ledger.setLimit(spec.jobId(), device.memoryLimitBytes()));
    effects.addAll(ledger.attach(spec.jobId(), spec.sessionId(), device.holdingBytes()));
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
            "Session [{}] (pid [{}]) of job [{}] attached to [{}] with limit [{}] bytes, holding [{}]",
            spec.sessionId(),
            spec.pid(),
            spec.jobId(),
            gpu.uuid(),
            device.memoryLimitBytes(),
            device.holdingBytes());
    apply(effects);
    return this;
  }

  private Behavior<Command> onDetach(Detach detach) {
    SessionEntry entry = sessions.remove(detach.sessionId());
    if (entry == null) {
      return this;
    }
    apply(ledger.detach(detach.sessionId()));
    String jobId = entry.spec().jobId();
    forgetIfIdle(jobId);
    getContext()
        .getLog()
        .info("Session [{}] of job [{}] left [{}]", detach.sessionId(), jobId, gpu.uuid());
    return this;
  }

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

  private Behavior<Command> onUsageReport(UsageReport report) {
    ledger.usageReport(report.sessionId(), report.usedBytes());
    return this;
  }

  private Behavior<Command> onCreditReturn(CreditReturn credit) {
    apply(ledger.creditReturn(credit.sessionId(), credit.epoch(), credit.usedBytes()));
    return this;
  }

  private Behavior<Command> onPlace(Place place) {
    JobEntry job = jobs.computeIfAbsent(place.jobId(), id -> new JobEntry());
    job.user = place.user();
    job.placed = true;
    job.memoryLimitBytes = place.memoryBytes();
    job.smLimitPercent = place.smPercent();
    apply(ledger.setLimit(place.jobId(), place.memoryBytes()));
    getContext()
        .getLog()
        .info(
            "Job [{}] placed on [{}] with [{}] bytes and [{}] % SM",
            place.jobId(),
            gpu.uuid(),
            place.memoryBytes(),
            place.smPercent());
    return this;
  }

  private Behavior<Command> onUnplace(Unplace unplace) {
    JobEntry job = jobs.get(unplace.jobId());
    if (job != null) {
      job.placed = false;
      forgetIfIdle(unplace.jobId());
    }
    return this;
  }

  private Behavior<Command> onGetSnapshot(GetSnapshot get) {
    get.replyTo().tell(snapshot());
    return this;
  }

  private void forgetIfIdle(String jobId) {
    JobEntry job = jobs.get(jobId);
    if (job != null && !job.placed && ledger.sessionsOf(jobId).isEmpty()) {
      jobs.remove(jobId);
      ledger.removeJob(jobId);
    }
  }

  private void reply(SessionEntry entry, long requestId, MemoryLedger.Decision decision) {
    if (decision instanceof MemoryLedger.Granted g) {
      entry
          .ref()
          .tell(
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
          .debug("Refused session [{}] on [{}]: {}", entry.spec().sessionId(), gpu.uuid(), r.reason());
      entry
          .ref()
          .tell(
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
        }
      } else if (effect instanceof MemoryLedger.Resolved r) {
        SessionEntry entry = sessions.get(r.sessionId());
        if (entry != null) {
          reply(entry, r.ticket(), r.decision());
        }
      }
    }
  }

  private GpuSnapshot snapshot() {
    List<GpuSnapshot.JobSnapshot> list = new ArrayList<>();
    long used = 0;
    long committed = 0;
    double smCommitted = 0;
    for (Map.Entry<String, JobEntry> e : jobs.entrySet()) {
      String jobId = e.getKey();
      JobEntry job = e.getValue();
      MemoryLedger.JobUsage usage =
          ledger
              .job(jobId)
              .orElse(new MemoryLedger.JobUsage(jobId, 0, 0, 0, 0, 0, List.of()));
      List<GpuSnapshot.ProcessSnapshot> processes = new ArrayList<>();
      for (MemoryLedger.SessionUsage s : usage.sessions()) {
        SessionEntry entry = sessions.get(s.sessionId());
        int pid = entry == null ? 0 : entry.spec().pid();
        processes.add(new GpuSnapshot.ProcessSnapshot(pid, s.sessionId(), s.usedBytes(), s.heldBytes()));
      }
      used += usage.usedBytes();
      committed += job.memoryLimitBytes;
      smCommitted += job.smLimitPercent;
      list.add(
          new GpuSnapshot.JobSnapshot(
              jobId,
              job.user,
              usage.usedBytes(),
              job.memoryLimitBytes,
              usage.peakBytes(),
              usage.refusals(),
              job.smLimitPercent,
              0,
              0,
              0,
              0,
              0,
              job.placed,
              processes));
    }
    return new GpuSnapshot(gpu, used, committed, smCommitted, list);
  }
}
