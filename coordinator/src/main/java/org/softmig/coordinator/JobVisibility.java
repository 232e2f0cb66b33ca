package org.softmig.coordinator;

import java.util.Set;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.ReportReply;
import org.softmig.proto.v1.StatusReply;

/**
 * What one caller of {@code status} and {@code report} may see where the site hides other users'
 * jobs ({@code softmig.status.hide-other-users}): the jobs, reports and unmanaged processes whose
 * user is one of the caller's names (its user name, its uid as text). GPUs, their totals and the
 * nodes' health stay visible. Replies say that others are hidden whether or not anything was left
 * out, so that an answer does not tell whether another user's job exists.
 *
 * @param names the caller's names as jobs record them
 */
public record JobVisibility(Set<String> names) {

  public JobVisibility {
    names = Set.copyOf(names);
  }

  public StatusReply status(StatusReply reply) {
    StatusReply.Builder out = StatusReply.newBuilder().setOthersHidden(true);
    for (NodeStatus n : reply.getNodesList()) {
      NodeStatus.Builder node = n.toBuilder().clearGpus().clearUnmanagedProcesses();
      for (GpuStatus g : n.getGpusList()) {
        GpuStatus.Builder gpu = g.toBuilder().clearJobs();
        g.getJobsList().stream().filter(j -> names.contains(j.getUser())).forEach(gpu::addJobs);
        node.addGpus(gpu);
      }
      n.getUnmanagedProcessesList().stream()
          .filter(u -> names.contains(u.getUser()))
          .forEach(node::addUnmanagedProcesses);
      out.addNodes(node);
    }
    return out.build();
  }

  public ReportReply report(ReportReply reply) {
    ReportReply.Builder out = ReportReply.newBuilder().setOthersHidden(true);
    reply.getReportsList().stream()
        .filter(r -> names.contains(r.getUser()))
        .forEach(out::addReports);
    return out.build();
  }
}
