package org.softmig.coordinator.nvml;

import java.util.List;

/** The GPUs of this node and what runs on them. */
public interface GpuInventory extends AutoCloseable {
  List<GpuInfo> gpus();

  /** Blocking; simulated GPUs: empty list. */
  List<ProcessUsage> processes(String uuid);

  /** Blocking; -1 when unknown. */
  int utilizationPercent(String uuid);

  @Override
  void close();
}
