package org.softmig.coordinator.slurm;

import java.util.HashMap;
import java.util.Map;

/**
 * A job's limits: for all devices, and per CUDA ordinal where set.
 *
 * @param memoryBytes 0 = none
 * @param smPercent 0 = none
 */
public record JobLimits(
    long memoryBytes,
    double smPercent,
    Map<Integer, Long> memoryBytesByOrdinal,
    Map<Integer, Double> smPercentByOrdinal) {

  public static final JobLimits NONE = new JobLimits(0, 0, Map.of(), Map.of());

  public JobLimits {
    smPercent = smPercent + 0.0; // -0.0 (a client may send it) is the 0 that means none
    memoryBytesByOrdinal = Map.copyOf(memoryBytesByOrdinal);
    Map<Integer, Double> sm = new HashMap<>();
    smPercentByOrdinal.forEach((ordinal, pct) -> sm.put(ordinal, pct + 0.0));
    smPercentByOrdinal = Map.copyOf(sm);
  }

  public long memoryFor(int ordinal) {
    return memoryBytesByOrdinal.getOrDefault(ordinal, memoryBytes);
  }

  public double smFor(int ordinal) {
    return smPercentByOrdinal.getOrDefault(ordinal, smPercent);
  }
}
