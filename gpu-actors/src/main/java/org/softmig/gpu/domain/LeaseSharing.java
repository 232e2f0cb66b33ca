package org.softmig.gpu.domain;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;

/**
 * The sessions' side of SM leases on one GPU, over a {@link TimeSliceScheduler} that schedules
 * jobs. A job's lease is shared by its sessions (one per process): every session of the holding
 * job that asked gets the grant, a session that asks later joins the running lease with what is
 * left of it, and the lease ends when every session that got it has released it or left. The job
 * is charged the longest GPU time any of them reported.
 *
 * <p><b>Hand-off overlapped with the holder's last kernels.</b> A session may release a lease
 * while its last kernels still run ({@link Release#workPending}): the lease ends at once, so the
 * next job is granted while the GPU finishes the holder's queue, and the job is charged what it
 * reported so far. When that work is done the session sends a second release of the same lease
 * ({@link #workDone}) with when its work began (the grant's arrival) and ended (its last kernel
 * completed). Leases follow one another on the GPU, so the lease's real GPU time is its work's
 * end minus the later of its start and the end of the work before it; the difference from the
 * provisional charge is charged then ({@link TimeSliceScheduler#adjust}), which keeps long-run
 * shares exact through the scheduler's debt accounting. That holds on a device that runs the
 * work of leases one after another. A real GPU switches between processes that both have work
 * queued, so the tail of one job and the first kernels of the next run side by side: on such a
 * device ({@code timeSliced}) the overlap is split, half charged to each job (measured on an
 * H200: charging it all to the finishing job gave a 10/90 pair 31.7/64.2).
 *
 * <p>Grant latency: every grant carries when the GPU became free for it (the latest release that
 * ended the lease before, or the request that found no lease running), in the clock's time base
 * (the node's CLOCK_MONOTONIC in production); the processes report the hand-off they saw in their
 * next release, kept per job ({@link #handoffPercentile}).
 *
 * <p>Plain Java, time passed in, not thread-safe: the owner serialises calls, sends the {@link
 * Effect}s in order, and runs {@link #tick} when {@link #nextDeadlineNanos} is due.
 */
public final class LeaseSharing {

  public sealed interface Effect permits Grant, Revoke, JobGranted {}

  /** Tell the session that its job holds {@code leaseId}; durationNanos 0 = open-ended. */
  public record Grant(long sessionId, long leaseId, long durationNanos, long gpuFreeMonoNanos)
      implements Effect {}

  /** Tell the session to release {@code leaseId} now. */
  public record Revoke(long sessionId, long leaseId) implements Effect {}

  /** The job was granted a lease after asking for {@code waitedNanos} (for metrics). */
  public record JobGranted(String jobId, long waitedNanos) implements Effect {}

  /**
   * A session's release of a lease.
   *
   * @param usedNanos GPU time its work took in the lease (so far, when {@code workPending})
   * @param idle it stopped launching; otherwise it wants the next lease
   * @param releasedMonoNanos when the process sent it (0 = unknown)
   * @param handoffNanos the hand-off the process saw for this lease (0 = unknown)
   * @param workPending its last kernels still run; a work report follows
   * @param workStartMonoNanos with {@code workEndMonoNanos}: this is that work report ({@link
   *     #workDone}), for a lease released with work pending
   * @param workEndMonoNanos when the work ended; 0 = this is not a work report
   */
  public record Release(
      long sessionId,
      long leaseId,
      long usedNanos,
      boolean idle,
      long releasedMonoNanos,
      long handoffNanos,
      boolean workPending,
      long workStartMonoNanos,
      long workEndMonoNanos) {
    public Release(
        long sessionId,
        long leaseId,
        long usedNanos,
        boolean idle,
        long releasedMonoNanos,
        long handoffNanos,
        boolean workPending) {
      this(sessionId, leaseId, usedNanos, idle, releasedMonoNanos, handoffNanos, workPending, 0, 0);
    }

    /** A work report: the second release of a lease released with work pending. */
    public boolean isWorkReport() {
      return workEndMonoNanos > 0;
    }
  }

  private static final int HANDOFF_SAMPLES = 1024;
  private static final int WORK_ENDS_KEPT = 64;

  private final TimeSliceScheduler scheduler;
  private final boolean timeSliced;
  private final Map<String, JobLease> jobs = new LinkedHashMap<>();
  private final Map<Long, JobLease> sessions = new HashMap<>();
  /** When the GPU last became free (end of the last lease, or a request finding none); 0 = n/a. */
  private long gpuFreeAt;
  /** When the work of each recent lease ended, by lease id (leases run in id order). */
  private final TreeMap<Long, WorkEnd> workEnds = new TreeMap<>();

  /** Sharing on a device that runs leases' work one after another (see the class comment). */
  public LeaseSharing(TimeSliceScheduler scheduler) {
    this(scheduler, false);
  }

