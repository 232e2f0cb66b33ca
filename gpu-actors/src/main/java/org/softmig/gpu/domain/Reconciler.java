package org.softmig.gpu.domain;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/**
 * Compares what NVML sees on each GPU with what the coordinator's sessions track, once per poll:
 *
 * <ul>
 *   <li>a <b>discrepancy</b> per session: NVML's bytes for the pid (contexts and modules
 *       included) against the bytes the shim reported;
 *   <li>a job's usage <b>as NVML sees it</b>: the sum over its processes on the GPU, those with a
 *       session and those without one whose cgroup names the job;
 *   <li><b>findings</b>: a process on a GPU that holds slices with no session ({@link
 *       Reason#NO_SESSION}), and every process of a job whose NVML usage passes its limit plus a
 *       tolerance ({@link Reason#OVER_LIMIT}); with {@link UnmanagedPolicy#KILL} they are to be
 *       killed.
 * </ul>
 *
 * <p>A condition becomes a finding only after it has held for the grace period (default 3 s), so
 * a process whose Hello is still in flight, or a short spike, is not killed. The state that
 * remembers when each condition was first seen is the only state here; time is passed in.
 *
 * <p>Pids: NVML reports pids in the host's pid namespace and sessions know the pid from
 * SO_PEERCRED in the coordinator's namespace. The coordinator runs in the host namespace (it is a
 * system service), so both are the same; a coordinator in a container would need its own
 * translation before calling this.
 */
public final class Reconciler {
  public static final long DEFAULT_TOLERANCE_BYTES = 64L << 20;
  public static final long DEFAULT_GRACE_NANOS = 3_000_000_000L;

  /**
   * @param toleranceBytes a job is over its limit when NVML sees more than limit + this
   * @param graceNanos how long a condition must last before it is a finding
   * @param exemptUsers users whose processes are reported but never killed (e.g. root)
   */
  public record Settings(
      UnmanagedPolicy policy, long toleranceBytes, long graceNanos, Set<String> exemptUsers) {
    public Settings {
      Objects.requireNonNull(policy, "policy");
      if (toleranceBytes < 0) {
        throw new IllegalArgumentException("toleranceBytes must be >= 0, got " + toleranceBytes);
      }
      if (graceNanos < 0) {
        throw new IllegalArgumentException("graceNanos must be >= 0, got " + graceNanos);
      }
      exemptUsers = Set.copyOf(exemptUsers);
    }

    public static Settings defaults(UnmanagedPolicy policy) {
      return new Settings(policy, DEFAULT_TOLERANCE_BYTES, DEFAULT_GRACE_NANOS, Set.of());
    }
  }

  /** A process NVML lists on a GPU, with the device memory NVML counts for it. */
  public record ObservedProcess(int pid, long usedBytes) {}

  /** A shim session on a GPU: its process, job, user and the bytes the ledger holds for it. */
  public record Session(int pid, String jobId, String user, long trackedBytes) {
    public Session {
      Objects.requireNonNull(jobId, "jobId");
      user = user == null ? "" : user;
    }
  }

  /**
   * Who owns a process without a session, as the kernel says (uid, cgroup). {@code jobId} is
   * empty when the process belongs to no SLURM job.
   */
  public record ProcessOwner(String user, String jobId) {
    public static final ProcessOwner UNKNOWN = new ProcessOwner("", "");

    public ProcessOwner {
      user = user == null ? "" : user;
      jobId = jobId == null ? "" : jobId;
    }
  }

  /**
   * One GPU's inputs.
   *
   * @param holdsSlices some job is placed or limited on this GPU; only then are processes
   *     without a session findings
   * @param jobLimitBytes memory limit per job on this GPU; absent or 0 = no limit
   */
  public record GpuInput(
      String uuid,
      boolean holdsSlices,
      List<ObservedProcess> observed,
      List<Session> sessions,
      Map<String, Long> jobLimitBytes) {
    public GpuInput {
      observed = List.copyOf(observed);
      sessions = List.copyOf(sessions);
      jobLimitBytes = Map.copyOf(jobLimitBytes);
    }
  }

  public enum Reason {
    NO_SESSION("no session"),
    OVER_LIMIT("over limit");

    private final String text;

