package org.softmig.coordinator.nvml;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.softmig.coordinator.config.Sizes;

/**
 * GPUs that exist only on paper, for laptops and CI: built from a SPEC such as {@code 48G,48G} or
 * {@code L40S:48G,L40S:48G}. UUIDs follow docs/ARCHITECTURE.md, so the fake CUDA driver given the
 * same SPEC names the same GPUs.
 */
public final class SimulatedGpus implements GpuInventory {

  public static final String DEFAULT_NAME = "Simulated GPU";

  private final List<GpuInfo> gpus;

  private SimulatedGpus(List<GpuInfo> gpus) {
    this.gpus = List.copyOf(gpus);
  }

  /**
   * Parses a SPEC.
   *
   * @throws IllegalArgumentException naming the entry that is wrong
   */
  public static SimulatedGpus fromSpec(String spec) {
    if (spec == null || spec.isBlank()) {
      throw new IllegalArgumentException("empty GPU spec (expected e.g. 48G,48G)");
    }
    List<GpuInfo> gpus = new ArrayList<>();
    String[] entries = spec.split(",", -1);
    for (int i = 0; i < entries.length; i++) {
      String entry = entries[i].trim();
      String name = DEFAULT_NAME;
      String size = entry;
      int colon = entry.lastIndexOf(':');
      if (colon >= 0) {
        name = entry.substring(0, colon).trim();
        size = entry.substring(colon + 1).trim();
        if (name.isEmpty()) {
          throw new IllegalArgumentException("GPU spec entry '" + entry + "' has an empty name");
        }
      }
      long bytes;
      try {
        bytes = Sizes.parse(size);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "GPU spec entry " + i + " '" + entry + "': " + e.getMessage(), e);
      }
      if (bytes <= 0) {
        throw new IllegalArgumentException("GPU spec entry " + i + " '" + entry + "' has no memory");
      }
      gpus.add(
          new GpuInfo(
              uuid(i, name, bytes), i, name, bytes, String.format("00000000:%02X:00.0", i + 1),
              false, true));
    }
    return new SimulatedGpus(gpus);
  }

  /** The UUID of simulated GPU {@code index}, as docs/ARCHITECTURE.md defines it. */
  public static String uuid(int index, String name, long bytes) {
    String s = "softmig-sim:" + index + ":" + name + ":" + bytes;
    String hex = String.format("%016x%016x", fnv1a(s), fnv1a(s + "#2"));
    return "GPU-"
        + hex.substring(0, 8)
        + "-"
        + hex.substring(8, 12)
        + "-"
        + hex.substring(12, 16)
        + "-"
        + hex.substring(16, 20)
        + "-"
        + hex.substring(20, 32);
  }

  static long fnv1a(String s) {
    long hash = 0xcbf29ce484222325L;
    for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
      hash ^= (b & 0xff);
      hash *= 0x100000001b3L;
    }
    return hash;
  }

  @Override
  public List<GpuInfo> gpus() {
    return gpus;
  }

  @Override
  public List<ProcessUsage> processes(String uuid) {
    return List.of();
  }

  @Override
  public int utilizationPercent(String uuid) {
    return -1;
  }

  @Override
  public void close() {}
}
