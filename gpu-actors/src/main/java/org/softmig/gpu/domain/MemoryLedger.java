package org.softmig.gpu.domain;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The exact memory account of one physical GPU: per job its limit (0 = none), per session (one
 * connected process) the bytes it holds.
 *
 * <p>The ledger always records what processes hold, even past a limit: what a session reports
 * it took locally ({@link #memReport}) and what a reconnecting session claims ({@link #attach})
 * are recorded as they come; a job over its limit is then refused every growth until it is under
 * ({@link JobUsage#overLimit}). What the ledger itself decides keeps these invariants:
 *
 * <ul>
 *   <li>a reserve is granted only if the job stays within its limit and the card within its total;
 *   <li>a session's usage moves only by deltas (grants, frees, reported takes and frees): no
 *       message replaces the ledger's count with a figure the process sends;
 *   <li>a job's sessions never hold more than its limit, whatever the order of attaches, credit
 *       grants, revokes, returns, reserves in flight, reports, frees and detaches (checked by
 *       {@code MemoryProtocolSimulationTest} against a model of the shim).
 * </ul>
 *
 * <p>Credit (fast path): while a session is its job's only session, the job has a limit and the
 * session speaks the credit protocol, the session is lent the job's whole remaining limit as a
 * ceiling on its own usage; the ceiling counts as held. When a second session of the job attaches,
 * the ceiling is revoked; reserves of the other sessions of that job wait ({@link Deferred})
 * until the holder has reported its local decisions and returned the credit (or goes away).
 *
 * <p>Reconnect claims: a session that reconnects says what it holds. The claim is recorded for
 * the session and its job (the job may be over its limit because of it), but only the part the
 * ledger can verify counts against the card: at most what the card has free, what the job's limit
 * leaves, and what NVML measured for the process when that is known. The rest is <em>unverified</em>
 * ({@link JobUsage#unverifiedBytes}): it refuses the claimant's own job, never another job.
 *
 * <p>Overhead: device memory a job uses that the shim cannot track (CUDA contexts, loaded modules,
 * anything allocated around the shim), as NVML sees it. The owner sets it per job from the
 * reconciliation ({@link #setOverhead}); it counts against the job's limit and the card like held
 * bytes, shrinks the credit the job can be lent, and is part of the job's usage in every decision
 * ({@code jobUsedBytes}), so cuMemGetInfo shows it too.
 *
 * <p>Not thread-safe: one owner (the GPU actor) calls it.
 */
public final class MemoryLedger {

  /** The answer to a reserve. */
  public sealed interface Decision permits Granted, Refused, Deferred {}

  /**
   * The bytes are the session's; figures are after the decision ({@code jobUsedBytes} is what the
   * job's sessions use, without unused credit).
   */
  public record Granted(long jobUsedBytes, long jobLimitBytes, long deviceFreeBytes)
      implements Decision {}

  /** Not granted; {@code reason} names the numbers. */
  public record Refused(
      String reason, long jobUsedBytes, long jobLimitBytes, long deviceFreeBytes)
      implements Decision {}

  /** Waits for a credit return; resolved later through a {@link Resolved} effect. */
  public record Deferred() implements Decision {}

  /** Something the owner has to tell a session. */
  public sealed interface Effect permits CreditGrant, CreditRevoke, Resolved {}

  /** The session may now use up to {@code ceilingBytes} without asking. */
  public record CreditGrant(long sessionId, long ceilingBytes, long epoch) implements Effect {}

  /** The session must stop allocating locally and return its exact usage. */
  public record CreditRevoke(long sessionId, long epoch) implements Effect {}

  /** A deferred reserve was decided. */
  public record Resolved(long sessionId, long ticket, Decision decision) implements Effect {}

  /**
   * A job's figures, for status. {@code usedBytes} is what its sessions hold (credits not
   * included), {@code overheadBytes} what it uses beyond that (contexts, modules, as NVML sees
   * it); {@code unverifiedBytes} the part of reconnect claims that does not count against the card.
   */
  public record JobUsage(
      String jobId,
      long limitBytes,
      long heldBytes,
      long usedBytes,
      long peakBytes,
      long refusals,
      List<SessionUsage> sessions,
      long overheadBytes,
      long unverifiedBytes) {
    public JobUsage(
        String jobId,
        long limitBytes,
        long heldBytes,
        long usedBytes,
        long peakBytes,
        long refusals,
        List<SessionUsage> sessions) {
      this(jobId, limitBytes, heldBytes, usedBytes, peakBytes, refusals, sessions, 0, 0);
    }

    /** The job holds more than its limit (with its overhead): it gets nothing more until under. */
    public boolean overLimit() {
      return limitBytes > 0 && usedBytes + overheadBytes > limitBytes;
    }
  }

  /** A session's figures, for status. */
  public record SessionUsage(long sessionId, long heldBytes, long usedBytes, long ceilingBytes) {}

  private static final class Job {
    final String id;
    long limit;
    long held;
    long used;
    long peak;
    long refusals;
    long overhead; // what counts: max(measuredOverhead, contextReserve x sessions)
    long measuredOverhead; // NVML's usage beyond the tracked bytes, as last set
    long unverified; // claimed on reconnect, not counted against the card
    final Set<Session> sessions = new LinkedHashSet<>();

    Job(String id) {
      this.id = id;
    }
  }

  private static final class Session {
    final long id;
    final Job job;
    long held;
    long used;
    long unverified; // part of used that does not count against the card (unverified claim)
    long cardHeld; // held - unverified: what counts against the card
    long ceiling; // > 0 while the session holds a credit
    long epoch;
    boolean revoking;
    final boolean creditCapable;

    Session(long id, Job job, boolean creditCapable) {
      this.id = id;
      this.job = job;
      this.creditCapable = creditCapable;
    }

    boolean credited() {
      return ceiling > 0;
    }
  }

  private record Pending(long sessionId, long ticket, long bytes) {}

  private final String name;
  private final long totalBytes;
  private final Map<String, Job> jobs = new LinkedHashMap<>();
  private final Map<Long, Session> sessions = new HashMap<>();
  private final ArrayDeque<Pending> deferred = new ArrayDeque<>();
  private long held;
  private long overheadTotal;
  private boolean settling;
  private long contextReserve;
  private long nextEpoch = 1;

  /**
   * @param name how refusals name the card, e.g. its UUID
   * @param totalBytes the card's memory
   */
  public MemoryLedger(String name, long totalBytes) {
    if (totalBytes <= 0) {
      throw new IllegalArgumentException("total bytes must be positive: " + totalBytes);
    }
    this.name = name;
    this.totalBytes = totalBytes;
  }

  public long totalBytes() {
    return totalBytes;
  }

  /** Bytes held on the card, credits included. */
  public long heldBytes() {
    return held;
  }

  /** What is left on the card after held bytes and every job's overhead. */
  public long freeBytes() {
    return Math.max(0, totalBytes - held - overheadTotal);
  }

  /**
   * Device memory each session is assumed to use beyond what it tracks (its CUDA context) until
   * NVML has measured more: a job's overhead is never less than this times its sessions. Without
   * it, a process that fills its limit within its first second is over the limit in NVML's eyes
   * before reconciliation has seen its context. 0 (the default) on simulated GPUs.
   */
  public void setContextReserve(long bytesPerSession) {
    if (bytesPerSession < 0) {
      throw new IllegalArgumentException("context reserve must not be negative: " + bytesPerSession);
    }
    contextReserve = bytesPerSession;
    jobs.values().forEach(this::refreshOverhead);
  }

  private void refreshOverhead(Job job) {
    long effective = Math.max(job.measuredOverhead, contextReserve * job.sessions.size());
    overheadTotal += effective - job.overhead;
    job.overhead = effective;
  }

  /** A job's overhead as it counts (measured, or the context reserve); 0 for an unknown job. */
  public long overheadBytes(String jobId) {
    Job job = jobs.get(jobId);
    return job == null ? 0 : job.overhead;
  }

  /**
   * Sets the device memory a job uses beyond what its sessions track (NVML's usage minus the
   * tracked bytes; see the class comment). Unknown jobs are ignored. When the job's credit no
   * longer fits under its limit with the new overhead, the credit is revoked so that it is lent
   * again, smaller; a lone session without credit is lent one when there is room again.
   */
  public List<Effect> setOverhead(String jobId, long overheadBytes) {
    if (overheadBytes < 0) {
      throw new IllegalArgumentException("overhead must not be negative: " + overheadBytes);
    }
    Job job = jobs.get(jobId);
    if (job == null || job.measuredOverhead == overheadBytes) {
      return List.of();
    }
    long before = job.overhead;
    job.measuredOverhead = overheadBytes;
    refreshOverhead(job);
    if (job.overhead == before) {
      return List.of();
    }
    List<Effect> effects = new ArrayList<>();
    if (job.limit > 0 && job.held + job.overhead > job.limit) {
      for (Session s : job.sessions) {
        if (s.credited() && !s.revoking) {
          s.revoking = true;
          effects.add(new CreditRevoke(s.id, s.epoch));
        }
      }
    }
    if (effects.isEmpty()) {
      maybeGrantCredit(job, effects); // less overhead may leave room to lend again
    }
    return effects;
  }

  /**
   * After a start: the processes that held memory before are reconnecting, and until they all
   * have the ledger knows only part of what each job holds. While settling it records (attaches
   * with their claims, frees, reports) but decides nothing: reserves wait and no credit is lent,
   * so a job's first session back cannot be given what its other sessions still hold.
   */
  public void startSettling() {
    settling = true;
  }

  /** Settling is over: the reserves that waited are decided in order, then credits lent. */
  public List<Effect> endSettling() {
    settling = false;
    List<Effect> effects = new ArrayList<>();
    for (Job job : List.copyOf(jobs.values())) {
      resolveDeferred(job, effects);
      maybeGrantCredit(job, effects);
    }
    return effects;
  }

  public boolean hasJob(String jobId) {
    return jobs.containsKey(jobId);
  }

  public boolean hasSession(long sessionId) {
    return sessions.containsKey(sessionId);
  }

  /**
   * Sets a job's limit (0 = none), creating the job if needed. A credit the job holds is revoked
   * so that it is granted again under the new limit.
   */
  public List<Effect> setLimit(String jobId, long limitBytes) {
    if (limitBytes < 0) {
      throw new IllegalArgumentException("limit must not be negative: " + limitBytes);
    }
    Job job = jobs.computeIfAbsent(jobId, Job::new);
    if (job.limit == limitBytes) {
      return List.of();
    }
    job.limit = limitBytes;
    List<Effect> effects = new ArrayList<>();
    for (Session s : job.sessions) {
      if (s.credited() && !s.revoking) {
        s.revoking = true;
        effects.add(new CreditRevoke(s.id, s.epoch));
      }
    }
    if (effects.isEmpty()) {
      maybeGrantCredit(job, effects);
    }
    return effects;
  }

  /** Removes a job that has no sessions left; false if it still has some (or is unknown). */
  public boolean removeJob(String jobId) {
    Job job = jobs.get(jobId);
    if (job == null || !job.sessions.isEmpty()) {
      return false;
    }
    jobs.remove(jobId);
    overheadTotal -= job.overhead;
    return true;
  }

  /**
   * A session of a job attaches, holding {@code heldBytes} already (a reconnect; 0 otherwise).
   * What it brings back is accepted even over the job's limit or the card; the job is then refused
   * growth until it is under.
   */
  public List<Effect> attach(String jobId, long sessionId, long heldBytes) {
    return attach(jobId, sessionId, heldBytes, -1, true);
  }

  /**
   * A session attaches. {@code claimedBytes}: what it says it holds already (a reconnect; 0
   * otherwise), recorded in full. {@code measuredBytes}: what NVML measured for the process on this
   * GPU, or -1 when unknown. {@code creditCapable}: whether it speaks the credit protocol (version
   * 2); a session that does not is never lent a credit.
   */
  public List<Effect> attach(
      String jobId, long sessionId, long claimedBytes, long measuredBytes, boolean creditCapable) {
    long heldBytes = claimedBytes;
    if (sessions.containsKey(sessionId)) {
      throw new IllegalStateException("session " + sessionId + " is already attached");
    }
    if (heldBytes < 0) {
      throw new IllegalArgumentException("held bytes must not be negative: " + heldBytes);
    }
    Job job = jobs.computeIfAbsent(jobId, Job::new);
    Session session = new Session(sessionId, job, creditCapable);
    long verified = verifiable(job, heldBytes, measuredBytes);
    List<Effect> effects = new ArrayList<>();
    for (Session other : job.sessions) {
      if (other.credited() && !other.revoking) {
        other.revoking = true;
        effects.add(new CreditRevoke(other.id, other.epoch));
      }
    }
    job.sessions.add(session);
    sessions.put(sessionId, session);
    refreshOverhead(job);
    session.unverified = heldBytes - verified;
    job.unverified += session.unverified;
    setHolding(session, heldBytes, heldBytes);
    maybeGrantCredit(job, effects);
    return effects;
  }

  /** How much of a claim counts against the card (see the class comment). */
  private long verifiable(Job job, long claimed, long measured) {
    long v = Math.min(claimed, freeBytes());
    if (job.limit > 0) {
      v = Math.min(v, Math.max(0, job.limit - job.overhead - job.held));
    }
    if (measured >= 0) {
      v = Math.min(v, measured);
    }
    return Math.max(0, v);
  }

  /**
   * Asks for {@code bytes} more for a session. {@code ticket} comes back in a {@link Resolved}
   * effect if the decision is {@link Deferred}.
   */
  public Decision reserve(long sessionId, long bytes, long ticket) {
    Session session = sessions.get(sessionId);
    if (session == null) {
      return new Refused("unknown session " + sessionId, 0, 0, freeBytes());
    }
    if (bytes < 0) {
      return refuse(session, "a negative size (" + bytes + " bytes)");
    }
    if (settling || (!session.credited() && creditOutstanding(session.job))) {
      deferred.add(new Pending(sessionId, ticket, bytes));
      return new Deferred();
    }
    return decide(session, bytes);
  }

  /** Gives back bytes; never fails, clamps at zero. */
  public void free(long sessionId, long bytes) {
    Session session = sessions.get(sessionId);
    if (session == null || bytes <= 0) {
      return;
    }
    long used = Math.max(0, session.used - bytes);
    shrinkUnverified(session, used);
    setHolding(session, holdingFor(session, used), used);
  }

  /** An unverified claim never exceeds what the session still holds. */
  private void shrinkUnverified(Session session, long newUsed) {
    long u = Math.min(session.unverified, newUsed);
    session.job.unverified -= session.unverified - u;
    session.unverified = u;
  }

  /**
   * What a session decided locally since its previous report, as deltas: {@code takenBytes}
   * allocated under its credit (or while the coordinator was away), {@code freedBytes} released;
   * the highest usage it reached meanwhile and how many allocations it refused locally. Always
   * recorded, even past the job's limit (the ledger tells the truth; the job is then refused
   * growth until under). {@code creditEpoch} is the credit the bytes were decided under (0 =
   * none); any epoch is recorded the same way, it only tells whether the peak can be believed.
   * Returns whether the job is within its limit afterwards.
   */
  public boolean memReport(
      long sessionId,
      long creditEpoch,
      long takenBytes,
      long freedBytes,
      long peakBytes,
      long localRefusals) {
    Session session = sessions.get(sessionId);
    if (session == null) {
      return false;
    }
    long taken = Math.max(0, takenBytes);
    long freed = Math.max(0, freedBytes);
    long used = session.used;
    used = taken > Long.MAX_VALUE - used ? Long.MAX_VALUE : used + taken;
    used = Math.max(0, used - freed);
    shrinkUnverified(session, used);
    setHolding(session, holdingFor(session, used), used);
    Job job = session.job;
    long sessionPeak = Math.max(peakBytes, used);
    if (session.credited() && creditEpoch == session.epoch) {
      sessionPeak = Math.min(sessionPeak, session.ceiling); // a credit holder never passes it
    } else {
      sessionPeak = used;
    }
    job.peak = Math.max(job.peak, job.used - used + sessionPeak);
    job.refusals += Math.max(0, localRefusals);
    return job.limit <= 0 || job.used + job.overhead <= job.limit;
  }

  /** Version 1's absolute usage report: ignored (a version 1 session is never lent a credit). */
  public void usageReport(long sessionId, long usedBytes) {}

  /**
   * The credit holder stopped deciding locally: it has reported every local decision before this
   * (frames of a connection stay in order), so the ceiling drops to the ledger's own count of its
   * usage; deferred reserves of the job are decided. Returns of an old epoch are ignored.
   */
  public List<Effect> creditReturn(long sessionId, long epoch) {
    Session session = sessions.get(sessionId);
    if (session == null || !session.credited() || session.epoch != epoch) {
      return List.of();
    }
    session.ceiling = 0;
    session.revoking = false;
    setHolding(session, session.used, session.used);
    List<Effect> effects = new ArrayList<>();
    resolveDeferred(session.job, effects);
    maybeGrantCredit(session.job, effects);
    return effects;
  }

  /** Ends an outstanding credit as if the holder had returned its last reported usage. */
  public List<Effect> expireCredit(long sessionId) {
    Session session = sessions.get(sessionId);
    if (session == null || !session.credited()) {
      return List.of();
    }
    return creditReturn(sessionId, session.epoch);
  }

  /**
   * Ends the session's credit of {@code epoch} if it is still being revoked (the holder did not
   * answer in time), as if it had returned its last reported usage.
   */
  public List<Effect> expireCredit(long sessionId, long epoch) {
    Session session = sessions.get(sessionId);
    if (session == null || !session.credited() || !session.revoking || session.epoch != epoch) {
      return List.of();
    }
    return creditReturn(sessionId, epoch);
  }

  /** The session went away: everything it held is released at once. */
  public List<Effect> detach(long sessionId) {
    Session session = sessions.remove(sessionId);
    if (session == null) {
      return List.of();
    }
    shrinkUnverified(session, 0);
    setHolding(session, 0, 0);
    Job job = session.job;
    job.sessions.remove(session);
    refreshOverhead(job);
    deferred.removeIf(p -> p.sessionId() == sessionId);
    List<Effect> effects = new ArrayList<>();
    resolveDeferred(job, effects);
    maybeGrantCredit(job, effects);
    return effects;
  }

  /** The sessions of a job, in attach order. */
  public List<Long> sessionsOf(String jobId) {
    Job job = jobs.get(jobId);
    if (job == null) {
      return List.of();
    }
    List<Long> ids = new ArrayList<>();
    job.sessions.forEach(s -> ids.add(s.id));
    return ids;
  }

  public Optional<JobUsage> job(String jobId) {
    Job job = jobs.get(jobId);
    return job == null ? Optional.empty() : Optional.of(usage(job));
  }

  public List<JobUsage> jobs() {
    List<JobUsage> list = new ArrayList<>();
    jobs.values().forEach(j -> list.add(usage(j)));
    list.sort(Comparator.comparing(JobUsage::jobId));
    return list;
  }

  // ------------------------------------------------------------------ internals

  private JobUsage usage(Job job) {
    List<SessionUsage> list = new ArrayList<>();
    for (Session s : job.sessions) {
      list.add(new SessionUsage(s.id, s.held, s.used, s.ceiling));
    }
    return new JobUsage(
        job.id, job.limit, job.held, job.used, job.peak, job.refusals, list, job.overhead,
        job.unverified);
  }

  private static long holdingFor(Session session, long used) {
    return session.credited() ? Math.max(session.ceiling, used) : used;
  }

  /**
   * Sets a session's holding and usage; the card's count moves by the holding less the session's
   * unverified bytes (set before by the caller).
   */
  private void setHolding(Session session, long newHeld, long newUsed) {
    Job job = session.job;
    long heldDelta = newHeld - session.held;
    long usedDelta = newUsed - session.used;
    long cardBefore = session.cardHeld;
    session.held = newHeld;
    session.used = newUsed;
    session.cardHeld = Math.max(0, newHeld - session.unverified);
    job.held += heldDelta;
    job.used += usedDelta;
    job.peak = Math.max(job.peak, job.used);
    held += session.cardHeld - cardBefore;
  }

  private Decision decide(Session session, long bytes) {
    Job job = session.job;
    long newUsed;
    try {
      newUsed = Math.addExact(session.used, bytes);
    } catch (ArithmeticException e) {
      return refuse(session, "a size of " + ByteSizes.format(bytes) + " that overflows");
    }
    long newHeld = holdingFor(session, newUsed);
    long growth = newHeld - session.held;
    if (job.limit > 0 && bytes > 0 && job.used + job.overhead > job.limit - bytes) {
      // Within a credit's ceiling the holding does not grow, but a job already over its limit
      // (a reconnect claim, a report or overhead recorded after the credit was lent) gets
      // nothing more: a reserve the holder sent before its credit arrived is refused too.
      return refuse(session, overLimit(job, bytes, job.used + bytes, "uses", job.used));
    }
    if (growth > 0) {
      if (job.limit > 0 && job.held + job.overhead + growth > job.limit) {
        return refuse(session, overLimit(job, bytes, job.held + growth, "holds", job.held));
      }
      if (growth > freeBytes()) {
        return refuse(
            session,
            String.format(
                "%s do not fit on %s: %s of %s free",
                ByteSizes.format(bytes),
                name,
                ByteSizes.format(freeBytes()),
                ByteSizes.format(totalBytes)));
      }
    }
    setHolding(session, newHeld, newUsed);
    return new Granted(job.used + job.overhead, job.limit, freeBytes());
  }

  /**
   * Why {@code bytes} more would take the job over its limit: to {@code tracked} bytes (what it
   * {@code verb}, {@code current} before) plus what NVML sees beyond them.
   */
  private String overLimit(Job job, long bytes, long tracked, String verb, long current) {
    return String.format(
        "%s would take job %s to %s, over its limit of %s on %s (it %s %s, and %s more as NVML"
            + " sees it)",
        ByteSizes.format(bytes),
        job.id,
        ByteSizes.format(tracked + job.overhead),
        ByteSizes.format(job.limit),
        name,
        verb,
        ByteSizes.format(current),
        ByteSizes.format(job.overhead));
  }

  private Refused refuse(Session session, String reason) {
    session.job.refusals++;
    return new Refused(
        reason, session.job.used + session.job.overhead, session.job.limit, freeBytes());
  }

  private static boolean creditOutstanding(Job job) {
    for (Session s : job.sessions) {
      if (s.credited()) {
        return true;
      }
    }
    return false;
  }

  /** Lends the remaining limit to a job's only session, if it has a limit and no credit. */
  private void maybeGrantCredit(Job job, List<Effect> effects) {
    if (settling || job.limit <= 0 || job.sessions.size() != 1) {
      return;
    }
    Session session = job.sessions.iterator().next();
    if (session.credited() || !session.creditCapable) {
      return;
    }
    long ceiling = Math.min(job.limit - job.overhead, session.held + freeBytes());
    if (ceiling <= session.used) {
      return; // nothing to lend: the job is at (or over) its limit, or the card is full
    }
    session.ceiling = ceiling;
    session.epoch = nextEpoch++;
    session.revoking = false;
    setHolding(session, ceiling, session.used);
    effects.add(new CreditGrant(session.id, ceiling, session.epoch));
  }

  private void resolveDeferred(Job job, List<Effect> effects) {
    if (settling || creditOutstanding(job)) {
      return;
    }
    Iterator<Pending> it = deferred.iterator();
    while (it.hasNext()) {
      Pending p = it.next();
      Session s = sessions.get(p.sessionId());
      if (s == null || s.job != job) {
        continue;
      }
      it.remove();
      effects.add(new Resolved(p.sessionId(), p.ticket(), decide(s, p.bytes())));
    }
  }
}
