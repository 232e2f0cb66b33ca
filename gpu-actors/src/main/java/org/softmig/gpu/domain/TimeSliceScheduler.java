package org.softmig.gpu.domain;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Decides which job may run kernels on one GPU, and for how long: SM time-slice leases.
 *
 * <p>At most one job holds a lease at a time. A lease has an id (increasing) and a length ({@link
 * Settings#leaseNanos}, 20 ms by default; 0 means open-ended, until revoked). The job's processes
 * launch freely until the lease runs out, then release it and report the GPU time they actually
 * used; that time is what the job is charged, so a kernel that overruns its lease is paid for out
 * of the job's later turns.
 *
 * <p>Two policies:
 *
 * <ul>
 *   <li>{@link Policy#CAP}: a job never gets more than its limit, even on an idle GPU. Each limited
 *       job has a token bucket of GPU nanoseconds filling at limit% of real time; it may start a
 *       lease only when the bucket is not negative. A lease always has the full length: shortening
 *       it to the bucket would multiply context switches without making long-run shares more
 *       exact, since overruns are charged as debt anyway. Credit is clamped to one lease while the
 *       job has nothing to run (idle jobs do not bank time) and to two leases while it waits
 *       behind another job (so that a neighbour's overrun does not cost it its share); it is not
 *       clamped during its own lease, whose time is charged at release. Among the jobs whose
 *       buckets allow a lease, the one that became ready first goes first. Unlimited jobs are
 *       never gated.
 *   <li>{@link Policy#SHARE}: stride scheduling by virtual time with weight = limit percent (no
 *       limit = 100). The waiting job with the smallest virtual time goes next; a lease adds {@code
 *       used / weight} to it. A job that returns after having nothing to run starts at the current
 *       virtual time of the active jobs, so it cannot bank credit. An idle GPU goes to whoever asks.
 * </ul>
 *
 * <p>A job alone on the GPU (no other job waiting) gets an open-ended lease when it has no limit,
 * or under {@code SHARE} whatever its limit; when another job asks, the scheduler revokes it and
 * its release lets the next job in. A holder that does not release within its lease plus {@link
 * Settings#graceNanos} (an open-ended lease: within the grace after its revoke) is revoked,
 * charged the elapsed time and passed over until it is heard from again (a release, even of the
 * old lease, or a request); a late release of the old lease charges nothing more.
 *
 * <p>Plain Java with time passed in as nanoseconds on one monotonic clock (a time earlier than one
 * already seen counts as that time). Not thread-safe: the owner serialises calls. Every method
 * that changes state returns the {@link Action}s the owner must send, in order; after every call
 * the owner re-arms its timer for {@link #nextDeadlineNanos()}.
 *
 * <p>How the shim's messages map onto it: {@code LeaseRequest} is {@link #request}; {@code
 * LeaseRelease} is {@link #release(String, long, long, long)} (the job keeps waiting for its next
 * turn), or with {@code idle = true} {@link #release(String, long, long, boolean, long)} with
 * {@code stillWaiting = false}; when the last session of a job that wanted the GPU closes, {@link
 * #withdraw}; when the job leaves the GPU, {@link #removeJob}.
 */
public final class TimeSliceScheduler {

  public enum Policy {
    CAP,
    SHARE
  }

  public record Settings(Policy policy, long leaseNanos, long graceNanos) {
    public static final long DEFAULT_LEASE_NANOS = 20_000_000L;
    public static final long DEFAULT_GRACE_NANOS = 500_000_000L;

    public Settings {
      Objects.requireNonNull(policy, "policy");
      if (leaseNanos <= 0) {
        throw new IllegalArgumentException("lease length must be positive, got " + leaseNanos);
      }
      if (graceNanos < 0) {
        throw new IllegalArgumentException("grace must not be negative, got " + graceNanos);
      }
    }

    /** 20 ms leases, 500 ms grace. */
    public static Settings defaults(Policy policy) {
      return new Settings(policy, DEFAULT_LEASE_NANOS, DEFAULT_GRACE_NANOS);
    }
  }

  public sealed interface Action permits Grant, Revoke {}

  /** durationNanos 0 = open-ended lease (until revoked). */
  public record Grant(String jobId, long leaseId, long durationNanos) implements Action {}

  public record Revoke(String jobId, long leaseId) implements Action {}

  public record JobStats(
      String jobId,
      double limitPercent,
      double sharePercentLast10s,
      long gpuNanosTotal,
      long waitNanosTotal,
      long grantLatencyP50Nanos,
      long grantLatencyP99Nanos,
      long grants) {}

  /** The window over which {@link JobStats#sharePercentLast10s} is measured. */
  public static final long SHARE_WINDOW_NANOS = 10_000_000_000L;

  private static final int LATENCY_SAMPLES = 1024;

  private final Settings settings;
  private final Map<String, Job> jobs = new LinkedHashMap<>();
  private Lease lease;
  private long nextLeaseId = 1;
  private long nextRequestSeq = 1;
  /** The smallest virtual time among active jobs, never decreasing; a returning job starts here. */
  private double systemVtime;
  private long lastNow = Long.MIN_VALUE;

  public TimeSliceScheduler(Settings settings) {
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  public Settings settings() {
    return settings;
  }

  /**
   * Sets a job's compute limit in percent of the GPU; 0 or anything from 100 up means no limit.
   * Creates the job if it is new. The new limit applies from the job's next lease.
   *
   * @throws IllegalArgumentException for an empty job id or a negative or non-finite percent
   */
  public void setLimit(String jobId, double percent) {
    requireJobId(jobId);
    if (Double.isNaN(percent) || Double.isInfinite(percent) || percent < 0) {
      throw new IllegalArgumentException(
          "SM limit for job " + jobId + " must be a percentage >= 0, got " + percent);
    }
    Job job = jobs.computeIfAbsent(jobId, Job::new);
    job.limitPercent = percent >= 100 ? 100 : percent;
    if (job.waiting) {
      job.readyAt = readyAt(job, job.requestedAt);
    }
  }

  /** The job has work for the GPU. Idempotent: asking again while waiting or holding does nothing. */
  public List<Action> request(String jobId, long nowNanos) {
    requireJobId(jobId);
    long now = advance(nowNanos);
    Job job = jobs.computeIfAbsent(jobId, Job::new);
    job.seen(now);
    List<Action> actions = new ArrayList<>();
    boolean wasUnresponsive = job.unresponsive;
    job.unresponsive = false;
    if (holds(job) || (job.waiting && !wasUnresponsive)) {
      return actions;
    }
    if (!job.waiting) {
      startWaiting(job, now, true);
    }
    revokeOpenEndedIfNeeded(now, actions);
    grantNext(now, actions);
    return actions;
  }

  /**
   * Ends a lease; the job still has work and waits for its next turn. Same as {@link
   * #release(String, long, long, boolean, long)} with {@code stillWaiting = true}.
   */
  public List<Action> release(String jobId, long leaseId, long usedNanos, long nowNanos) {
    return release(jobId, leaseId, usedNanos, true, nowNanos);
  }

  /**
   * Ends the job's lease {@code leaseId} and charges it {@code usedNanos} of GPU time (clamped to
   * the time since the grant). {@code stillWaiting = false} is an idle release: the job leaves the
   * queue until it asks again. A release of a lease that is not the current one (already revoked
   * and charged, or unknown) charges nothing and returns no actions; if it shows that a job passed
   * over as unresponsive is alive, it is scheduled again from the next {@link #tick}.
   */
  public List<Action> release(
      String jobId, long leaseId, long usedNanos, boolean stillWaiting, long nowNanos) {
    requireJobId(jobId);
    long now = advance(nowNanos);
    List<Action> actions = new ArrayList<>();
    Job job = jobs.get(jobId);
    if (job == null) {
      return actions;
    }
    if (lease == null || lease.id != leaseId || !lease.jobId.equals(jobId)) {
      // A late answer for a lease already taken back (or a wrong id): nothing to charge. The job
      // is alive, so it may be scheduled again; what that changes happens at the next tick,
      // which nextDeadlineNanos() reports as due at once.
      job.unresponsive = false;
      if (!stillWaiting) {
        job.waiting = false;
      }
      return actions;
    }
    endLease(Math.max(0, usedNanos), now, stillWaiting);
    grantNext(now, actions);
    return actions;
  }

  /**
   * Charges the job {@code deltaNanos} more GPU time (negative: gives time back) for a lease that
   * has already ended, once its real GPU time is known (a lease released while its last kernels
   * still ran). Through the bucket under {@code CAP} and the virtual time under {@code SHARE},
   * the correction moves the job's later turns, so long-run shares stay exact. Returns the
   * actions it makes due.
   */
  public List<Action> adjust(String jobId, long deltaNanos, long nowNanos) {
    requireJobId(jobId);
    long now = advance(nowNanos);
    List<Action> actions = new ArrayList<>();
    Job job = jobs.get(jobId);
    if (job == null || deltaNanos == 0) {
      return actions;
    }
    settleBucket(job, now);
    job.tokens -= deltaNanos;
    if (!holds(job)) {
      job.tokens = Math.min(job.tokens, (job.waiting ? 2.0 : 1.0) * settings.leaseNanos());
    }
    job.vtime += deltaNanos / weight(job);
    job.gpuNanosTotal = Math.max(0, job.gpuNanosTotal + deltaNanos);
    if (deltaNanos > 0) {
      job.recordUsage(now - deltaNanos, now);
    }
    if (job.waiting) {
      job.readyAt = readyAt(job, job.requestedAt);
    }
    grantNext(now, actions);
    return actions;
  }

  /**
   * No process of the job wants the GPU any more: a waiting job leaves the queue; a holder's lease
   * ends as if released now, charged the time since the grant.
   */
  public List<Action> withdraw(String jobId, long nowNanos) {
    requireJobId(jobId);
    long now = advance(nowNanos);
    List<Action> actions = new ArrayList<>();
    Job job = jobs.get(jobId);
    if (job == null) {
      return actions;
    }
    job.unresponsive = false;
    if (holds(job)) {
      endLease(now - lease.grantedAt, now, false);
      grantNext(now, actions);
    } else {
      job.waiting = false;
    }
    return actions;
  }

  /** The job is gone from this GPU: it is forgotten, and if it held the lease the GPU moves on. */
  public List<Action> removeJob(String jobId, long nowNanos) {
    requireJobId(jobId);
    long now = advance(nowNanos);
    List<Action> actions = new ArrayList<>();
    Job job = jobs.get(jobId);
    if (job == null) {
      return actions;
    }
    if (holds(job)) {
      endLease(now - lease.grantedAt, now, false);
    }
    jobs.remove(jobId);
    grantNext(now, actions);
    return actions;
  }

  /**
   * Runs the timers: revokes an overdue holder, revokes an open-ended lease someone else is
   * waiting for, and grants the GPU to a job whose bucket has refilled.
   */
  public List<Action> tick(long nowNanos) {
    long now = advance(nowNanos);
    List<Action> actions = new ArrayList<>();
    if (lease != null && now >= overdueAt(lease)) {
      Job holder = jobs.get(lease.jobId);
      actions.add(new Revoke(lease.jobId, lease.id));
      endLease(now - lease.grantedAt, now, true);
      holder.unresponsive = true;
    }
    revokeOpenEndedIfNeeded(now, actions);
    grantNext(now, actions);
    return actions;
  }

  /** When {@link #tick} should next run; empty when no timer is pending. */
  public OptionalLong nextDeadlineNanos() {
    long next = Long.MAX_VALUE;
    if (lease != null) {
      if (needsRevoke(lease)) {
        next = lastNow;
      }
      next = Math.min(next, overdueAt(lease));
    } else {
      for (Job job : jobs.values()) {
        if (job.waiting && !job.unresponsive) {
          next = Math.min(next, settings.policy() == Policy.CAP ? job.readyAt : lastNow);
        }
      }
    }
    return next == Long.MAX_VALUE ? OptionalLong.empty() : OptionalLong.of(next);
  }

  public Optional<String> holder() {
    return lease == null ? Optional.empty() : Optional.of(lease.jobId);
  }

  /** The id of the lease in force, if any. */
  public OptionalLong currentLeaseId() {
    return lease == null ? OptionalLong.empty() : OptionalLong.of(lease.id);
  }

  /** Jobs waiting for the GPU, in the order they asked. */
  public List<String> waitingJobs() {
    List<Job> waiting = new ArrayList<>();
    for (Job job : jobs.values()) {
      if (job.waiting) {
        waiting.add(job);
      }
    }
    waiting.sort((a, b) -> Long.compare(a.requestSeq, b.requestSeq));
    List<String> ids = new ArrayList<>();
    for (Job job : waiting) {
      ids.add(job.id);
    }
    return ids;
  }

  public List<JobStats> stats(long nowNanos) {
    long now = advance(nowNanos);
    List<JobStats> result = new ArrayList<>();
    for (Job job : jobs.values()) {
      long waitNanos = job.waitNanosTotal + (job.waiting ? now - job.requestedAt : 0);
      result.add(
          new JobStats(
              job.id,
              job.limitPercent,
              sharePercent(job, now),
              job.gpuNanosTotal,
              waitNanos,
              job.latencies.percentile(0.50),
              job.latencies.percentile(0.99),
              job.grants));
    }
    return result;
  }

  // ---------------------------------------------------------------- leases

  private void grantNext(long now, List<Action> actions) {
    if (lease != null) {
      return;
    }
    Job next = pickNext(now);
    if (next == null) {
      return;
    }
    settleBucket(next, now);
    long waited = now - next.requestedAt;
    next.waiting = false;
    next.waitNanosTotal += waited;
    next.latencies.record(waited);
    next.grants++;
    long duration = contenders(next) == 0 && mayHoldOpenEnded(next) ? 0 : settings.leaseNanos();
    lease = new Lease(nextLeaseId++, next.id, now, duration);
    actions.add(new Grant(next.id, lease.id, duration));
  }

  private Job pickNext(long now) {
    Job best = null;
    for (Job job : jobs.values()) {
      if (!job.waiting || job.unresponsive) {
        continue;
      }
      if (settings.policy() == Policy.CAP) {
        if (job.readyAt <= now && (best == null || readsBefore(job, best))) {
          best = job;
        }
      } else if (best == null || job.vtime < best.vtime
          || (job.vtime == best.vtime && job.requestSeq < best.requestSeq)) {
        best = job;
      }
    }
    return best;
  }

  private static boolean readsBefore(Job a, Job b) {
    return a.readyAt < b.readyAt || (a.readyAt == b.readyAt && a.requestSeq < b.requestSeq);
  }

  /** Ends the current lease, charging its holder; the holder queues again when stillWaiting. */
  private void endLease(long usedNanos, long now, boolean stillWaiting) {
    Job job = jobs.get(lease.jobId);
    long charged = Math.min(usedNanos, now - lease.grantedAt);
    settleBucket(job, now);
    job.tokens -= charged;
    // A job that returned while this one held the GPU started at the holder's running virtual
    // time; the holder ends no earlier, even if it reports less than the time it held the lease.
    job.vtime = Math.max(job.vtime + charged / weight(job), systemVtime);
    job.gpuNanosTotal += charged;
    job.recordUsage(now - charged, now);
    lease = null;
    if (stillWaiting) {
      startWaiting(job, now, false);
    }
  }

  private void startWaiting(Job job, long now, boolean returningFromIdle) {
    if (returningFromIdle) {
      raiseSystemVtime(now);
      job.vtime = Math.max(job.vtime, systemVtime);
    }
    settleBucket(job, now);
    job.waiting = true;
    job.requestedAt = now;
    job.requestSeq = nextRequestSeq++;
    job.readyAt = readyAt(job, now);
  }

  private void revokeOpenEndedIfNeeded(long now, List<Action> actions) {
    if (lease != null && needsRevoke(lease)) {
      lease.revokedAt = now;
      actions.add(new Revoke(lease.jobId, lease.id));
    }
  }

  private boolean needsRevoke(Lease current) {
    if (current.durationNanos != 0 || current.revokedAt >= 0) {
      return false;
    }
    Job job = jobs.get(current.jobId);
    return contenders(job) > 0 || !mayHoldOpenEnded(job);
  }

  private long overdueAt(Lease current) {
    if (current.durationNanos > 0) {
      return saturatedAdd(current.grantedAt, current.durationNanos + settings.graceNanos());
    }
    return current.revokedAt >= 0
        ? saturatedAdd(current.revokedAt, settings.graceNanos())
        : Long.MAX_VALUE;
  }

  private boolean mayHoldOpenEnded(Job job) {
    return settings.policy() == Policy.SHARE || !job.limited();
  }

  /** Jobs other than {@code self} that wait for the GPU and can be scheduled. */
  private int contenders(Job self) {
    int count = 0;
    for (Job job : jobs.values()) {
      if (job != self && job.waiting && !job.unresponsive) {
        count++;
      }
    }
    return count;
  }

  private boolean holds(Job job) {
    return lease != null && lease.jobId.equals(job.id);
  }

  // ---------------------------------------------------------------- share: virtual time

  private static double weight(Job job) {
    return job.limited() ? job.limitPercent : 100;
  }

  private void raiseSystemVtime(long now) {
    double min = Double.POSITIVE_INFINITY;
    for (Job job : jobs.values()) {
      if (job.waiting) {
        min = Math.min(min, job.vtime);
      }
    }
    if (lease != null) {
      Job holder = jobs.get(lease.jobId);
      min = Math.min(min, holder.vtime + (now - lease.grantedAt) / weight(holder));
    }
    if (min != Double.POSITIVE_INFINITY) {
      systemVtime = Math.max(systemVtime, min);
    }
  }

  // ---------------------------------------------------------------- cap: token buckets

  /** Brings the job's bucket up to {@code now}, clamped according to what the job was doing. */
  private void settleBucket(Job job, long now) {
    if (job.tokensAt == Long.MIN_VALUE || !job.limited()) {
      job.tokens = settings.leaseNanos();
      job.tokensAt = now;
      return;
    }
    long elapsed = now - job.tokensAt;
    if (elapsed <= 0) {
      return;
    }
    double filled = job.tokens + elapsed * job.limitPercent / 100.0;
    if (holds(job)) {
      job.tokens = filled;
    } else {
      double ceiling = (job.waiting ? 2.0 : 1.0) * settings.leaseNanos();
      job.tokens = Math.min(filled, ceiling);
    }
    job.tokensAt = now;
  }

  /** The earliest time a waiting job may start a lease. */
  private long readyAt(Job job, long requestedAt) {
    if (settings.policy() != Policy.CAP || !job.limited() || job.tokens >= 0) {
      return requestedAt;
    }
    double rate = job.limitPercent / 100.0;
    long refill = (long) Math.ceil(-job.tokens / rate);
    return Math.max(requestedAt, saturatedAdd(job.tokensAt, refill));
  }

  // ---------------------------------------------------------------- stats

  private double sharePercent(Job job, long now) {
    if (job.firstSeen == Long.MIN_VALUE) {
      return 0;
    }
    long window = Math.min(SHARE_WINDOW_NANOS, now - job.firstSeen);
    if (window <= 0) {
      return 0;
    }
    long from = now - window;
    job.pruneUsage(now);
    long used = 0;
    for (long[] interval : job.usage) {
      used += overlap(interval[0], interval[1], from, now);
    }
    if (holds(job)) {
      used += overlap(lease.grantedAt, now, from, now);
    }
    return Math.min(100.0, 100.0 * used / window);
  }

  private static long overlap(long start, long end, long from, long to) {
    return Math.max(0, Math.min(end, to) - Math.max(start, from));
  }

  // ---------------------------------------------------------------- helpers

  private long advance(long nowNanos) {
    if (nowNanos > lastNow) {
      lastNow = nowNanos;
    }
    return lastNow;
  }

  private static long saturatedAdd(long a, long b) {
    long sum = a + b;
    return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
  }

  private static void requireJobId(String jobId) {
    if (jobId == null || jobId.isEmpty()) {
      throw new IllegalArgumentException("job id must not be empty");
    }
  }

  private static final class Lease {
    final long id;
    final String jobId;
    final long grantedAt;
    final long durationNanos;
    /** When an open-ended lease was revoked; -1 while it was not. */
    long revokedAt = -1;

    Lease(long id, String jobId, long grantedAt, long durationNanos) {
      this.id = id;
      this.jobId = jobId;
      this.grantedAt = grantedAt;
      this.durationNanos = durationNanos;
    }
  }

  private static final class Job {
    final String id;
    /** 0 or 100: no limit. */
    double limitPercent;

    boolean waiting;
    /** Revoked for not releasing in time; skipped until it is heard from again. */
    boolean unresponsive;
    long requestedAt;
    long requestSeq;
    /** CAP: when its bucket allows the next lease. */
    long readyAt;

    /** CAP: credit in GPU nanoseconds; negative after an overrun. */
    double tokens;
    long tokensAt = Long.MIN_VALUE;

    /** SHARE: charged GPU time divided by weight. */
    double vtime;

    long firstSeen = Long.MIN_VALUE;
    long gpuNanosTotal;
    long waitNanosTotal;
    long grants;
    final LatencyReservoir latencies = new LatencyReservoir(LATENCY_SAMPLES);
    /** Charged intervals [start, end] within the share window, oldest first. */
    final ArrayDeque<long[]> usage = new ArrayDeque<>();

    Job(String id) {
      this.id = id;
    }

    boolean limited() {
      return limitPercent > 0 && limitPercent < 100;
    }

    void seen(long now) {
      if (firstSeen == Long.MIN_VALUE) {
        firstSeen = now;
      }
    }

    void recordUsage(long start, long end) {
      if (end > start) {
        usage.addLast(new long[] {start, end});
      }
      pruneUsage(end);
    }

    void pruneUsage(long now) {
      Iterator<long[]> it = usage.iterator();
      while (it.hasNext() && it.next()[1] <= now - SHARE_WINDOW_NANOS) {
        it.remove();
      }
    }
  }
}
