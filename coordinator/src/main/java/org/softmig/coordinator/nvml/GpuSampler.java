package org.softmig.coordinator.nvml;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Runs the blocking {@link GpuInventory} queries on one dedicated daemon thread, so that actors
 * and event loops never wait for NVML. An actor asks {@link #sample()} on its timer and gets the
 * result back with {@code pipeToSelf}.
 *
 * <p>A sample that is still running when the next one is asked for (a slow or hung driver) is
 * shared rather than queued behind, so a stuck NVML never piles up work.
 */
public final class GpuSampler implements AutoCloseable {

  /**
   * One GPU's processes, memory in use and utilisation. {@code memoryUsedBytes} is NVML's figure
   * for the whole card, -1 where there is none (simulated GPUs: use the ledger); {@code
   * utilizationPercent} is -1 when unknown; {@code error} is null when everything was read.
   */
  public record GpuSample(
      String uuid,
      List<ProcessUsage> processes,
      long memoryUsedBytes,
      int utilizationPercent,
      String error) {
    public GpuSample {
      processes = List.copyOf(processes);
    }

    public boolean ok() {
      return error == null;
    }
  }

  private final GpuInventory inventory;
  private final ExecutorService executor;
  private CompletableFuture<List<GpuSample>> inFlight;

  public GpuSampler(GpuInventory inventory) {
    this(
        inventory,
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "softmig-nvml");
              t.setDaemon(true);
              return t;
            }));
  }

  /** With the executor given (tests); it is shut down by {@link #close()}. */
  public GpuSampler(GpuInventory inventory, ExecutorService executor) {
    this.inventory = inventory;
    this.executor = executor;
  }

  /** Every GPU of the inventory, in inventory order. Never completes exceptionally per GPU. */
  public synchronized CompletableFuture<List<GpuSample>> sample() {
    if (inFlight != null && !inFlight.isDone()) {
      return inFlight;
    }
    inFlight = CompletableFuture.supplyAsync(this::sampleNow, executor);
    return inFlight;
  }

  private List<GpuSample> sampleNow() {
    List<GpuSample> out = new ArrayList<>();
    for (GpuInfo gpu : inventory.gpus()) {
      out.add(sampleOne(gpu.uuid()));
    }
    return out;
  }

  private GpuSample sampleOne(String uuid) {
    List<ProcessUsage> processes;
    try {
      processes = inventory.processes(uuid);
    } catch (RuntimeException e) {
      return new GpuSample(uuid, List.of(), -1, -1, "processes: " + e.getMessage());
    }
    long used = -1;
    if (inventory instanceof NvmlGpuInventory) {
      try {
        used = ((NvmlGpuInventory) inventory).memoryUsedBytes(uuid);
      } catch (RuntimeException e) {
        return new GpuSample(uuid, processes, -1, -1, "memory: " + e.getMessage());
      }
    }
    try {
      return new GpuSample(uuid, processes, used, inventory.utilizationPercent(uuid), null);
    } catch (RuntimeException e) {
      return new GpuSample(uuid, processes, used, -1, "utilization: " + e.getMessage());
    }
  }

  /** Stops the thread; the inventory stays open (its owner closes it). */
  @Override
  public void close() {
    executor.shutdownNow();
  }
}
