package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.softmig.gpu.domain.MemoryLedger.CreditGrant;
import org.softmig.gpu.domain.MemoryLedger.CreditRevoke;
import org.softmig.gpu.domain.MemoryLedger.Deferred;
import org.softmig.gpu.domain.MemoryLedger.Effect;
import org.softmig.gpu.domain.MemoryLedger.Granted;
import org.softmig.gpu.domain.MemoryLedger.Refused;
import org.softmig.gpu.domain.MemoryLedger.Resolved;

class MemoryLedgerTest {

  static final long GIB = 1L << 30;
  static final long MIB = 1L << 20;

  @Test
  void grantsWithinTheLimitAndRefusesBeyondItWithTheNumbers() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 10 * GIB);
    ledger.attach("j", 1, 0);
    ledger.attach("j", 2, 0); // two sessions: exact mode
    ledger.expireCredit(1);

    assertThat(ledger.reserve(1, 6 * GIB, 0)).isEqualTo(new Granted(6 * GIB, 10 * GIB, 42 * GIB));
    var refused = (Refused) ledger.reserve(2, 5 * GIB, 0);
    assertThat(refused.jobUsedBytes()).isEqualTo(6 * GIB);
    assertThat(refused.jobLimitBytes()).isEqualTo(10 * GIB);
    assertThat(refused.reason())
        .startsWith("5.0 GiB would take job j to 11.0 GiB, over its limit of 10.0 GiB on gpu0")
        .contains("it uses 6.0 GiB")
        .doesNotContain(Long.toString(5 * GIB))
        .doesNotContain(Long.toString(10 * GIB));
    assertThat(ledger.reserve(2, 4 * GIB, 0)).isInstanceOf(Granted.class);
    assertThat(ledger.job("j").orElseThrow().refusals()).isEqualTo(1);
  }

  @Test
  void whileSettlingAfterAStartTheFirstSessionBackGetsNothingItsJobsOthersStillHold() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.startSettling();
    ledger.setLimit("j", GIB);

    // a new process of the job is back first: no credit, its reserve waits
    assertThat(ledger.attach("j", 1, 0)).isEmpty();
    assertThat(ledger.reserve(1, 600 * MIB, 7)).isInstanceOf(Deferred.class);
    // the job's other process reconnects with what it held before the restart
    assertThat(ledger.attach("j", 2, 600 * MIB)).isEmpty();

    List<Effect> effects = ledger.endSettling();

    assertThat(effects).hasSize(1);
    var resolved = (Resolved) effects.get(0);
    assertThat(resolved.sessionId()).isEqualTo(1);
    assertThat(resolved.ticket()).isEqualTo(7);
    assertThat(resolved.decision()).isInstanceOf(Refused.class);
    assertThat(ledger.job("j").orElseThrow().usedBytes()).isEqualTo(600 * MIB);
    assertThat(ledger.reserve(1, 400 * MIB, 8)).isInstanceOf(Granted.class);
  }

  @Test
  void afterSettlingALoneSessionIsLentItsCredit() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.startSettling();
    ledger.setLimit("j", GIB);
    assertThat(ledger.attach("j", 1, 100 * MIB)).isEmpty();

    assertThat(ledger.endSettling()).containsExactly(new CreditGrant(1, GIB, 1));
  }

  @Test
  void refusesWhatDoesNotFitOnTheCardEvenWithoutALimit() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 8 * GIB);
    ledger.attach("a", 1, 0);
    ledger.attach("b", 2, 0);
    assertThat(ledger.reserve(1, 6 * GIB, 0)).isInstanceOf(Granted.class);
    var refused = (Refused) ledger.reserve(2, 3 * GIB, 0);
    assertThat(refused.deviceFreeBytes()).isEqualTo(2 * GIB);
    assertThat(refused.reason()).isEqualTo("3.0 GiB do not fit on gpu0: 2.0 GiB of 8.0 GiB free");
  }

  @Test
  void freesClampAtZeroAndNeverFail() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 8 * GIB);
    ledger.attach("a", 1, 0);
    ledger.reserve(1, GIB, 0);
    ledger.free(1, 5 * GIB);
    ledger.free(99, GIB);
    assertThat(ledger.heldBytes()).isZero();
    assertThat(ledger.job("a").orElseThrow().usedBytes()).isZero();
  }

  @Test
  void detachReleasesEverythingTheSessionHeld() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 8 * GIB);
    ledger.attach("a", 1, 0);
    ledger.attach("a", 2, 0);
    ledger.reserve(1, 3 * GIB, 0);
    ledger.reserve(2, 2 * GIB, 0);
    ledger.detach(1);
    assertThat(ledger.heldBytes()).isEqualTo(2 * GIB);
    ledger.detach(2);
    assertThat(ledger.heldBytes()).isZero();
    assertThat(ledger.reserve(1, 1, 0)).isInstanceOf(Refused.class);
  }

  @Test
  void lendsALoneSessionTheWholeRemainingLimit() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 12 * GIB);
    List<Effect> effects = ledger.attach("j", 1, 0);
    assertThat(effects).containsExactly(new CreditGrant(1, 12 * GIB, 1));
    assertThat(ledger.heldBytes()).isEqualTo(12 * GIB);

    ledger.memReport(1, 1, 5 * GIB, 0, 5 * GIB, 0);
    assertThat(ledger.job("j").orElseThrow().usedBytes()).isEqualTo(5 * GIB);
    assertThat(ledger.job("j").orElseThrow().heldBytes()).isEqualTo(12 * GIB);
    assertThat(ledger.reserve(1, 8 * GIB, 0)).isInstanceOf(Refused.class);
  }

  @Test
  void creditNeverLendsMoreThanTheCardHasFree() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 10 * GIB);
    ledger.attach("other", 9, 0);
    ledger.reserve(9, 7 * GIB, 0);
    ledger.setLimit("j", 8 * GIB);
    assertThat(ledger.attach("j", 1, 0)).containsExactly(new CreditGrant(1, 3 * GIB, 1));
    assertThat(ledger.heldBytes()).isEqualTo(10 * GIB);
  }

  @Test
  void creditHoldersReportTheirPeakAndLocalRefusals() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 10 * GIB);
    ledger.attach("j", 1, 0); // alone: credit of 10 GiB

    ledger.memReport(1, 1, 2 * GIB, 0, 9 * GIB, 3); // went up to 9 GiB, refused 3 times, back at 2
    var job = ledger.job("j").orElseThrow();
    assertThat(job.usedBytes()).isEqualTo(2 * GIB);
    assertThat(job.peakBytes()).isEqualTo(9 * GIB);
    assertThat(job.refusals()).isEqualTo(3);

    ledger.memReport(1, 1, 0, GIB, 40 * GIB, 0); // a peak past the ceiling is not believed
    assertThat(ledger.job("j").orElseThrow().peakBytes()).isEqualTo(10 * GIB);
  }

  @Test
  void secondSessionRevokesTheCreditAndWaitsForItsReturn() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 10 * GIB);
    ledger.attach("j", 1, 0);
    List<Effect> effects = ledger.attach("j", 2, 0);
    assertThat(effects).containsExactly(new CreditRevoke(1, 1));

    assertThat(ledger.reserve(2, 4 * GIB, 77)).isInstanceOf(Deferred.class);
    ledger.memReport(1, 1, 3 * GIB, 0, 3 * GIB, 0);
    List<Effect> resolved = ledger.creditReturn(1, 1);
    assertThat(resolved)
        .containsExactly(new Resolved(2, 77, new Granted(7 * GIB, 10 * GIB, 41 * GIB)));
    assertThat(ledger.heldBytes()).isEqualTo(7 * GIB);
  }

  @Test
  void creditReturnsForAnOldEpochAreIgnored() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 10 * GIB);
    ledger.attach("j", 1, 0);
    ledger.attach("j", 2, 0);
    assertThat(ledger.creditReturn(1, 42)).isEmpty();
    assertThat(ledger.job("j").orElseThrow().heldBytes()).isEqualTo(10 * GIB);
  }

  @Test
  void creditHolderLeavingResolvesWaitingReservesAndLendsToTheSurvivor() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 10 * GIB);
    ledger.attach("j", 1, 0);
    ledger.attach("j", 2, 0);
    ledger.reserve(2, 2 * GIB, 5);
    List<Effect> effects = ledger.detach(1);
    assertThat(effects)
        .containsExactly(
            new Resolved(2, 5, new Granted(2 * GIB, 10 * GIB, 46 * GIB)),
            new CreditGrant(2, 10 * GIB, 2));
  }

  @Test
  void reconnectIsAcceptedOverTheLimitButRefusedGrowthUntilUnder() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 4 * GIB);
    ledger.attach("j", 1, 6 * GIB);
    ledger.attach("j", 2, 0);
    ledger.expireCredit(1);
    assertThat(ledger.job("j").orElseThrow().heldBytes()).isEqualTo(6 * GIB);
    assertThat(ledger.reserve(2, 1, 0)).isInstanceOf(Refused.class);
    ledger.free(1, 3 * GIB);
    assertThat(ledger.reserve(2, GIB, 0)).isInstanceOf(Granted.class);
  }

  @Test
  void newLimitRevokesAndRegrantsTheCredit() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 4 * GIB);
    ledger.attach("j", 1, 0);
    assertThat(ledger.setLimit("j", 8 * GIB)).containsExactly(new CreditRevoke(1, 1));
    ledger.memReport(1, 1, GIB, 0, GIB, 0);
    assertThat(ledger.creditReturn(1, 1)).containsExactly(new CreditGrant(1, 8 * GIB, 2));
  }

  @Test
  void aSessionOfTheFirstProtocolVersionIsNeverLentACredit() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 4 * GIB);
    assertThat(ledger.attach("j", 1, 0, -1, false)).isEmpty();
    assertThat(ledger.reserve(1, 3 * GIB, 0)).isInstanceOf(Granted.class);
    assertThat(ledger.reserve(1, 2 * GIB, 0)).isInstanceOf(Refused.class);
  }

  @Test
  void aCreditReturnNeverOverwritesWhatTheLedgerCounted() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 24 * GIB);
    ledger.attach("j", 1, 0);
    // a reserve sent before the shim saw its credit is granted against the credit
    assertThat(ledger.reserve(1, 20 * GIB, 1)).isInstanceOf(Granted.class);
    ledger.attach("j", 2, 0);
    // the shim returns the credit before the reserve's answer reached it: no figure, no loss
    ledger.creditReturn(1, 1);
    assertThat(ledger.job("j").orElseThrow().heldBytes()).isEqualTo(20 * GIB);
    assertThat(ledger.reserve(2, 20 * GIB, 2)).isInstanceOf(Refused.class);
  }

  @Test
  void reportsAreRecordedPastTheLimitAndTheJobIsRefusedUntilUnder() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", GIB);
    ledger.attach("j", 1, 0);
    ledger.attach("j", 2, 0);
    ledger.expireCredit(1);
    // decided while the coordinator was stalled: the truth, even over the limit
    assertThat(ledger.memReport(1, 0, 1200 * MIB, 0, 0, 0)).isFalse();
    var job = ledger.job("j").orElseThrow();
    assertThat(job.usedBytes()).isEqualTo(1200 * MIB);
    assertThat(job.overLimit()).isTrue();
    assertThat(ledger.reserve(2, MIB, 0)).isInstanceOf(Refused.class);
    ledger.memReport(1, 0, 0, 600 * MIB, 0, 0);
    assertThat(ledger.job("j").orElseThrow().overLimit()).isFalse();
    assertThat(ledger.reserve(2, 400 * MIB, 0)).isInstanceOf(Granted.class);
  }

  @Test
  void anUnverifiableClaimRefusesTheClaimantsJobButNotOthers() {
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("liar", 8 * GIB);
    // claims 40 GiB on reconnect; NVML measured 2 GiB for the process
    ledger.attach("liar", 1, 40 * GIB, 2 * GIB, true);
    var liar = ledger.job("liar").orElseThrow();
    assertThat(liar.usedBytes()).isEqualTo(40 * GIB);
    assertThat(liar.unverifiedBytes()).isEqualTo(38 * GIB);
    assertThat(liar.overLimit()).isTrue();
    assertThat(ledger.heldBytes()).isEqualTo(2 * GIB);
    assertThat(ledger.reserve(1, MIB, 0)).isInstanceOf(Refused.class);
    ledger.attach("other", 2, 0);
    assertThat(ledger.reserve(2, 40 * GIB, 0)).isInstanceOf(Granted.class);
    // frees bring the unverified part down with what is held
    ledger.free(1, 39 * GIB);
    assertThat(ledger.job("liar").orElseThrow().unverifiedBytes()).isEqualTo(GIB);
  }

  /**
   * Seeded random interleavings of attach, reserve, free, usage reports, credit returns and detach
   * from several sessions of several jobs: no job ever holds more than its limit, the card never more than its total, and
   * the totals always add up.
   */
  @Test
  void neverPassesALimitUnderRandomInterleavings() {
    for (long seed = 1; seed <= 10; seed++) {
      Random random = new Random(seed);
      long total = 64 * GIB;
      MemoryLedger ledger = new MemoryLedger("gpu0", total);
      String[] jobs = {"a", "b", "c", "d"};
      long[] limits = {16 * GIB, 24 * GIB, 0, 8 * GIB};
      for (int j = 0; j < jobs.length; j++) {
        ledger.setLimit(jobs[j], limits[j]);
      }
      Map<Long, String> live = new HashMap<>();
      Map<Long, Long> credits = new HashMap<>(); // session -> epoch of an outstanding revoke
      long nextSession = 1;
      for (int step = 0; step < 3_000; step++) {
        int op = random.nextInt(10);
        List<Long> ids = new ArrayList<>(live.keySet());
        List<Effect> effects = new ArrayList<>();
        if (op == 0 || ids.isEmpty()) {
          String job = jobs[random.nextInt(jobs.length)];
          long id = nextSession++;
          live.put(id, job);
          effects.addAll(ledger.attach(job, id, 0));
        } else {
          long id = ids.get(random.nextInt(ids.size()));
          switch (op) {
            case 1 -> {
              effects.addAll(ledger.detach(id));
              live.remove(id);
              credits.remove(id);
            }
            case 2, 3 -> ledger.free(id, (long) random.nextInt(4096) * (1 << 20));
            case 4 -> {
              long ceiling = ceilingOf(ledger, live.get(id), id);
              long used = usedOf(ledger, live.get(id), id);
              if (ceiling > used) { // a shim takes at most up to its ceiling
                ledger.memReport(
                    id, 0, (long) (random.nextDouble() * (ceiling - used)), 0, 0, 0);
              }
            }
            case 5 -> {
              Long epoch = credits.remove(id);
              if (epoch != null) {
                effects.addAll(ledger.creditReturn(id, epoch));
              }
            }
            default -> ledger.reserve(id, (long) random.nextInt(8192) * (1 << 20), step);
          }
        }
        for (Effect e : effects) {
          if (e instanceof CreditRevoke r) {
            credits.put(r.sessionId(), r.epoch());
          }
        }
        long sum = 0;
        for (int j = 0; j < jobs.length; j++) {
          var usage = ledger.job(jobs[j]).orElseThrow();
          sum += usage.heldBytes();
          long sessions = usage.sessions().stream().mapToLong(MemoryLedger.SessionUsage::heldBytes).sum();
          assertThat(sessions).as("seed %d step %d job %s", seed, step, jobs[j]).isEqualTo(usage.heldBytes());
          if (limits[j] > 0) {
            assertThat(usage.heldBytes())
                .as("seed %d step %d job %s", seed, step, jobs[j])
                .isLessThanOrEqualTo(limits[j]);
          }
        }
        assertThat(sum).isEqualTo(ledger.heldBytes());
        assertThat(ledger.heldBytes()).isLessThanOrEqualTo(total);
      }
    }
  }

  private static long usedOf(MemoryLedger ledger, String job, long session) {
    return ledger.job(job).orElseThrow().sessions().stream()
        .filter(s -> s.sessionId() == session)
        .findFirst()
        .orElseThrow()
        .usedBytes();
  }

  private static long ceilingOf(MemoryLedger ledger, String job, long session) {
    return ledger.job(job).orElseThrow().sessions().stream()
        .filter(s -> s.sessionId() == session)
        .findFirst()
        .orElseThrow()
        .ceilingBytes();
  }

  @Test
  void aCreditHoldersReserveInFlightIsRefusedOnceAReconnectClaimPutsTheJobOverItsLimit() {
    // found by MemoryProtocolSimulationTest: after a coordinator restart the first process back
    // is lent the whole limit; a second one then re-attaches claiming what it still holds. A
    // reserve the first had sent before its credit arrived fits the ceiling, but the job is over.
    MemoryLedger ledger = new MemoryLedger("gpu0", 48 * GIB);
    ledger.setLimit("j", 10 * GIB);
    List<Effect> lent = ledger.attach("j", 1, 0);
    assertThat(lent).containsExactly(new CreditGrant(1, 10 * GIB, 1));
    assertThat(ledger.attach("j", 2, 5 * GIB)).containsExactly(new CreditRevoke(1, 1));
    assertThat(ledger.reserve(1, 4 * GIB, 7)).isInstanceOf(Granted.class); // 9 of 10
    var refused = (Refused) ledger.reserve(1, 2 * GIB, 8);
    assertThat(refused.jobUsedBytes()).isEqualTo(9 * GIB);
    assertThat(refused.reason()).contains("over its limit");
    ledger.creditReturn(1, 1);
    assertThat(ledger.job("j").orElseThrow().usedBytes()).isEqualTo(9 * GIB);
    assertThat(ledger.reserve(2, 2 * GIB, 9)).isInstanceOf(Refused.class);
    assertThat(ledger.reserve(2, GIB, 10)).isInstanceOf(Granted.class);
  }
}