  /**
   * @param timeSliced the device runs a finishing lease's tail side by side with the next
   *     lease's work (a real GPU switching between processes), so their overlap is split between
   *     the two jobs; false: the next lease's work starts when the tail ends
   */
  public LeaseSharing(TimeSliceScheduler scheduler, boolean timeSliced) {
    this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
    this.timeSliced = timeSliced;
  }

  public TimeSliceScheduler scheduler() {
    return scheduler;
  }

  /** The session belongs to {@code jobId}; a session joins once. */
  public void join(String jobId, long sessionId) {
    JobLease job = jobs.computeIfAbsent(jobId, JobLease::new);
    sessions.put(sessionId, job);
  }

  /** The session has kernels to launch. */
  public List<Effect> request(long sessionId, long now) {
    List<Effect> effects = new ArrayList<>();
    JobLease job = sessions.get(sessionId);
    if (job == null) {
      return effects;
    }
    if (job.leaseId != 0 && !job.holders.contains(sessionId)) {
      long left = job.leaseNanos == 0 ? 0 : job.leaseNanos - (now - job.grantedAt);
      if (job.leaseNanos == 0 || left > 0) {
        job.holders.add(sessionId);
        effects.add(new Grant(sessionId, job.leaseId, left, 0));
        return effects;
      }
    }
    job.startAsking(now);
    job.askers.add(sessionId);
    if (scheduler.currentLeaseId().isEmpty()) {
      gpuFreeAt = now;
    }
    apply(scheduler.request(job.jobId, now), now, effects);
    return effects;
  }

  /**
   * The session is done with a lease (or, with {@code workPending}, with launching in it), or
   * reports the end of the work of a lease released with work pending ({@link
   * Release#isWorkReport}, see {@link #workDone}).
   */
  public List<Effect> release(Release release, long now) {
    if (release.isWorkReport()) {
      return workDone(
          release.sessionId(),
          release.leaseId(),
          release.workStartMonoNanos(),
          release.workEndMonoNanos(),
          now);
    }
    List<Effect> effects = new ArrayList<>();
    JobLease job = sessions.get(release.sessionId());
    if (job == null) {
      return effects;
    }
    if (release.handoffNanos() > 0) {
      job.handoffs.record(release.handoffNanos());
    }
    if (!release.idle()) {
      job.startAsking(now);
      job.askers.add(release.sessionId());
    } else {
      job.askers.remove(release.sessionId());
      job.stopAskingIfNobodyAsks();
    }
    if (release.leaseId() != job.leaseId || !job.holders.remove(release.sessionId())) {
      // A late release of a lease already taken back: the scheduler charges nothing more, but
      // learns that the job is alive.
      apply(
          scheduler.release(
              job.jobId, release.leaseId(), release.usedNanos(), !job.askers.isEmpty(), now),
          now,
          effects);
      return effects;
    }
    job.leaseUsedNanos = Math.max(job.leaseUsedNanos, Math.max(0, release.usedNanos()));
    long releasedAt = release.releasedMonoNanos() > 0 ? release.releasedMonoNanos() : now;
    job.leaseReleasedAt = Math.max(job.leaseReleasedAt, releasedAt);
    if (release.workPending()) {
      job.pendingWork.add(release.sessionId());
    }
    endLeaseIfReleased(job, now, effects);
    return effects;
  }

  /**
   * The session's work in lease {@code leaseId}, released with work pending, began at {@code
   * startMonoNanos} and ended at {@code endMonoNanos}. Once every such session of the lease has
   * reported (or left), the job is charged the difference between the lease's real GPU time and
   * what it was charged at release. Reports for other leases, or twice, change nothing.
   */
  public List<Effect> workDone(
      long sessionId, long leaseId, long startMonoNanos, long endMonoNanos, long now) {
    List<Effect> effects = new ArrayList<>();
    JobLease job = sessions.get(sessionId);
    if (job == null || job.finishing == null || job.finishing.leaseId != leaseId) {
      return effects;
    }
    Finishing f = job.finishing;
    if (!f.sessions.remove(sessionId)) {
      return effects;
    }
    // hostile or skewed clocks: the work began within the lease and ended between the release
    // and now
    long end = Math.min(now, Math.max(endMonoNanos, f.releasedAt));
    long start = Math.min(end, Math.max(startMonoNanos, f.grantedAt));
    f.start = Math.min(f.start, start);
    f.end = Math.max(f.end, end);
    if (f.sessions.isEmpty()) {
      settle(job, now, effects);
    }
    return effects;
  }

