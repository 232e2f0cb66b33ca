package org.softmig.coordinator.slurm;

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
    memoryBytesByOrdinal = Map.copyOf(memoryBytesByOrdinal);
    smPercentByOrdinal = Map.copyOf(smPercentByOrdinal);
  }

  public long memoryFor(int ordinal) {
    return memoryBytesByOrdinal.getOrDefault(ordinal, memoryBytes);
  }

  public double smFor(int ordinal) {
    return smPercentByOrdinal.getOrDefault(ordinal, smPercent);
  }
}
