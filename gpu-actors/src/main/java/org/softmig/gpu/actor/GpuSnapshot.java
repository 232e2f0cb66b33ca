package org.softmig.gpu.actor;

import java.util.List;

/** What one GPU actor knows, for status and reports. */
public record GpuSnapshot(
    GpuDescriptor gpu,
    long memoryUsedBytes,
    long memoryCommittedBytes,
    double smCommittedPercent,
    List<JobSnapshot> jobs) {

  /**
   * One job on the GPU. {@code memoryOverLimit}: the ledger records more than the job's limit
   * (with its overhead), so it is refused every allocation until under; {@code
   * memoryClampedBytes}: reconnect claims of its processes that could not be verified and count
   * against its own limit only.
   */
  public record JobSnapshot(
      String jobId,
      String user,
      long memoryUsedBytes,
      long memoryLimitBytes,
      long memoryPeakBytes,
      long oomRefusals,
      double smLimitPercent,
      double smSharePercent,
      long gpuTimeNanos,
      long waitNanos,
      long grantLatencyP50Nanos,
      long grantLatencyP99Nanos,
      boolean placed,
      List<ProcessSnapshot> processes,
      boolean memoryOverLimit,
      long memoryClampedBytes) {
    public JobSnapshot(
        String jobId,
        String user,
        long memoryUsedBytes,
        long memoryLimitBytes,
        long memoryPeakBytes,
        long oomRefusals,
        double smLimitPercent,
        double smSharePercent,
        long gpuTimeNanos,
        long waitNanos,
        long grantLatencyP50Nanos,
        long grantLatencyP99Nanos,
        boolean placed,
        List<ProcessSnapshot> processes) {
      this(jobId, user, memoryUsedBytes, memoryLimitBytes, memoryPeakBytes, oomRefusals,
          smLimitPercent, smSharePercent, gpuTimeNanos, waitNanos, grantLatencyP50Nanos,
          grantLatencyP99Nanos, placed, processes, false, 0);
    }
  }

  /** One process (session) of a job. */
  public record ProcessSnapshot(int pid, long sessionId, long usedBytes, long heldBytes) {}
}
