package org.softmig.coordinator.cluster;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.softmig.proto.v1.JobReport;

/**
 * The parts of one job, one per node and GPU, as its nodes last reported them. A part that has
 * ended keeps its final figures: a late running update from the same node and GPU cannot
 * overwrite them. Plain logic; the JobView entity wraps it.
 */
final class JobParts {

  private final Map<String, JobReport> byNodeAndGpu = new TreeMap<>();

  /**
   * Records one node's part.
   *
   * @param ended the job is over on that node; the part gets {@code nowUnixMs} as its end time
   *     when it carries none
   */
  void put(JobReport part, boolean ended, long nowUnixMs) {
    String key = part.getNode() + "\u0000" + part.getGpuUuid();
    JobReport known = byNodeAndGpu.get(key);
    if (known != null && known.getEndedUnixMs() != 0 && !ended) {
      return; // the final report stays
    }
    JobReport stored =
        ended && part.getEndedUnixMs() == 0 ? part.toBuilder().setEndedUnixMs(nowUnixMs).build() : part;
    byNodeAndGpu.put(key, stored);
  }

  List<JobReport> all() {
    return new ArrayList<>(byNodeAndGpu.values());
  }
}