  /** The session ended (exit, crash): it leaves the job's lease at once. */
  public List<Effect> leave(long sessionId, long now) {
    List<Effect> effects = new ArrayList<>();
    JobLease job = sessions.remove(sessionId);
    if (job == null) {
      return effects;
    }
    job.askers.remove(sessionId);
    job.stopAskingIfNobodyAsks();
    if (job.finishing != null && job.finishing.sessions.remove(sessionId)) {
      job.finishing.end = Math.max(job.finishing.end, now);
      if (job.finishing.sessions.isEmpty()) {
        settle(job, now, effects);
      }
    }
    if (job.leaseId != 0 && job.holders.remove(sessionId)) {
      job.leaseUsedNanos = Math.max(job.leaseUsedNanos, now - job.grantedAt);
      job.leaseReleasedAt = Math.max(job.leaseReleasedAt, now);
      endLeaseIfReleased(job, now, effects);
    } else if (job.leaseId == 0 && job.askers.isEmpty()) {
      apply(scheduler.withdraw(job.jobId, now), now, effects);
    }
    return effects;
  }

  /** The job is gone from this GPU. */
  public List<Effect> removeJob(String jobId, long now) {
    List<Effect> effects = new ArrayList<>();
    JobLease job = jobs.remove(jobId);
    if (job != null) {
      sessions.values().removeIf(j -> j == job);
    }
    apply(scheduler.removeJob(jobId, now), now, effects);
    return effects;
  }

  /** Runs the scheduler's timers. */
  public List<Effect> tick(long now) {
    List<Effect> effects = new ArrayList<>();
    apply(scheduler.tick(now), now, effects);
    return effects;
  }

  /**
   * Runs the timers already due at {@code now}, at most {@code maxRounds} times: the scheduler
   * often hands the GPU on "now" (right after a release), and that hand-off should not wait for
   * the owner's timer. Empty when nothing is due.
   */
  public List<Effect> tickDue(long now, int maxRounds) {
    List<Effect> effects = new ArrayList<>();
    for (int round = 0; round < maxRounds; round++) {
      OptionalLong deadline = scheduler.nextDeadlineNanos();
      if (deadline.isEmpty() || deadline.getAsLong() > now) {
        break;
      }
      apply(scheduler.tick(now), now, effects);
    }
    return effects;
  }

  /** When {@link #tick} should next run; empty when no timer is pending. */
  public OptionalLong nextDeadlineNanos() {
    return scheduler.nextDeadlineNanos();
  }

  /** A percentile of the hand-offs the job's processes reported (0 = none yet). */
  public long handoffPercentile(String jobId, double q) {
    JobLease job = jobs.get(jobId);
    return job == null ? 0 : job.handoffs.percentile(q);
  }

  // ------------------------------------------------------------------ internals

  private void endLeaseIfReleased(JobLease job, long now, List<Effect> effects) {
    if (!job.holders.isEmpty()) {
      return;
    }
    long leaseId = job.leaseId;
    long used = job.leaseUsedNanos;
    long releasedAt = job.leaseReleasedAt > 0 ? job.leaseReleasedAt : now;
    gpuFreeAt = releasedAt;
    if (!job.pendingWork.isEmpty()) {
      if (job.finishing != null) {
        settle(job, now, effects); // the earlier lease's report is overdue: settle what it said
      }
      job.finishing = new Finishing(leaseId, job.grantedAt, releasedAt, used, job.pendingWork);
      job.pendingWork = new LinkedHashSet<>();
    } else {
      recordWorkEnd(leaseId, job.jobId, releasedAt);
    }
    job.leaseId = 0;
    job.leaseUsedNanos = 0;
    job.leaseReleasedAt = 0;
    apply(scheduler.release(job.jobId, leaseId, used, !job.askers.isEmpty(), now), now, effects);
  }

  /** Charges the finishing lease its real GPU time. */
  private void settle(JobLease job, long now, List<Effect> effects) {
    Finishing f = job.finishing;
    job.finishing = null;
    long end = f.end == Long.MIN_VALUE ? f.releasedAt : f.end;
    long start = f.start == Long.MAX_VALUE ? f.grantedAt : f.start;
    WorkEnd previous = workEndBefore(f.leaseId);
    long real;
    if (previous == null || previous.end <= start) {
      real = Math.max(0, end - start);
    } else if (!timeSliced || previous.jobId.equals(job.jobId)) {
      real = Math.max(0, end - Math.max(start, Math.min(end, previous.end)));
    } else {
      // The GPU ran both jobs' work in the overlap, time-sliced by the driver (a FIFO GPU
      // starts this lease's work only after the previous one's, and there is no overlap):
      // each job pays half of it.  The previous job was charged all of it when it settled.
      long overlap = Math.min(end, previous.end) - start;
      real = Math.max(0, end - start - overlap / 2);
      apply(scheduler.adjust(previous.jobId, -(overlap / 2), now), now, effects);
    }
    recordWorkEnd(f.leaseId, job.jobId, end);
    apply(scheduler.adjust(job.jobId, real - f.chargedNanos, now), now, effects);
  }

