package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class LatencyReservoirTest {

  @Test
  void emptyReservoirReportsZero() {
    LatencyReservoir reservoir = new LatencyReservoir(8);

    assertThat(reservoir.percentile(0.5)).isZero();
    assertThat(reservoir.percentile(0.99)).isZero();
  }

  @Test
  void nearestRankPercentiles() {
    LatencyReservoir reservoir = new LatencyReservoir(100);
    for (int i = 100; i >= 1; i--) {
      reservoir.record(i);
    }

    assertThat(reservoir.percentile(0.5)).isEqualTo(50);
    assertThat(reservoir.percentile(0.99)).isEqualTo(99);
    assertThat(reservoir.percentile(1.0)).isEqualTo(100);
    assertThat(reservoir.percentile(0.0)).isEqualTo(1);
  }

  @Test
  void keepsOnlyTheMostRecentSamples() {
    LatencyReservoir reservoir = new LatencyReservoir(4);
    for (int i = 0; i < 10; i++) {
      reservoir.record(1000);
    }
    for (int i = 0; i < 4; i++) {
      reservoir.record(5);
    }

    assertThat(reservoir.size()).isEqualTo(4);
    assertThat(reservoir.percentile(1.0)).isEqualTo(5);
  }

  @Test
  void rejectsBadArguments() {
    assertThatThrownBy(() -> new LatencyReservoir(0)).isInstanceOf(IllegalArgumentException.class);
    LatencyReservoir reservoir = new LatencyReservoir(2);
    assertThatThrownBy(() -> reservoir.percentile(1.5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("1.5");
  }
}
