package org.softmig.coordinator.cluster;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.StatusReply;

/**
 * The views of a node with no cluster: its own last status, and its jobs' parts kept for {@link
 * JobView#RETENTION} after their last update, as the sharded views would keep them. Plain logic,
 * thread-safe; time is passed in.
 */
final class StandaloneViews {

  private final ClusterSettings settings;
  private NodeStatus last;
  private final Map<String, JobParts> jobs = new HashMap<>();
  private final Map<String, Long> touched = new HashMap<>();

  StandaloneViews(ClusterSettings settings) {
    this.settings = settings;
  }

  synchronized void publishNode(NodeStatus status) {
    last = status.toBuilder().setReachable(true).build();
  }

  /** This node alone; before its first status, listed as not reporting yet. */
  synchronized StatusReply status() {
    NodeStatus node =
        last != null
            ? last
            : NodeStatus.newBuilder()
                .setNode(settings.nodeName())
                .setReachable(false)
                .setHealth("no status yet")
                .build();
    return StatusReply.newBuilder().addNodes(node).build();
  }

  synchronized void publishJob(JobReport part, boolean ended, long nowUnixMs) {
    expire(nowUnixMs);
    jobs.computeIfAbsent(part.getJobId(), j -> new JobParts()).put(part, ended, nowUnixMs);
    touched.put(part.getJobId(), nowUnixMs);
  }

  synchronized List<JobReport> report(String jobId, long nowUnixMs) {
    expire(nowUnixMs);
    JobParts parts = jobs.get(jobId);
    return parts == null ? List.of() : parts.all();
  }

  private void expire(long nowUnixMs) {
    long retention = JobView.RETENTION.toMillis();
    for (String job : new ArrayList<>(touched.keySet())) {
      if (nowUnixMs - touched.get(job) > retention) {
        touched.remove(job);
        jobs.remove(job);
      }
    }
  }
}