    Reason(String text) {
      this.text = text;
    }

    /** The wording used in status (UnmanagedProcess.reason). */
    public String text() {
      return text;
    }
  }

  /** NVML's bytes for a session's pid (0 if NVML does not list it) against the tracked bytes. */
  public record Discrepancy(String uuid, int pid, String jobId, long nvmlBytes, long trackedBytes) {
    /** Positive: NVML sees more than the shim reported (contexts, modules, bypassed calls). */
    public long differenceBytes() {
      return nvmlBytes - trackedBytes;
    }
  }

  /** A job's usage on a GPU; {@code overLimit} is the condition now, before any grace period. */
  public record JobUsage(
      String uuid,
      String jobId,
      long nvmlBytes,
      long trackedBytes,
      long limitBytes,
      boolean overLimit) {}

  /**
   * A process to list under unmanaged_processes, and to kill when {@code kill} is set. {@code
   * newlyFound} is true in the first round that reports it (log it then, not every second).
   */
  public record Finding(
      String uuid,
      int pid,
      String user,
      String jobId,
      long usedBytes,
      Reason reason,
      boolean kill,
      boolean newlyFound) {}

  public record Result(
      List<Discrepancy> discrepancies, List<JobUsage> jobs, List<Finding> findings) {
    public Result {
      discrepancies = List.copyOf(discrepancies);
      jobs = List.copyOf(jobs);
      findings = List.copyOf(findings);
    }

    /** Every pid some finding says to kill, once. */
    public Set<Integer> pidsToKill() {
      Set<Integer> pids = new LinkedHashSet<>();
      for (Finding f : findings) {
        if (f.kill()) {
          pids.add(f.pid());
        }
      }
      return pids;
    }
  }

  private record Condition(String uuid, int pid, Reason reason) {}

  private final Settings settings;
  private Map<Condition, Long> firstSeen = new HashMap<>();
  private Set<Condition> reported = new HashSet<>();

