package org.softmig.coordinator;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.softmig.gpu.domain.Reconciler;

/**
 * A job's overhead on a GPU: the device memory NVML sees for its processes beyond what its
 * sessions track (contexts, modules, memory taken around the shim), never negative. Each round's
 * figure is the smaller of this round's and the last round's difference, so a one-round spike
 * (a credited session's usage report still on its way while NVML already sees the memory) is not
 * charged to the job. Not thread-safe: the reconciliation thread owns it.
 */
final class OverheadEstimates {

  private Map<String, Map<String, Long>> last = new HashMap<>();

  /**
   * The overhead per job on each GPU of this round's usage. Only the GPUs in {@code gpus} are
   * updated; the others keep their last figures for the next round.
   */
  Map<String, Map<String, Long>> update(List<Reconciler.JobUsage> jobs, List<String> gpus) {
    Map<String, Map<String, Long>> now = new TreeMap<>();
    for (String uuid : gpus) {
      now.put(uuid, new TreeMap<>());
    }
    for (Reconciler.JobUsage j : jobs) {
      Map<String, Long> gpu = now.get(j.uuid());
      if (gpu != null) {
        gpu.put(j.jobId(), Math.max(0, j.nvmlBytes() - j.trackedBytes()));
      }
    }
    Map<String, Map<String, Long>> estimates = new TreeMap<>();
    Map<String, Map<String, Long>> next = new HashMap<>(last);
    for (Map.Entry<String, Map<String, Long>> gpu : now.entrySet()) {
      Map<String, Long> before = last.getOrDefault(gpu.getKey(), Map.of());
      Map<String, Long> estimate = new TreeMap<>();
      gpu.getValue()
          .forEach((job, bytes) -> estimate.put(job, Math.min(bytes, before.getOrDefault(job, bytes))));
      estimates.put(gpu.getKey(), estimate);
      next.put(gpu.getKey(), gpu.getValue());
    }
    last = next;
    return estimates;
  }
}
