package org.softmig.coordinator.nvml;

import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.softmig.gpu.domain.ByteSizes;

/**
 * Chooses the node's {@link GpuInventory} at start-up:
 *
 * <ol>
 *   <li>{@code --simulate SPEC} given: simulated GPUs, NVML is not touched (so a GPU machine can
 *       run the fake driver with the same spec). Refused when real GPUs are required.
 *   <li>Otherwise NVML (libnvidia-ml.so.1, loaded here and only here).
 *   <li>NVML missing or failing: refused when real GPUs are required; else one warning and a
 *       node with no GPUs (it still serves status and the cluster views).
 * </ol>
 */
public final class GpuInventories {
  private static final Logger log = LoggerFactory.getLogger(GpuInventories.class);

  private GpuInventories() {}

  /**
   * @param simulateSpec the {@code --simulate} SPEC, or null/blank for none
   * @param requireReal the node's config demands real GPUs
   * @param simulated builds simulated GPUs from a SPEC (e.g. {@code SimulatedGpus}'s factory)
   * @throws IllegalStateException when real GPUs are required and NVML cannot provide any, or
   *     when a simulation is asked for as well
   */
  public static GpuInventory open(
      String simulateSpec, boolean requireReal, Function<String, GpuInventory> simulated) {
    return open(
        simulateSpec,
        requireReal,
        () -> NvmlLibrary.open(NvmlLibrary.DEFAULT_LIBRARY),
        simulated);
  }

  /** As {@link #open(String, boolean, Function)}, with the NVML loader given (tests). */
  static GpuInventory open(
      String simulateSpec,
      boolean requireReal,
      Supplier<NvmlApi> nvml,
      Function<String, GpuInventory> simulated) {
    boolean simulate = simulateSpec != null && !simulateSpec.isBlank();
    if (simulate) {
      if (requireReal) {
        throw new IllegalStateException(
            "real GPUs are required by the configuration, but --simulate ["
                + simulateSpec
                + "] was given");
      }
      GpuInventory inventory = simulated.apply(simulateSpec.strip());
      log.info("Using [{}] simulated GPUs from [{}]", inventory.gpus().size(), simulateSpec);
      return inventory;
    }
    NvmlApi api;
    try {
      api = nvml.get();
    } catch (NvmlException e) {
      return unavailable(requireReal, e.getMessage());
    }
    NvmlGpuInventory inventory;
    try {
      inventory = NvmlGpuInventory.discover(api);
    } catch (NvmlException e) {
      closeQuietly(api);
      return unavailable(requireReal, e.getMessage());
    }
    if (inventory.gpus().isEmpty() && requireReal) {
      inventory.close();
      throw new IllegalStateException(
          "real GPUs are required by the configuration, but NVML reports none");
    }
    for (GpuInfo g : inventory.gpus()) {
      log.info(
          "GPU [{}] [{}] [{}] [{}] at [{}]{}",
          g.index(),
          g.uuid(),
          g.name(),
          ByteSizes.format(g.memoryTotalBytes()),
          g.pciBusId(),
          g.migEnabled() ? " (MIG enabled: not sliced)" : "");
    }
    return inventory;
  }

  private static GpuInventory unavailable(boolean requireReal, String reason) {
    if (requireReal) {
      throw new IllegalStateException(
          "real GPUs are required by the configuration, but NVML is not available: " + reason);
    }
    log.warn(
        "NVML is not available ({}); this node has no GPUs. Pass --simulate SPEC for simulated"
            + " GPUs.",
        reason);
    return new NoGpus();
  }

  private static void closeQuietly(NvmlApi api) {
    try {
      api.close();
    } catch (RuntimeException e) {
      log.debug("NVML shutdown after a failed discovery failed too", e);
    }
  }

  /** A node without GPUs. */
  private static final class NoGpus implements GpuInventory {
    @Override
    public List<GpuInfo> gpus() {
      return List.of();
    }

    @Override
    public List<ProcessUsage> processes(String uuid) {
      throw new IllegalArgumentException("no GPU with UUID [" + uuid + "] on this node");
    }

    @Override
    public int utilizationPercent(String uuid) {
      throw new IllegalArgumentException("no GPU with UUID [" + uuid + "] on this node");
    }

    @Override
    public void close() {}
  }
}
