package org.softmig.coordinator.nvml;

import java.util.ArrayList;
import java.util.List;
import org.softmig.gpu.domain.Reconciler;
import org.softmig.proto.v1.ProcessMemory;
import org.softmig.proto.v1.UnmanagedProcess;

/** Between NVML's records, the reconciler's inputs and results, and the status protocol. */
public final class ReconcileMapping {
  private ReconcileMapping() {}

  /** NVML's processes of one GPU as the reconciler's input. */
  public static List<Reconciler.ObservedProcess> observed(List<ProcessUsage> processes) {
    List<Reconciler.ObservedProcess> out = new ArrayList<>(processes.size());
    for (ProcessUsage p : processes) {
      out.add(new Reconciler.ObservedProcess(p.pid(), p.usedBytes()));
    }
    return out;
  }

  /** A finding as status lists it under unmanaged_processes. */
  public static UnmanagedProcess unmanaged(Reconciler.Finding f, boolean killed) {
    return UnmanagedProcess.newBuilder()
        .setPid(f.pid())
        .setUser(f.user())
        .setJobId(f.jobId())
        .setGpuUuid(f.uuid())
        .setUsedBytes(Math.max(0, f.usedBytes()))
        .setReason(f.reason().text())
        .setKilled(killed)
        .build();
  }

  /** A session's NVML and tracked bytes as JobStatus.process_memory lists them. */
  public static ProcessMemory processMemory(Reconciler.Discrepancy d) {
    return ProcessMemory.newBuilder()
        .setPid(d.pid())
        .setUsedBytes(Math.max(0, d.nvmlBytes()))
        .setTrackedBytes(Math.max(0, d.trackedBytes()))
        .build();
  }
}
