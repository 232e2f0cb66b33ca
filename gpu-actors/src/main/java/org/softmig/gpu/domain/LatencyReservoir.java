package org.softmig.gpu.domain;

import java.util.Arrays;

/**
 * The most recent latency samples of one job, in a fixed ring buffer, for percentiles in status
 * output. Old samples are overwritten, so memory stays bounded however long the job runs.
 */
public final class LatencyReservoir {

  private final long[] samples;
  private int next;
  private int size;

  public LatencyReservoir(int capacity) {
    if (capacity <= 0) {
      throw new IllegalArgumentException("capacity must be positive, got " + capacity);
    }
    this.samples = new long[capacity];
  }

  public void record(long nanos) {
    samples[next] = nanos;
    next = (next + 1) % samples.length;
    size = Math.min(size + 1, samples.length);
  }

  public int size() {
    return size;
  }

  /**
   * The nearest-rank percentile of the samples kept, for {@code quantile} in [0, 1]; 0 when there
   * are none.
   */
  public long percentile(double quantile) {
    if (quantile < 0 || quantile > 1 || Double.isNaN(quantile)) {
      throw new IllegalArgumentException("quantile must be in [0, 1], got " + quantile);
    }
    if (size == 0) {
      return 0;
    }
    long[] sorted = Arrays.copyOf(samples, size);
    Arrays.sort(sorted);
    int rank = (int) Math.ceil(quantile * size);
    return sorted[Math.max(0, rank - 1)];
  }
}