  public Reconciler(Settings settings) {
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  public Settings settings() {
    return settings;
  }

  /**
   * The pids NVML lists without a session, on any GPU: the coordinator resolves their owners
   * (uid, cgroup) before calling {@link #reconcile}.
   */
  public static Set<Integer> pidsWithoutSession(List<GpuInput> gpus) {
    Set<Integer> pids = new LinkedHashSet<>();
    for (GpuInput gpu : gpus) {
      Set<Integer> withSession = new HashSet<>();
      for (Session s : gpu.sessions()) {
        withSession.add(s.pid());
      }
      for (ObservedProcess p : gpu.observed()) {
        if (!withSession.contains(p.pid())) {
          pids.add(p.pid());
        }
      }
    }
    return pids;
  }

  /**
   * One reconciliation round over every GPU of the node.
   *
   * @param owners owners of the pids without a session; a pid missing here (it exited, or /proc
   *     could not be read) is reported with an empty user and job
   */
  public Result reconcile(List<GpuInput> gpus, Map<Integer, ProcessOwner> owners, long nowNanos) {
    List<Discrepancy> discrepancies = new ArrayList<>();
    List<JobUsage> jobs = new ArrayList<>();
    List<Candidate> candidates = new ArrayList<>();
    for (GpuInput gpu : gpus) {
      reconcileGpu(gpu, owners, discrepancies, jobs, candidates);
    }
    Map<Condition, Long> seen = new HashMap<>();
    Set<Condition> nowReported = new HashSet<>();
    List<Finding> findings = new ArrayList<>();
    for (Candidate c : candidates) {
      Condition key = new Condition(c.uuid, c.pid, c.reason);
      long since = firstSeen.getOrDefault(key, nowNanos);
      seen.put(key, since);
      if (nowNanos - since >= settings.graceNanos()) {
        nowReported.add(key);
        findings.add(
            new Finding(
                c.uuid,
                c.pid,
                c.user,
                c.jobId,
                c.usedBytes,
                c.reason,
                shouldKill(c),
                !reported.contains(key)));
      }
    }
    firstSeen = seen;
    reported = nowReported;
    findings.sort(Comparator.comparing(Finding::uuid).thenComparingInt(Finding::pid));
    return new Result(discrepancies, jobs, findings);
  }

  private record Candidate(
      String uuid, int pid, String user, String jobId, long usedBytes, Reason reason) {}

  private void reconcileGpu(
      GpuInput gpu,
      Map<Integer, ProcessOwner> owners,
      List<Discrepancy> discrepancies,
      List<JobUsage> jobs,
      List<Candidate> candidates) {
    Map<Integer, Long> nvmlByPid = new TreeMap<>();
    for (ObservedProcess p : gpu.observed()) {
      nvmlByPid.merge(p.pid(), Math.max(0, p.usedBytes()), Long::sum);
    }
    Map<Integer, Session> sessionByPid = new TreeMap<>();
    for (Session s : gpu.sessions()) {
      sessionByPid.merge(
          s.pid(),
          s,
          (a, b) -> new Session(a.pid(), a.jobId(), a.user(), a.trackedBytes() + b.trackedBytes()));
    }

    // Every process of the GPU, attributed to a job: sessions first, then cgroups.
    Map<String, JobTally> tallies = new TreeMap<>();
    for (Session s : sessionByPid.values()) {
      long nvml = nvmlByPid.getOrDefault(s.pid(), 0L);
      discrepancies.add(new Discrepancy(gpu.uuid(), s.pid(), s.jobId(), nvml, s.trackedBytes()));
      tallies
          .computeIfAbsent(s.jobId(), j -> new JobTally())
          .add(s.pid(), s.user(), nvml, s.trackedBytes(), nvmlByPid.containsKey(s.pid()));
    }
    for (Map.Entry<Integer, Long> e : nvmlByPid.entrySet()) {
      int pid = e.getKey();
      if (sessionByPid.containsKey(pid)) {
        continue;
      }
      ProcessOwner owner = owners.getOrDefault(pid, ProcessOwner.UNKNOWN);
      if (gpu.holdsSlices()) {
        candidates.add(
            new Candidate(
                gpu.uuid(), pid, owner.user(), owner.jobId(), e.getValue(), Reason.NO_SESSION));
      }
      if (!owner.jobId().isEmpty()) {
        tallies
            .computeIfAbsent(owner.jobId(), j -> new JobTally())
            .addUnmanaged(pid, owner.user(), e.getValue());
      }
    }

    for (Map.Entry<String, JobTally> e : tallies.entrySet()) {
      String jobId = e.getKey();
      JobTally t = e.getValue();
      long limit = Math.max(0, gpu.jobLimitBytes().getOrDefault(jobId, 0L));
      boolean over = limit > 0 && t.nvmlBytes > saturatedAdd(limit, settings.toleranceBytes());
      jobs.add(new JobUsage(gpu.uuid(), jobId, t.nvmlBytes, t.trackedBytes, limit, over));
      if (over) {
        for (JobTally.Member m : t.members) {
          if (!m.onGpu) {
            continue; // a session NVML does not list holds nothing on this GPU
          }
          if (!m.unmanaged || !gpu.holdsSlices()) {
            // On a GPU with slices a process without a session already is a finding; once is
            // enough.
            candidates.add(
                new Candidate(gpu.uuid(), m.pid, m.user, jobId, m.nvmlBytes, Reason.OVER_LIMIT));
          }
        }
      }
    }
  }

  private boolean shouldKill(Candidate c) {
    return settings.policy() == UnmanagedPolicy.KILL
        && c.pid > 1
        && !settings.exemptUsers().contains(c.user);
  }

  private static long saturatedAdd(long a, long b) {
    long sum = a + b;
    return sum < 0 ? Long.MAX_VALUE : sum;
  }

  /** A job's processes on one GPU, while a round adds them up. */
  private static final class JobTally {
    private record Member(int pid, String user, long nvmlBytes, boolean unmanaged, boolean onGpu) {}

    private final List<Member> members = new ArrayList<>();
    private long nvmlBytes;
    private long trackedBytes;

    void add(int pid, String user, long nvml, long tracked, boolean onGpu) {
      members.add(new Member(pid, user, nvml, false, onGpu));
      nvmlBytes += nvml;
      trackedBytes += tracked;
    }

    void addUnmanaged(int pid, String user, long nvml) {
      members.add(new Member(pid, user, nvml, true, true));
      nvmlBytes += nvml;
    }
  }
}
