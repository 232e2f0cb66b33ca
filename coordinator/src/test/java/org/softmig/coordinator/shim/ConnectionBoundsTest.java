package org.softmig.coordinator.shim;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@link ConnectionLimits} and {@link RateLimitedLog}: plain classes, time passed in. */
class ConnectionBoundsTest {

  @Test
  void capsConnectionsPerUidAndInTotalButNeverRoot() {
    ConnectionLimits limits = new ConnectionLimits(2, 3);
    assertThat(limits.open(1000)).isNull();
    assertThat(limits.open(1000)).isNull();
    assertThat(limits.open(1000)).contains("uid 1000");
    assertThat(limits.open(1001)).isNull();
    assertThat(limits.open(1002)).contains("connections open");
    for (int i = 0; i < 10; i++) {
      assertThat(limits.open(0)).isNull();
    }
    limits.close(1000);
    assertThat(limits.openBy(1000)).isEqualTo(1);
    assertThat(limits.open(1002)).isNull();
    assertThat(limits.open(1000)).contains("connections open");
  }

  @Test
  void closingWhatWasNeverOpenedChangesNothing() {
    ConnectionLimits limits = new ConnectionLimits(1, 1);
    limits.close(5);
    limits.close(0);
    assertThat(limits.open(5)).isNull();
    assertThat(limits.open(6)).isNotNull();
  }

  @Test
  void logsOneLinePerOffenderPerIntervalWithTheCountLeftOut() {
    RateLimitedLog log = new RateLimitedLog(1000, 16);
    assertThat(log.refusal(7, 0)).isEqualTo(new RateLimitedLog.Line(0));
    for (int i = 1; i <= 500; i++) {
      assertThat(log.refusal(7, i)).isNull();
    }
    assertThat(log.refusal(8, 600)).isEqualTo(new RateLimitedLog.Line(0));
    assertThat(log.refusal(7, 1000)).isEqualTo(new RateLimitedLog.Line(500));
    assertThat(log.refusal(7, 1001)).isNull();
    assertThat(log.refusal(7, 2000)).isEqualTo(new RateLimitedLog.Line(1));
  }

  @Test
  void remembersABoundedNumberOfOffenders() {
    RateLimitedLog log = new RateLimitedLog(1000, 2);
    log.refusal(1, 0);
    log.refusal(2, 0);
    log.refusal(3, 0);
    // 1 was forgotten: it logs again at once
    assertThat(log.refusal(1, 1)).isEqualTo(new RateLimitedLog.Line(0));
    assertThat(log.refusal(3, 1)).isNull();
  }
}
