package org.softmig.coordinator;

import java.util.List;
import java.util.Map;
import org.softmig.proto.v1.UnmanagedProcess;

/**
 * What the last reconciliation round saw through NVML, for status: merged into the GPU actors'
 * snapshots by {@link StatusMapping}. Simulated GPUs, and GPUs NVML could not read that round,
 * have no entries.
 *
 * @param gpuUsedBytes NVML's memory in use per GPU UUID
 * @param processBytes NVML's bytes per pid, per GPU UUID (contexts and modules included)
 * @param unmanaged the processes found without a session, or over their job's limit
 */
public record NvmlObservation(
    Map<String, Long> gpuUsedBytes,
    Map<String, Map<Integer, Long>> processBytes,
    List<UnmanagedProcess> unmanaged) {

  public static final NvmlObservation NONE = new NvmlObservation(Map.of(), Map.of(), List.of());

  public NvmlObservation {
    gpuUsedBytes = Map.copyOf(gpuUsedBytes);
    processBytes = Map.copyOf(processBytes);
    unmanaged = List.copyOf(unmanaged);
  }
}
