package org.softmig.coordinator.nvml;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's real GPUs, read through an {@link NvmlApi}. The GPU list is read once, at {@link
 * #discover}; processes and utilisation are read on every call (blocking: call them from the
 * NVML thread, see {@link NvmlSampler}).
 *
 * <p>Per-process memory is the union of NVML's compute and graphics process lists (a process
 * with both kinds of context appears in both with the same figure, so a pid counts once, at the
 * larger figure). Drivers without the _v3 queries (before R510) are read with _v2, which has the
 * same layout; the first FUNCTION_NOT_FOUND switches to _v2 for good.
 */
public final class NvmlGpuInventory implements GpuInventory {
  private static final Logger log = LoggerFactory.getLogger(NvmlGpuInventory.class);

  private final NvmlApi api;
  private final List<GpuInfo> gpus;
  private final Map<String, Integer> indexByUuid;
  private volatile boolean computeV2;
  private volatile boolean graphicsV2;
  private final Set<Integer> graphicsUnsupported = ConcurrentHashMap.newKeySet();

  private NvmlGpuInventory(NvmlApi api, List<GpuInfo> gpus) {
    this.api = api;
    this.gpus = List.copyOf(gpus);
    Map<String, Integer> byUuid = new TreeMap<>();
    for (GpuInfo g : gpus) {
      byUuid.put(g.uuid(), g.index());
    }
    this.indexByUuid = Collections.unmodifiableMap(byUuid);
  }

  /**
   * Reads every GPU NVML reports. A GPU that cannot be read (no permission, fallen off the bus)
   * is left out with a warning; the others are kept.
   *
   * @throws NvmlException when the GPU count itself cannot be read
   */
  public static NvmlGpuInventory discover(NvmlApi api) {
    int count = api.deviceCount();
    List<GpuInfo> gpus = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      try {
        gpus.add(read(api, i));
      } catch (NvmlException e) {
        log.warn("Leaving out GPU [{}]: {}", i, e.getMessage());
      }
    }
    return new NvmlGpuInventory(api, gpus);
  }

  private static GpuInfo read(NvmlApi api, int index) {
    String uuid = api.uuid(index);
    String name = api.name(index);
    String pciBusId = api.pciBusId(index);
    long total = api.memory(index).totalBytes();
    boolean mig;
    try {
      mig = api.migEnabled(index);
    } catch (NvmlException e) {
      if (!e.isNotSupported()) {
        throw e;
      }
      mig = false;
    }
    return new GpuInfo(uuid, index, name, total, pciBusId, mig, false);
  }

  @Override
  public List<GpuInfo> gpus() {
    return gpus;
  }

  /**
   * The processes holding memory on the GPU, ordered by pid. A figure NVML cannot tell
   * (NVML_VALUE_NOT_AVAILABLE, e.g. without permission in a container) is reported as 0 bytes:
   * the process is still listed, so it is still checked for a session.
   *
   * @throws IllegalArgumentException for a UUID that is not one of {@link #gpus()}
   * @throws NvmlException when NVML fails
   */
  @Override
  public List<ProcessUsage> processes(String uuid) {
    int index = indexOf(uuid);
    Map<Integer, Long> byPid = new TreeMap<>();
    merge(byPid, computeProcesses(index));
    merge(byPid, graphicsProcesses(index));
    List<ProcessUsage> out = new ArrayList<>(byPid.size());
    byPid.forEach((pid, bytes) -> out.add(new ProcessUsage(pid, bytes)));
    return out;
  }

  /**
   * Device memory in use on the whole GPU (nvmlMemory_t.used: total - free, which includes what
   * the driver reserves), whoever holds it. Blocking.
   */
  public long memoryUsedBytes(String uuid) {
    return api.memory(indexOf(uuid)).usedBytes();
  }

  /** -1 when the GPU cannot tell (MIG enabled, or no sample yet). */
  @Override
  public int utilizationPercent(String uuid) {
    int index = indexOf(uuid);
    try {
      return api.utilization(index).gpuPercent();
    } catch (NvmlException e) {
      if (e.isNotSupported() || e.code() == Nvml.NVML_ERROR_NO_DATA) {
        return -1;
      }
      throw e;
    }
  }

  @Override
  public void close() {
    try {
      api.close();
    } catch (RuntimeException e) {
      log.warn("NVML shutdown failed: {}", e.getMessage());
    }
  }

  private List<NvmlApi.ProcessInfo> computeProcesses(int index) {
    if (!computeV2) {
      try {
        return api.computeProcessesV3(index);
      } catch (NvmlException e) {
        if (!e.isFunctionNotFound()) {
          throw e;
        }
        log.info("NVML has no nvmlDeviceGetComputeRunningProcesses_v3; using _v2");
        computeV2 = true;
      }
    }
    return api.computeProcessesV2(index);
  }

  private List<NvmlApi.ProcessInfo> graphicsProcesses(int index) {
    if (graphicsUnsupported.contains(index)) {
      return List.of();
    }
    try {
      if (!graphicsV2) {
        try {
          return api.graphicsProcessesV3(index);
        } catch (NvmlException e) {
          if (!e.isFunctionNotFound()) {
            throw e;
          }
          graphicsV2 = true;
        }
      }
      return api.graphicsProcessesV2(index);
    } catch (NvmlException e) {
      if (!e.isNotSupported() && !e.isFunctionNotFound()) {
        throw e;
      }
      // Compute-only boards and some drivers have no graphics process list: compute is enough.
      graphicsUnsupported.add(index);
      return List.of();
    }
  }

  private static void merge(Map<Integer, Long> byPid, List<NvmlApi.ProcessInfo> infos) {
    for (NvmlApi.ProcessInfo p : infos) {
      long bytes = p.usedBytes() < 0 ? 0 : p.usedBytes();
      byPid.merge(p.pid(), bytes, Math::max);
    }
  }

  private int indexOf(String uuid) {
    Integer index = indexByUuid.get(uuid);
    if (index == null) {
      throw new IllegalArgumentException("no GPU with UUID [" + uuid + "] on this node");
    }
    return index;
  }
}
