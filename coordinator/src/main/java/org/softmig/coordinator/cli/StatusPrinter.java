package org.softmig.coordinator.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import org.softmig.coordinator.config.Sizes;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.ReportReply;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.ProcessMemory;
import org.softmig.proto.v1.StatusReply;
import org.softmig.proto.v1.UnmanagedProcess;

/** Prints a status reply as JSON (the documented shape) or as a table for people. */
public final class StatusPrinter {

  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private StatusPrinter() {}

  public static String json(StatusReply reply) {
    ObjectNode root = JSON.createObjectNode();
    ArrayNode nodes = root.putArray("nodes");
    if (reply.getOthersHidden()) {
      root.put("others_hidden", true);
    }
    for (NodeStatus n : reply.getNodesList()) {
      ObjectNode node = nodes.addObject();
      node.put("node", n.getNode());
      node.put("reachable", n.getReachable());
      node.put("health", n.getHealth());
      node.put("updated_unix_ms", n.getUpdatedUnixMs());
      ArrayNode gpus = node.putArray("gpus");
      for (GpuStatus g : n.getGpusList()) {
        ObjectNode gpu = gpus.addObject();
        gpu.put("uuid", g.getUuid());
        gpu.put("index", g.getIndex());
        gpu.put("name", g.getName());
        gpu.put("memory_total_bytes", g.getMemoryTotalBytes());
        gpu.put("memory_used_bytes", g.getMemoryUsedBytes());
        gpu.put("memory_committed_bytes", g.getMemoryCommittedBytes());
        gpu.put("sm_committed_percent", g.getSmCommittedPercent());
        gpu.put("pci_bus_id", g.getPciBusId());
        gpu.put("simulated", g.getSimulated());
        gpu.put("sharing", g.hasMps() ? "mps" : "time-slicing");
        if (g.hasMps()) {
          ObjectNode mps = gpu.putObject("mps");
          mps.put("state", g.getMps().getState());
          mps.put("control_pid", g.getMps().getControlPid());
          ArrayNode servers = mps.putArray("server_pids");
          g.getMps().getServerPidsList().forEach(servers::add);
          mps.put("restarts", g.getMps().getRestarts());
          mps.put("gated", g.getMps().getGated());
          mps.put("pipe_directory", g.getMps().getPipeDirectory());
          mps.put("last_incident", g.getMps().getLastIncident());
        }
        ArrayNode jobs = gpu.putArray("jobs");
        for (JobStatus j : g.getJobsList()) {
          ObjectNode job = jobs.addObject();
          job.put("job_id", j.getJobId());
          job.put("user", j.getUser());
          job.put("memory_used_bytes", j.getMemoryUsedBytes());
          job.put("memory_limit_bytes", j.getMemoryLimitBytes());
          job.put("memory_peak_bytes", j.getMemoryPeakBytes());
          job.put("memory_over_limit", j.getMemoryOverLimit());
          job.put("memory_clamped_bytes", j.getMemoryClampedBytes());
          job.put("sm_limit_percent", j.getSmLimitPercent());
          job.put("sm_share_percent", j.getSmSharePercent());
          ArrayNode pids = job.putArray("processes");
          j.getProcessesList().forEach(pids::add);
          job.put("placed", j.getPlaced());
          job.put("gpu_time_us", j.getGpuTimeUs());
          job.put("throttled_us", j.getThrottledUs());
          job.put("grant_latency_p50_us", j.getGrantLatencyP50Us());
          job.put("grant_latency_p99_us", j.getGrantLatencyP99Us());
          job.put("oom_refusals", j.getOomRefusals());
          ArrayNode memory = job.putArray("process_memory");
          for (ProcessMemory p : j.getProcessMemoryList()) {
            ObjectNode pm = memory.addObject();
            pm.put("pid", p.getPid());
            pm.put("used_bytes", p.getUsedBytes());
            pm.put("tracked_bytes", p.getTrackedBytes());
          }
        }
      }
      ArrayNode unmanaged = node.putArray("unmanaged_processes");
      for (UnmanagedProcess u : n.getUnmanagedProcessesList()) {
        ObjectNode p = unmanaged.addObject();
        p.put("pid", u.getPid());
        p.put("user", u.getUser());
        p.put("job_id", u.getJobId());
        p.put("gpu_uuid", u.getGpuUuid());
        p.put("used_bytes", u.getUsedBytes());
        p.put("reason", u.getReason());
        p.put("killed", u.getKilled());
      }
    }
    try {
      return JSON.writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  public static String reportJson(ReportReply reply) {
    ObjectNode root = JSON.createObjectNode();
    ArrayNode reports = root.putArray("reports");
    if (reply.getOthersHidden()) {
      root.put("others_hidden", true);
    }
    for (JobReport r : reply.getReportsList()) {
      ObjectNode o = reports.addObject();
      o.put("job_id", r.getJobId());
      o.put("user", r.getUser());
      o.put("node", r.getNode());
      o.put("gpu_uuid", r.getGpuUuid());
      o.put("memory_limit_bytes", r.getMemoryLimitBytes());
      o.put("memory_peak_bytes", r.getMemoryPeakBytes());
      o.put("sm_limit_percent", r.getSmLimitPercent());
      o.put("sm_share_percent", r.getSmSharePercent());
      o.put("gpu_time_us", r.getGpuTimeUs());
      o.put("throttled_us", r.getThrottledUs());
      o.put("oom_refusals", r.getOomRefusals());
      o.put("started_unix_ms", r.getStartedUnixMs());
      o.put("ended_unix_ms", r.getEndedUnixMs());
      ArrayNode pids = o.putArray("processes");
      r.getProcessesList().forEach(pids::add);
      ArrayNode incidents = o.putArray("incidents");
      r.getIncidentsList().forEach(incidents::add);
    }
    try {
      return JSON.writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * A job's usage in one line, for SLURM accounting (the Epilog writes it to the job's
   * AdminComment): GPU memory peak and limit, OOM refusals, GPU time and SM share, per GPU the
   * job used; e.g. {@code softmig: GPU-51dc187a memory peak 10.2 GiB of 12.0 GiB, 3 OOM
   * refusals, GPU time 2m05s, SM share 24.5 % of 25.0 %}. Plain printable text, no newline.
   */
  public static String summaryLine(ReportReply reply) {
    StringBuilder b = new StringBuilder("softmig:");
    String sep = " ";
    for (JobReport r : reply.getReportsList()) {
      b.append(sep).append(shortGpu(r.getGpuUuid()));
      b.append(" memory peak ").append(Sizes.format(r.getMemoryPeakBytes()));
      b.append(
          r.getMemoryLimitBytes() == 0
              ? " (no limit)"
              : " of " + Sizes.format(r.getMemoryLimitBytes()));
      b.append(", ").append(r.getOomRefusals()).append(" OOM refusal");
      b.append(r.getOomRefusals() == 1 ? "" : "s");
      b.append(", GPU time ").append(duration(r.getGpuTimeUs()));
      b.append(String.format(Locale.ROOT, ", SM share %.1f %%", r.getSmSharePercent()));
      if (r.getSmLimitPercent() > 0) {
        b.append(String.format(Locale.ROOT, " of %.1f %%", r.getSmLimitPercent()));
      }
      sep = "; ";
    }
    return b.toString();
  }

  /** The first block of a GPU UUID ({@code GPU-51dc187a}), enough to tell a node's GPUs apart. */
  private static String shortGpu(String uuid) {
    String shown = shown(uuid.isEmpty() ? "GPU" : uuid);
    int dash = shown.indexOf('-', shown.startsWith("GPU-") ? 4 : 0);
    return dash > 0 ? shown.substring(0, dash) : shown;
  }

  /** {@code 2.5 s} under a minute, else {@code 2m05s} or {@code 3h02m05s}. */
  static String duration(long micros) {
    double seconds = micros / 1e6;
    if (seconds < 59.95) {
      return String.format(Locale.ROOT, "%.1f s", seconds);
    }
    long s = Math.round(seconds);
    long h = s / 3600;
    long m = (s % 3600) / 60;
    return h > 0
        ? String.format(Locale.ROOT, "%dh%02dm%02ds", h, m, s % 60)
        : String.format(Locale.ROOT, "%dm%02ds", m, s % 60);
  }

  /**
   * The status with only {@code user}'s jobs and unmanaged processes; GPUs where the user has
   * none are left out.
   */
  public static StatusReply onlyUser(StatusReply reply, String user) {
    StatusReply.Builder out = StatusReply.newBuilder().setOthersHidden(reply.getOthersHidden());
    for (NodeStatus n : reply.getNodesList()) {
      NodeStatus.Builder node = n.toBuilder().clearGpus().clearUnmanagedProcesses();
      for (GpuStatus g : n.getGpusList()) {
        GpuStatus.Builder gpu = g.toBuilder().clearJobs();
        g.getJobsList().stream().filter(j -> j.getUser().equals(user)).forEach(gpu::addJobs);
        if (gpu.getJobsCount() > 0) {
          node.addGpus(gpu);
        }
      }
      n.getUnmanagedProcessesList().stream()
          .filter(u -> u.getUser().equals(user))
          .forEach(node::addUnmanagedProcesses);
      out.addNodes(node);
    }
    return out.build();
  }

  public static String table(StatusReply reply) {
    return table(reply, "", null);
  }

  /**
   * The table for people; rows of {@code me}'s jobs start with '>'. {@code only}: the user the
   * reply was narrowed to, or null.
   */
  public static String table(StatusReply reply, String me, String only) {
    StringBuilder b = new StringBuilder();
    for (NodeStatus n : reply.getNodesList()) {
      b.append("node ").append(shown(n.getNode()));
      if (!n.getReachable()) {
        b.append("  UNREACHABLE");
        if (!n.getHealth().isEmpty()) {
          b.append(" (").append(shown(n.getHealth())).append(')');
        }
      }
      if (n.getObserver()) {
        b.append("  observer");
      }
      b.append('\n');
      if (only != null && n.getGpusCount() == 0 && n.getUnmanagedProcessesCount() == 0) {
        b.append("  (no jobs of ").append(only).append(")\n");
      }
      for (GpuStatus g : n.getGpusList()) {
        b.append(
            String.format(
                Locale.ROOT,
                "  GPU %d  %s  %s  %s used of %s%n",
                g.getIndex(),
                shown(g.getUuid()),
                shown(g.getName()),
                Sizes.format(g.getMemoryUsedBytes()),
                Sizes.format(g.getMemoryTotalBytes())));
        if (g.hasMps()) {
          b.append(
              String.format(
                  Locale.ROOT,
                  "    MPS %s, control daemon %d, servers %s, %d restart(s)%s%n",
                  g.getMps().getState(),
                  g.getMps().getControlPid(),
                  g.getMps().getServerPidsList(),
                  g.getMps().getRestarts(),
                  g.getMps().getGated() ? ", time caps" : ""));
        }
        if (g.getJobsCount() == 0) {
          b.append(reply.getOthersHidden() ? "    (no jobs of yours)\n" : "    (no jobs)\n");
          continue;
        }
        b.append(
            String.format(
                Locale.ROOT,
                "    %-14s %-10s %12s %12s %7s %7s  %s%n",
                "JOB", "USER", "MEM USED", "MEM LIMIT", "SM LIM", "SM NOW", "PIDS"));
        for (JobStatus j : g.getJobsList()) {
          b.append(
              String.format(
                  Locale.ROOT,
                  "  %s %-14s %-10s %12s %12s %6.1f%% %6.1f%%  %s%n",
                  !me.isEmpty() && j.getUser().equals(me) ? ">" : " ",
                  shown(j.getJobId()) + (j.getPlaced() ? "*" : ""),
                  shown(j.getUser()),
                  Sizes.format(j.getMemoryUsedBytes()) + (j.getMemoryOverLimit() ? "!" : ""),
                  j.getMemoryLimitBytes() == 0 ? "none" : Sizes.format(j.getMemoryLimitBytes()),
                  j.getSmLimitPercent(),
                  j.getSmSharePercent(),
                  j.getProcessesList()));
        }
      }
      if (n.getGpusList().stream()
          .flatMap(g -> g.getJobsList().stream())
          .anyMatch(JobStatus::getMemoryOverLimit)) {
        b.append("    ! over its memory limit: refused every allocation until back under\n");
      }
      for (UnmanagedProcess u : n.getUnmanagedProcessesList()) {
        b.append(
            String.format(
                Locale.ROOT,
                "  unmanaged pid %d (%s) on %s: %s, %s%n",
                u.getPid(),
                shown(u.getUser()),
                shown(u.getGpuUuid()),
                Sizes.format(u.getUsedBytes()),
                shown(u.getReason())));
      }
    }
    if (reply.getOthersHidden()) {
      b.append("(other users' jobs are not shown on this node)\n");
    }
    return b.toString();
  }

  /** Longest text shown for one field; a longer one ends in "...". */
  static final int MAX_SHOWN = 200;

  /**
   * A string from a coordinator (maybe another node's, maybe a job's) as it may reach a terminal:
   * control and formatting characters (escape sequences, bidirectional overrides) become '?',
   * and it is cut at {@link #MAX_SHOWN} characters.
   */
  public static String shown(String text) {
    StringBuilder b = new StringBuilder(Math.min(text.length(), MAX_SHOWN + 3));
    int count = 0;
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      i += Character.charCount(cp);
      if (count++ == MAX_SHOWN) {
        b.append("...");
        break;
      }
      int type = Character.getType(cp);
      boolean unsafe =
          Character.isISOControl(cp)
              || type == Character.FORMAT
              || type == Character.LINE_SEPARATOR
              || type == Character.PARAGRAPH_SEPARATOR
              || type == Character.PRIVATE_USE
              || type == Character.SURROGATE
              || type == Character.UNASSIGNED;
      if (unsafe) {
        b.append('?');
      } else {
        b.appendCodePoint(cp);
      }
    }
    return b.toString();
  }
}
