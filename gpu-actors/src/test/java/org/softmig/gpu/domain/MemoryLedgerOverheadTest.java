package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.softmig.gpu.domain.MemoryLedger.CreditGrant;
import org.softmig.gpu.domain.MemoryLedger.CreditRevoke;
import org.softmig.gpu.domain.MemoryLedger.Granted;
import org.softmig.gpu.domain.MemoryLedger.Refused;

/** A job's overhead as NVML sees it counts against its limit, the card and its credit. */
class MemoryLedgerOverheadTest {

  static final long GIB = 1L << 30;
  static final long MIB = 1L << 20;

  /** A ledger with job j (limit 10 GiB) in exact mode: two sessions, credit returned. */
  static MemoryLedger exactJob() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 10 * GIB);
    ledger.attach("j", 1, 0);
    ledger.attach("j", 2, 0);
    ledger.expireCredit(1);
    return ledger;
  }

  @Test
  void overheadCountsAgainstTheJobsLimitAndShowsInItsUsage() {
    MemoryLedger ledger = exactJob();
    ledger.setOverhead("j", 512 * MIB);

    assertThat(ledger.reserve(1, 9 * GIB, 0))
        .isEqualTo(new Granted(9 * GIB + 512 * MIB, 10 * GIB, 48 * GIB - 9 * GIB - 512 * MIB));
    Refused refused = (Refused) ledger.reserve(2, 768 * MIB, 0);
    assertThat(refused.jobUsedBytes()).isEqualTo(9 * GIB + 512 * MIB);
    assertThat(ledger.reserve(2, 512 * MIB, 0)).isInstanceOf(Granted.class);
    assertThat(ledger.reserve(2, 1, 0)).isInstanceOf(Refused.class);
  }

  @Test
  void overheadTakesRoomOnTheCardFromEveryJob() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 8 * GIB);
    ledger.attach("a", 1, 0);
    ledger.attach("b", 2, 0);
    ledger.setOverhead("a", 3 * GIB);
    assertThat(ledger.freeBytes()).isEqualTo(5 * GIB);
    assertThat(ledger.reserve(2, 6 * GIB, 0)).isInstanceOf(Refused.class);
    assertThat(ledger.reserve(2, 5 * GIB, 0)).isInstanceOf(Granted.class);
  }

  @Test
  void aLoneSessionIsLentItsLimitLessTheOverhead() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 10 * GIB);
    assertThat(ledger.attach("j", 1, 0)).containsExactly(new CreditGrant(1, 10 * GIB, 1));

    // NVML now sees the context: the 10 GiB credit no longer fits, it is taken back ...
    assertThat(ledger.setOverhead("j", 500 * MIB)).containsExactly(new CreditRevoke(1, 1));
    // ... and lent again, smaller, once the session says what it uses
    ledger.memReport(1, 1, 2 * GIB, 0, 2 * GIB, 0);
    assertThat(ledger.creditReturn(1, 1))
        .containsExactly(new CreditGrant(1, 10 * GIB - 500 * MIB, 2));
    // the same or a smaller overhead leaves the new credit alone
    assertThat(ledger.setOverhead("j", 500 * MIB)).isEmpty();
    assertThat(ledger.setOverhead("j", 400 * MIB)).isEmpty();
  }

  @Test
  void aSessionLeftWithoutCreditIsLentOneWhenTheOverheadShrinks() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 10 * GIB);
    ledger.attach("j", 1, 0);
    ledger.setOverhead("j", 6 * GIB); // a spike: the credit is taken back
    // the session uses 5 GiB: nothing is left to lend under 10 GiB - 6 GiB
    ledger.memReport(1, 1, 5 * GIB, 0, 5 * GIB, 0);
    assertThat(ledger.creditReturn(1, 1)).isEmpty();
    assertThat(ledger.setOverhead("j", 500 * MIB))
        .containsExactly(new CreditGrant(1, 10 * GIB - 500 * MIB, 2));
  }

  @Test
  void removingAJobGivesItsOverheadBackToTheCard() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 8 * GIB);
    ledger.attach("a", 1, 0);
    ledger.setOverhead("a", GIB);
    ledger.detach(1);
    assertThat(ledger.removeJob("a")).isTrue();
    assertThat(ledger.freeBytes()).isEqualTo(8 * GIB);
    assertThat(ledger.overheadBytes("a")).isZero();
    assertThat(ledger.setOverhead("unknown", GIB)).isEmpty();
    assertThat(ledger.freeBytes()).isEqualTo(8 * GIB);
  }

  @Test
  void eachSessionReservesItsContextUntilNvmlMeasuresMore() {
    long gib = 1L << 30;
    long mib = 1L << 20;
    MemoryLedger ledger = new MemoryLedger("gpu0", 80 * gib);
    ledger.setContextReserve(640 * mib);
    ledger.setLimit("j", 2 * gib);
    var effects = ledger.attach("j", 1, 0);
    // the lone session is lent its limit less one context
    assertThat(effects).containsExactly(new MemoryLedger.CreditGrant(1, 2 * gib - 640 * mib, 1));
    assertThat(ledger.overheadBytes("j")).isEqualTo(640 * mib);

    ledger.setOverhead("j", 500 * mib); // measured less: the reserve still counts
    assertThat(ledger.overheadBytes("j")).isEqualTo(640 * mib);
    ledger.setOverhead("j", 900 * mib); // measured more: that counts
    assertThat(ledger.overheadBytes("j")).isEqualTo(900 * mib);

    ledger.attach("j", 2, 0); // two contexts now
    assertThat(ledger.overheadBytes("j")).isEqualTo(1280 * mib);
    ledger.detach(2);
    assertThat(ledger.overheadBytes("j")).isEqualTo(900 * mib);
  }
}
