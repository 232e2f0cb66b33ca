package org.softmig.gpu.domain;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The jobs on one GPU, for status and reports: who they belong to, their limits, whether they are
 * placed, their processes, the figures gathered over their life (memory peak and refusals from
 * the {@link MemoryLedger}, GPU and wait time from the {@link TimeSliceScheduler}), and the
 * incidents that hit the GPU while they were on it. A job that leaves the GPU ({@link #end}) goes
 * into a bounded history ({@link #HISTORY} jobs, oldest forgotten first) so that its report
 * outlives it; a job that comes back starts afresh.
 *
 * <p>Plain Java, wall-clock times passed in (Unix milliseconds), not thread-safe: the owner
 * serialises calls. The limits that count are the ledger's and the scheduler's; these are the
 * figures shown.
 */
public final class GpuJobs {

  /** Jobs kept after they left the GPU. */
  public static final int HISTORY = 1024;

  /** Incidents kept per job; a GPU that keeps failing does not grow a report without bound. */
  public static final int MAX_INCIDENTS = 32;

  /** What is known of one job on this GPU. */
  public static final class Job {
    private final String jobId;
    private String user = "";
    private long memoryLimitBytes;
    private double smLimitPercent;
    private boolean placed;
    private final long startedUnixMs;
    private long endedUnixMs;
    private final Set<Integer> pids = new TreeSet<>();
    private long peakBytes;
    private long refusals;
    private long gpuNanos;
    private long waitNanos;
    private final List<String> incidents = new ArrayList<>();

    private Job(String jobId, long startedUnixMs) {
      this.jobId = jobId;
      this.startedUnixMs = startedUnixMs;
    }

    public String jobId() {
      return jobId;
    }

    public String user() {
      return user;
    }

    public long memoryLimitBytes() {
      return memoryLimitBytes;
    }

    public double smLimitPercent() {
      return smLimitPercent;
    }

    public boolean placed() {
      return placed;
    }

    public long startedUnixMs() {
      return startedUnixMs;
    }

    /** 0 while the job is on the GPU. */
    public long endedUnixMs() {
      return endedUnixMs;
    }

    /** The pids of the job's processes that used the GPU, ascending. */
    public List<Integer> pids() {
      return List.copyOf(pids);
    }

    /** The highest memory use seen at an update ({@link #memory}). */
    public long peakBytes() {
      return peakBytes;
    }

    public long refusals() {
      return refusals;
    }

    public long gpuNanos() {
      return gpuNanos;
    }

    public long waitNanos() {
      return waitNanos;
    }

    public List<String> incidents() {
      return Collections.unmodifiableList(incidents);
    }

    /** The job's memory figures from the ledger: its peak so far and its refusals. */
    public void memory(long ledgerPeakBytes, long ledgerRefusals) {
      peakBytes = Math.max(peakBytes, ledgerPeakBytes);
      refusals = ledgerRefusals;
    }

    /** The job's compute figures from the scheduler, totals over its life. */
    public void compute(long gpuNanosTotal, long waitNanosTotal) {
      gpuNanos = gpuNanosTotal;
      waitNanos = waitNanosTotal;
    }

    /**
     * The share of the GPU the job had over its life on it, in percent: its GPU time over the time
     * from its start to its end (to {@code nowUnixMs} while it is on the GPU).
     */
    public double smSharePercent(long nowUnixMs) {
      long end = endedUnixMs != 0 ? endedUnixMs : nowUnixMs;
      double lifeNanos = Math.max(1, end - startedUnixMs) * 1e6;
      return Math.min(100, 100.0 * gpuNanos / lifeNanos);
    }
  }

  private final Map<String, Job> live = new LinkedHashMap<>();
  private final LinkedHashMap<String, Job> history =
      new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Job> eldest) {
          return size() > HISTORY;
        }
      };

  /** A process of the job started using the GPU, with the job's limits on it. */
  public Job attach(
      String jobId, String user, long memoryLimitBytes, double smLimitPercent, int pid,
      long nowUnixMs) {
    Job job = job(jobId, nowUnixMs);
    job.user = user;
    job.memoryLimitBytes = memoryLimitBytes;
    job.smLimitPercent = smLimitPercent;
    job.pids.add(pid);
    return job;
  }

  /** The job was placed on the GPU; an empty {@code user} keeps the job's user (a re-place). */
  public Job place(
      String jobId, String user, long memoryLimitBytes, double smLimitPercent, long nowUnixMs) {
    Job job = job(jobId, nowUnixMs);
    if (!user.isEmpty()) {
      job.user = user;
    }
    job.placed = true;
    job.memoryLimitBytes = memoryLimitBytes;
    job.smLimitPercent = smLimitPercent;
    return job;
  }

  /** The job's placement ended; false when the job is not on the GPU. */
  public boolean unplace(String jobId) {
    Job job = live.get(jobId);
    if (job == null) {
      return false;
    }
    job.placed = false;
    return true;
  }

  /** The job on the GPU, if it is. */
  public Optional<Job> live(String jobId) {
    return Optional.ofNullable(live.get(jobId));
  }

  /** The user of the job on the GPU; empty when unknown. */
  public String userOf(String jobId) {
    Job job = live.get(jobId);
    return job == null ? "" : job.user;
  }

  /** The job on the GPU, else the job as it left the GPU, if still in the history. */
  public Optional<Job> liveOrPast(String jobId) {
    Job job = live.get(jobId);
    return Optional.ofNullable(job != null ? job : history.get(jobId));
  }

  /** The jobs on the GPU, in the order they came. */
  public Collection<Job> live() {
    return Collections.unmodifiableCollection(live.values());
  }

  public int liveCount() {
    return live.size();
  }

  /**
   * The job left the GPU: it goes into the history with its end time. Its figures should be
   * brought up to date first ({@link Job#memory}, {@link Job#compute}).
   */
  public void end(String jobId, long nowUnixMs) {
    Job job = live.remove(jobId);
    if (job != null) {
      job.endedUnixMs = nowUnixMs;
      history.put(jobId, job);
    }
  }

  /** Something happened on the GPU: recorded for every job on it (up to {@link #MAX_INCIDENTS}). */
  public void incident(String text) {
    for (Job job : live.values()) {
      if (job.incidents.size() < MAX_INCIDENTS) {
        job.incidents.add(text);
      }
    }
  }

  private Job job(String jobId, long nowUnixMs) {
    return live.computeIfAbsent(
        jobId,
        id -> {
          history.remove(id);
          return new Job(id, nowUnixMs);
        });
  }
}
