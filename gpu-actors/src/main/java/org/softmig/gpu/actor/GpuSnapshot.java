package org.softmig.gpu.actor;

import java.util.List;

/** What one GPU actor knows, for status and reports. */
public record GpuSnapshot(
    GpuDescriptor gpu,
    long memoryUsedBytes,
    long memoryCommittedBytes,
    double smCommittedPercent,
    List<JobSnapshot> jobs) {

  /** One job on the GPU. */
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
      List<ProcessSnapshot> processes) {}

  /** One process (session) of a job. */
  public record ProcessSnapshot(int pid, long sessionId, long usedBytes, long heldBytes) {}
}
