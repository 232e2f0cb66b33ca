package org.softmig.coordinator.nvml;

import java.util.List;

/** The GPUs of this node: real ones through NVML, or simulated ones. */
public interface GpuInventory extends AutoCloseable {

  /** The GPUs, in index order; fixed for the life of the inventory. */
  List<GpuInfo> gpus();

  /** Processes holding memory on a GPU. Blocking; simulated GPUs: an empty list. */
  List<ProcessUsage> processes(String uuid);

  /** Recent SM utilisation in percent. Blocking; -1 when unknown. */
  int utilizationPercent(String uuid);

  @Override
  void close();
}