  /** When the work of a lease ended on the GPU, and whose it was. */
  private record WorkEnd(String jobId, long end) {}

  private void recordWorkEnd(long leaseId, String jobId, long end) {
    workEnds.put(leaseId, new WorkEnd(jobId, end));
    while (workEnds.size() > WORK_ENDS_KEPT) {
      workEnds.pollFirstEntry();
    }
  }

  /** The latest-ending work of the leases before {@code leaseId} (null: none known). */
  private WorkEnd workEndBefore(long leaseId) {
    WorkEnd latest = null;
    for (WorkEnd w : workEnds.headMap(leaseId).values()) {
      if (latest == null || w.end > latest.end) {
        latest = w;
      }
    }
    return latest;
  }

  private void apply(List<TimeSliceScheduler.Action> actions, long now, List<Effect> effects) {
    for (TimeSliceScheduler.Action action : actions) {
      if (action instanceof TimeSliceScheduler.Grant g) {
        grant(g, now, effects);
      } else if (action instanceof TimeSliceScheduler.Revoke r) {
        revoke(r, now, effects);
      }
    }
  }

  private void grant(TimeSliceScheduler.Grant g, long now, List<Effect> effects) {
    JobLease job = jobs.get(g.jobId());
    if (job == null || job.askers.isEmpty()) {
      // nobody is left to use it: give it straight back
      apply(scheduler.release(g.jobId(), g.leaseId(), 0, false, now), now, effects);
      return;
    }
    job.leaseId = g.leaseId();
    job.grantedAt = now;
    job.leaseNanos = g.durationNanos();
    job.leaseUsedNanos = 0;
    job.leaseReleasedAt = 0;
    job.pendingWork.clear();
    // a lease the scheduler ended by itself (overdue) freed the GPU in this very step
    long gpuFree = gpuFreeAt > 0 ? gpuFreeAt : now;
    gpuFreeAt = 0;
    job.holders.clear();
    job.holders.addAll(job.askers);
    job.askers.clear();
    long waited = job.askingSince == 0 ? 0 : now - job.askingSince;
    job.askingSince = 0;
    effects.add(new JobGranted(g.jobId(), waited));
    for (long sessionId : job.holders) {
      effects.add(new Grant(sessionId, g.leaseId(), g.durationNanos(), gpuFree));
    }
  }

  private void revoke(TimeSliceScheduler.Revoke r, long now, List<Effect> effects) {
    JobLease job = jobs.get(r.jobId());
    if (job == null || job.leaseId != r.leaseId()) {
      return;
    }
    for (long sessionId : job.holders) {
      effects.add(new Revoke(sessionId, r.leaseId()));
    }
    if (scheduler.currentLeaseId().orElse(0) != r.leaseId()) {
      // revoked as overdue: the scheduler has already ended and charged the lease; the holders
      // still want the GPU
      job.startAsking(now);
      job.askers.addAll(job.holders);
      job.holders.clear();
      job.pendingWork.clear();
      job.leaseId = 0;
      job.leaseUsedNanos = 0;
      job.leaseReleasedAt = 0;
    }
  }

  /** A lease released with its last kernels still running, waiting for their end. */
  private static final class Finishing {
    final long leaseId;
    final long grantedAt;
    final long releasedAt;
    final long chargedNanos;
    final Set<Long> sessions;
    long start = Long.MAX_VALUE;
    long end = Long.MIN_VALUE;

    Finishing(long leaseId, long grantedAt, long releasedAt, long chargedNanos, Set<Long> sessions) {
      this.leaseId = leaseId;
      this.grantedAt = grantedAt;
      this.releasedAt = releasedAt;
      this.chargedNanos = chargedNanos;
      this.sessions = sessions;
    }
  }

  private static final class JobLease {
    final String jobId;
    final Set<Long> askers = new LinkedHashSet<>();
    final Set<Long> holders = new LinkedHashSet<>();
    Set<Long> pendingWork = new LinkedHashSet<>();
    Finishing finishing;
    long leaseId;
    long grantedAt;
    long leaseNanos;
    long leaseUsedNanos;
    long askingSince; // when the job started waiting for its next lease; 0 = not waiting
    long leaseReleasedAt; // latest release of the current lease by its holders; 0 = none yet
    final LatencyReservoir handoffs = new LatencyReservoir(HANDOFF_SAMPLES);

    JobLease(String jobId) {
      this.jobId = jobId;
    }

    void startAsking(long now) {
      if (askingSince == 0) {
        askingSince = now;
      }
    }

    void stopAskingIfNobodyAsks() {
      if (askers.isEmpty()) {
        askingSince = 0;
      }
    }
  }
}
