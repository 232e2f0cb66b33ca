package org.softmig.gpu.actor;

import java.util.List;

/**
 * What one GPU knows about a job over its life on that GPU, for {@code softmig report}.
 *
 * @param incidents what happened on the GPU while the job was on it (an MPS server shut down in
 *     fault, its control daemon restarted), oldest first
 */
public record JobReportSnapshot(
    String jobId,
    String user,
    String gpuUuid,
    long memoryLimitBytes,
    long memoryPeakBytes,
    double smLimitPercent,
    double smSharePercent,
    long gpuTimeNanos,
    long waitNanos,
    long oomRefusals,
    long startedUnixMs,
    long endedUnixMs,
    List<Integer> pids,
    List<String> incidents) {

  public JobReportSnapshot {
    pids = List.copyOf(pids);
    incidents = List.copyOf(incidents);
  }
}
