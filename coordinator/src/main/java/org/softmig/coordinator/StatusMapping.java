package org.softmig.coordinator;

import java.util.List;
import java.util.Map;
import org.softmig.coordinator.nvml.GpuInfo;
import org.softmig.gpu.actor.GpuSnapshot;
import org.softmig.gpu.actor.JobReportSnapshot;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.ProcessMemory;

/** Turns GPU actor snapshots into the status messages of the wire protocol. */
public final class StatusMapping {

  private StatusMapping() {}

  public static NodeStatus nodeStatus(
      String node, List<GpuSnapshot> snapshots, Map<String, GpuInfo> infoByUuid, long nowMillis) {
    return nodeStatus(node, snapshots, infoByUuid, NvmlObservation.NONE, nowMillis);
  }

  /** With what NVML saw last: memory in use per GPU and per process, unmanaged processes. */
  public static NodeStatus nodeStatus(
      String node,
      List<GpuSnapshot> snapshots,
      Map<String, GpuInfo> infoByUuid,
      NvmlObservation nvml,
      long nowMillis) {
    NodeStatus.Builder n =
        NodeStatus.newBuilder()
            .setNode(node)
            .setReachable(true)
            .setUpdatedUnixMs(nowMillis)
            .setHealth("ok")
            .setObserver(snapshots.isEmpty());
    for (GpuSnapshot s : snapshots) {
      String uuid = s.gpu().uuid();
      n.addGpus(
          gpuStatus(
              s,
              infoByUuid.get(uuid),
              nvml.gpuUsedBytes().get(uuid),
              nvml.processBytes().get(uuid)));
    }
    n.addAllUnmanagedProcesses(nvml.unmanaged());
    return n.build();
  }

  public static GpuStatus gpuStatus(GpuSnapshot s, GpuInfo info) {
    return gpuStatus(s, info, null, null);
  }

  /**
   * @param nvmlUsedBytes NVML's memory in use on the GPU, or null (then the ledger's figure)
   * @param nvmlBytesByPid NVML's bytes per process on the GPU, or null when unknown
   */
  public static GpuStatus gpuStatus(
      GpuSnapshot s, GpuInfo info, Long nvmlUsedBytes, Map<Integer, Long> nvmlBytesByPid) {
    GpuStatus.Builder g =
        GpuStatus.newBuilder()
            .setUuid(s.gpu().uuid())
            .setIndex(s.gpu().index())
            .setName(s.gpu().name())
            .setMemoryTotalBytes(s.gpu().memoryTotalBytes())
            .setMemoryCommittedBytes(s.memoryCommittedBytes())
            .setMemoryUsedBytes(nvmlUsedBytes != null ? nvmlUsedBytes : s.memoryUsedBytes())
            .setSmCommittedPercent(s.smCommittedPercent());
    if (info != null) {
      g.setPciBusId(info.pciBusId()).setSimulated(info.simulated());
    }
    for (GpuSnapshot.JobSnapshot j : s.jobs()) {
      g.addJobs(jobStatus(j, nvmlBytesByPid));
    }
    return g.build();
  }

  public static JobStatus jobStatus(GpuSnapshot.JobSnapshot j) {
    return jobStatus(j, null);
  }

  /** With NVML's bytes per pid ({@code process_memory.used_bytes}), or null when unknown. */
  public static JobStatus jobStatus(GpuSnapshot.JobSnapshot j, Map<Integer, Long> nvmlBytesByPid) {
    JobStatus.Builder b =
        JobStatus.newBuilder()
            .setJobId(j.jobId())
            .setUser(j.user())
            .setMemoryUsedBytes(j.memoryUsedBytes())
            .setMemoryLimitBytes(j.memoryLimitBytes())
            .setSmLimitPercent(j.smLimitPercent())
            .setSmSharePercent(j.smSharePercent())
            .setGpuTimeUs(j.gpuTimeNanos() / 1000)
            .setThrottledUs(j.waitNanos() / 1000)
            .setGrantLatencyP50Us(j.grantLatencyP50Nanos() / 1000)
            .setGrantLatencyP99Us(j.grantLatencyP99Nanos() / 1000)
            .setPlaced(j.placed())
            .setMemoryPeakBytes(j.memoryPeakBytes())
            .setOomRefusals(j.oomRefusals())
            .setMemoryOverLimit(j.memoryOverLimit())
            .setMemoryClampedBytes(j.memoryClampedBytes());
    for (GpuSnapshot.ProcessSnapshot p : j.processes()) {
      b.addProcesses(p.pid());
      ProcessMemory.Builder m =
          ProcessMemory.newBuilder().setPid(p.pid()).setTrackedBytes(p.usedBytes());
      if (nvmlBytesByPid != null) {
        m.setUsedBytes(nvmlBytesByPid.getOrDefault(p.pid(), 0L));
      }
      b.addProcessMemory(m);
    }
    return b.build();
  }

  /** One GPU's part of a job's report, as the wire protocol has it. */
  public static JobReport jobReport(String node, JobReportSnapshot r) {
    return JobReport.newBuilder()
        .setJobId(r.jobId())
        .setUser(r.user())
        .setNode(node)
        .setGpuUuid(r.gpuUuid())
        .setMemoryLimitBytes(r.memoryLimitBytes())
        .setMemoryPeakBytes(r.memoryPeakBytes())
        .setSmLimitPercent(r.smLimitPercent())
        .setSmSharePercent(r.smSharePercent())
        .setGpuTimeUs(r.gpuTimeNanos() / 1000)
        .setThrottledUs(r.waitNanos() / 1000)
        .setOomRefusals(r.oomRefusals())
        .setStartedUnixMs(r.startedUnixMs())
        .setEndedUnixMs(r.endedUnixMs())
        .addAllProcesses(r.pids())
        .addAllIncidents(r.incidents())
        .build();
  }
}
