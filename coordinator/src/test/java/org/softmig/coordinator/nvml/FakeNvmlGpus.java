package org.softmig.coordinator.nvml;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Real {@link NvmlGpuInventory} objects over a {@link FakeNvml}, for tests outside this package:
 * GPUs as NVML would report them, with process lists the test sets while a coordinator samples.
 */
public final class FakeNvmlGpus {

  private final FakeNvml nvml;
  private final NvmlGpuInventory inventory;

  private FakeNvmlGpus(int gpus) {
    this.nvml = new FakeNvml(gpus);
    this.inventory = NvmlGpuInventory.discover(nvml);
  }

  /** {@code gpus} 80 GiB GPUs, UUIDs {@code GPU-0000000i-0000-0000-0000-000000000000}. */
  public static FakeNvmlGpus create(int gpus) {
    return new FakeNvmlGpus(gpus);
  }

  public GpuInventory inventory() {
    return inventory;
  }

  public String uuid(int index) {
    return nvml.devices.get(index).uuid;
  }

  /** Replaces the compute processes NVML lists on a GPU: pid to bytes. */
  public void setProcesses(int index, Map<Integer, Long> bytesByPid) {
    List<NvmlApi.ProcessInfo> list = new ArrayList<>();
    bytesByPid.forEach((pid, bytes) -> list.add(new NvmlApi.ProcessInfo(pid, bytes)));
    long used = bytesByPid.values().stream().mapToLong(Long::longValue).sum();
    synchronized (nvml) {
      nvml.devices.get(index).compute = list;
      nvml.devices.get(index).usedBytes = used;
    }
  }
}
