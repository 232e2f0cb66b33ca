package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.softmig.gpu.domain.TimeSliceScheduler.Action;
import org.softmig.gpu.domain.TimeSliceScheduler.Grant;
import org.softmig.gpu.domain.TimeSliceScheduler.JobStats;
import org.softmig.gpu.domain.TimeSliceScheduler.Policy;
import org.softmig.gpu.domain.TimeSliceScheduler.Revoke;
import org.softmig.gpu.domain.TimeSliceScheduler.Settings;

class TimeSliceSchedulerTest {

  private static final long MS = 1_000_000L;
  private static final long S = 1_000_000_000L;
  private static final long LEASE = 20 * MS;
  private static final long GRACE = 100 * MS;

  private static TimeSliceScheduler scheduler(Policy policy) {
    return new TimeSliceScheduler(new Settings(policy, LEASE, GRACE));
  }

  private static JobStats statsOf(TimeSliceScheduler scheduler, String jobId, long now) {
    return scheduler.stats(now).stream()
        .filter(s -> s.jobId().equals(jobId))
        .findFirst()
        .orElseThrow();
  }

  @Nested
  class Validation {

    @Test
    void settingsRejectBadValues() {
      assertThatThrownBy(() -> new Settings(Policy.CAP, 0, GRACE))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("lease");
      assertThatThrownBy(() -> new Settings(Policy.CAP, LEASE, -1))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("grace");
      assertThatThrownBy(() -> new Settings(null, LEASE, GRACE))
          .isInstanceOf(NullPointerException.class);
    }

    @Test
    void defaultSettingsAreTwentyMillisecondLeases() {
      Settings settings = Settings.defaults(Policy.SHARE);

      assertThat(settings.policy()).isEqualTo(Policy.SHARE);
      assertThat(settings.leaseNanos()).isEqualTo(20 * MS);
      assertThat(settings.graceNanos()).isPositive();
    }

    @Test
    void limitsMustBeFiniteAndNotNegative() {
      TimeSliceScheduler s = scheduler(Policy.CAP);

      assertThatThrownBy(() -> s.setLimit("a", -1))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("a")
          .hasMessageContaining("-1");
      assertThatThrownBy(() -> s.setLimit("a", Double.NaN))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> s.setLimit("a", Double.POSITIVE_INFINITY))
          .isInstanceOf(IllegalArgumentException.class);
      assertThat(s.stats(0)).isEmpty();
    }

    @Test
    void jobIdsMustNotBeEmpty() {
      TimeSliceScheduler s = scheduler(Policy.CAP);

      assertThatThrownBy(() -> s.setLimit("", 10)).hasMessageContaining("job id");
      assertThatThrownBy(() -> s.request(null, 0)).hasMessageContaining("job id");
      assertThatThrownBy(() -> s.release("", 1, 0, 0)).hasMessageContaining("job id");
      assertThatThrownBy(() -> s.withdraw("", 0)).hasMessageContaining("job id");
      assertThatThrownBy(() -> s.removeJob("", 0)).hasMessageContaining("job id");
    }

    @Test
    void limitsFromHundredUpMeanNoLimit() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 150);

      assertThat(s.request("a", 0)).containsExactly(new Grant("a", 1, 0));
      assertThat(statsOf(s, "a", 0).limitPercent()).isEqualTo(100.0);
    }
  }

  @Nested
  class OpenEndedLeases {

    @ParameterizedTest
    @ValueSource(doubles = {0, 30, 100})
    void aJobAloneUnderShareGetsAnOpenEndedLease(double limit) {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.setLimit("a", limit);

      assertThat(s.request("a", 0)).containsExactly(new Grant("a", 1, 0));
      assertThat(s.holder()).contains("a");
      assertThat(s.currentLeaseId()).hasValue(1);
      assertThat(s.nextDeadlineNanos()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(doubles = {0, 100})
    void anUnlimitedJobAloneUnderCapGetsAnOpenEndedLease(double limit) {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", limit);

      assertThat(s.request("a", 0)).containsExactly(new Grant("a", 1, 0));
    }

    @Test
    void aJobNeverGivenALimitIsUnlimited() {
      TimeSliceScheduler s = scheduler(Policy.CAP);

      assertThat(s.request("a", 0)).containsExactly(new Grant("a", 1, 0));
    }

    @Test
    void aLimitedJobAloneUnderCapGetsTimedLeasesOnly() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 99.9);

      assertThat(s.request("a", 0)).containsExactly(new Grant("a", 1, LEASE));
      assertThat(s.nextDeadlineNanos()).hasValue(LEASE + GRACE);
    }

    @Test
    void anotherRequestRevokesTheOpenEndedLeaseOnce() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 0);

      assertThat(s.request("b", 5 * MS)).containsExactly(new Revoke("a", 1));
      assertThat(s.request("c", 5 * MS)).isEmpty();
      assertThat(s.holder()).contains("a");

      // Equal weights, equal virtual times: first come, first served; the others are waiting,
      // so the lease is timed.
      assertThat(s.release("a", 1, 5 * MS, 6 * MS)).containsExactly(new Grant("b", 2, LEASE));
      assertThat(s.waitingJobs()).containsExactly("c", "a");
    }

    @Test
    void underCapAnUnlimitedJobSharingTheGpuGetsTimedLeases() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("b", 25);
      assertThat(s.request("a", 0)).containsExactly(new Grant("a", 1, 0));
      assertThat(s.request("b", 1 * MS)).containsExactly(new Revoke("a", 1));

      assertThat(s.release("a", 1, 2 * MS, 2 * MS)).containsExactly(new Grant("b", 2, LEASE));
      assertThat(s.release("b", 2, LEASE, 2 * MS + LEASE))
          .containsExactly(new Grant("a", 3, LEASE));
    }

    @Test
    void theOpenEndedLeaseComesBackWhenTheOtherJobLeaves() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 0);
      s.request("b", 1 * MS);
      s.release("a", 1, 1 * MS, 2 * MS); // b gets lease 2, a waits

      assertThat(s.release("b", 2, 5 * MS, false, 7 * MS)).containsExactly(new Grant("a", 3, 0));
    }

    @Test
    void limitingTheOpenEndedHolderUnderCapRevokesItAtTheNextTick() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.request("a", 3 * MS);

      s.setLimit("a", 25);

      assertThat(s.nextDeadlineNanos()).hasValue(3 * MS);
      assertThat(s.tick(3 * MS)).containsExactly(new Revoke("a", 1));
      assertThat(s.tick(4 * MS)).isEmpty();
    }
  }

  @Nested
  class Requests {

    @Test
    void requestIsIdempotent() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      s.request("a", 0);
      s.request("b", 1 * MS);

      assertThat(s.request("a", 2 * MS)).isEmpty();
      assertThat(s.request("b", 3 * MS)).isEmpty();
      assertThat(s.waitingJobs()).containsExactly("b");

      s.release("a", 1, LEASE, false, LEASE);
      assertThat(statsOf(s, "b", LEASE).waitNanosTotal()).isEqualTo(LEASE - 1 * MS);
    }

    @Test
    void leaseIdsIncrease() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      List<Long> ids = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        Grant grant = (Grant) s.request("a", i * MS).get(0);
        ids.add(grant.leaseId());
        s.release("a", grant.leaseId(), 0, false, i * MS);
      }

      assertThat(ids).containsExactly(1L, 2L, 3L, 4L, 5L);
    }

    @Test
    void releaseKeepsTheJobWaitingAndIdleReleaseDoesNot() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 0);

      assertThat(s.release("a", 1, 1 * MS, 1 * MS)).containsExactly(new Grant("a", 2, 0));
      assertThat(s.release("a", 2, 1 * MS, false, 2 * MS)).isEmpty();
      assertThat(s.holder()).isEmpty();
      assertThat(s.waitingJobs()).isEmpty();
      assertThat(s.nextDeadlineNanos()).isEmpty();
      assertThat(s.request("a", 3 * MS)).containsExactly(new Grant("a", 3, 0));
    }

    @Test
    void aRequestRightAfterAReleaseChangesNothing() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      s.request("a", 0);
      s.request("b", 0);
      s.release("a", 1, LEASE, LEASE);

      assertThat(s.request("a", LEASE)).isEmpty();
      assertThat(s.waitingJobs()).containsExactly("a");
    }

    @Test
    void releaseOfAnotherLeaseOrByAnotherJobIsIgnored() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      s.request("a", 0);
      s.request("b", 0);

      assertThat(s.release("a", 99, 5 * MS, 5 * MS)).isEmpty();
      assertThat(s.release("b", 1, 5 * MS, 5 * MS)).isEmpty();
      assertThat(s.release("nobody", 1, 5 * MS, 5 * MS)).isEmpty();
      assertThat(s.holder()).contains("a");
      assertThat(statsOf(s, "a", 5 * MS).gpuNanosTotal()).isZero();
      assertThat(statsOf(s, "b", 5 * MS).gpuNanosTotal()).isZero();
    }

    @Test
    void chargedTimeIsClampedToTheTimeSinceTheGrant() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 10 * MS);
      s.release("a", 1, 5 * S, false, 30 * MS);
      s.request("a", 40 * MS);
      s.release("a", 2, -7, false, 50 * MS);

      assertThat(statsOf(s, "a", 50 * MS).gpuNanosTotal()).isEqualTo(20 * MS);
    }

    @Test
    void timeEarlierThanAlreadySeenCountsAsTheLatest() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 100 * MS);

      s.release("a", 1, 10 * MS, false, 50 * MS);

      JobStats stats = statsOf(s, "a", 0);
      assertThat(stats.gpuNanosTotal()).isZero();
      assertThat(stats.sharePercentLast10s()).isZero();
    }
  }

  @Nested
  class SharePolicy {

    @Test
    void twoBusyJobsSplitLeasesByWeight() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.setLimit("a", 70);
      s.setLimit("b", 30);

      Map<String, Integer> grants = runBusy(s, List.of("a", "b"), 0, 1000);

      assertThat(grants.get("a")).isBetween(699, 702);
      assertThat(grants.get("b")).isBetween(299, 302);
    }

    @Test
    void unlimitedCountsAsWeightHundred() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.setLimit("a", 0);
      s.setLimit("b", 25);

      Map<String, Integer> grants = runBusy(s, List.of("a", "b"), 0, 500);

      assertThat(grants.get("a")).isBetween(399, 402);
    }

    @Test
    void theWaitingJobWithTheLeastVirtualTimeGoesNext() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      s.request("a", 0);
      s.request("b", 0); // revokes a's open-ended lease
      s.release("a", 1, 0, 0); // a used nothing: tie at vtime 0, b asked first
      assertThat(s.holder()).contains("b");

      // b overruns badly: a gets the next three turns until it catches up.
      List<Action> afterB = s.release("b", 2, 60 * MS, 60 * MS);
      assertThat(afterB).containsExactly(new Grant("a", 3, LEASE));
      assertThat(s.release("a", 3, LEASE, 80 * MS)).containsExactly(new Grant("a", 4, LEASE));
      assertThat(s.release("a", 4, LEASE, 100 * MS)).containsExactly(new Grant("a", 5, LEASE));
      // a and b are level now (60 ms each); b asked first.
      assertThat(s.release("a", 5, LEASE, 120 * MS)).containsExactly(new Grant("b", 6, LEASE));
    }

    @Test
    void aJobReturningFromIdleStartsAtTheCurrentVirtualTime() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      s.request("a", 0);
      s.request("b", 0);
      assertThat(s.release("a", 1, 0, 0)).containsExactly(new Grant("b", 2, LEASE));
      // b goes idle; a has the GPU alone for ten seconds.
      assertThat(s.release("b", 2, LEASE, false, LEASE)).containsExactly(new Grant("a", 3, 0));

      long back = LEASE + 10 * S;
      assertThat(s.request("b", back)).containsExactly(new Revoke("a", 3));
      s.release("a", 3, 10 * S, back + 1 * MS);

      // No catching up on a's ten seconds: they alternate.
      Map<String, Integer> after = runBusy(s, List.of("a", "b"), back + 1 * MS, 20);
      assertThat(after.get("b")).isBetween(9, 11);
    }

    @Test
    void aRevokedHolderReportingLessThanItHeldStillLetsTheNewcomerIn() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 0);
      s.request("b", 10 * MS);

      // a's work took 9.9 ms of the 10.5 ms it held the GPU (hand-off and drain are not charged).
      assertThat(s.release("a", 1, 9_900_000, 10_500_000))
          .containsExactly(new Grant("b", 2, LEASE));
    }

    @Test
    void aNewcomerIsNotPenalisedForTheTimeAnotherRanAlone() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 0);
      s.request("b", 10 * S);

      assertThat(s.release("a", 1, 10 * S, 10 * S + 1 * MS))
          .containsExactly(new Grant("b", 2, LEASE));
      Map<String, Integer> after = runBusy(s, List.of("a", "b"), 10 * S + 1 * MS, 20);
      assertThat(after.get("a")).isBetween(9, 11);
    }
  }

  @Nested
  class CapPolicy {

    @Test
    void anOverrunDelaysTheNextTurnUntilTheBucketRefills() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 25);
      s.request("a", 0);

      // Full bucket (one lease, 20 ms) + 12.5 ms refill - 50 ms used = -17.5 ms: 70 ms to refill.
      assertThat(s.release("a", 1, 50 * MS, 50 * MS)).isEmpty();

      assertThat(s.waitingJobs()).containsExactly("a");
      assertThat(s.nextDeadlineNanos()).hasValue(120 * MS);
      assertThat(s.tick(120 * MS - 1)).isEmpty();
      assertThat(s.tick(120 * MS)).containsExactly(new Grant("a", 2, LEASE));
      JobStats stats = statsOf(s, "a", 120 * MS);
      assertThat(stats.waitNanosTotal()).isEqualTo(70 * MS);
      assertThat(stats.grants()).isEqualTo(2);
      assertThat(stats.gpuNanosTotal()).isEqualTo(50 * MS);
      assertThat(stats.grantLatencyP50Nanos()).isZero();
      assertThat(stats.grantLatencyP99Nanos()).isEqualTo(70 * MS);
    }

    @Test
    void aBucketWithCreditLeftGrantsAgainAtOnce() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 25);
      s.request("a", 0);

      // 20 + 5 - 20 = 5 ms of credit left.
      assertThat(s.release("a", 1, LEASE, LEASE)).containsExactly(new Grant("a", 2, LEASE));
      // 5 + 5 - 20 = -10 ms: 40 ms to refill.
      assertThat(s.release("a", 2, LEASE, 2 * LEASE)).isEmpty();
      assertThat(s.nextDeadlineNanos()).hasValue(2 * LEASE + 40 * MS);
    }

    @Test
    void anIdleJobBanksAtMostOneLease() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 25);
      s.request("a", 0);
      s.release("a", 1, LEASE, false, LEASE);

      long back = 10 * S;
      assertThat(s.request("a", back)).containsExactly(new Grant("a", 2, LEASE));
      assertThat(s.release("a", 2, LEASE, back + LEASE)).containsExactly(new Grant("a", 3, LEASE));
      assertThat(s.release("a", 3, LEASE, back + 2 * LEASE)).isEmpty();
      assertThat(s.nextDeadlineNanos()).hasValue(back + 2 * LEASE + 40 * MS);
    }

    @Test
    void aJobWaitingBehindAnOverrunKeepsUpToTwoLeasesOfCredit() {
      TimeSliceScheduler s =
          new TimeSliceScheduler(new Settings(Policy.CAP, LEASE, 1 * S));
      s.setLimit("a", 50);
      s.setLimit("b", 25);
      s.request("b", 0);
      s.request("a", 0);

      // b's kernel runs 200 ms; a waits all that time.
      assertThat(s.release("b", 1, 200 * MS, 200 * MS)).containsExactly(new Grant("a", 2, LEASE));
      // a: 40 ms (two leases, not 120) + 50 ms refill - 100 ms = -10 ms: ready 20 ms later.
      // b: 20 + 50 - 200 = -130 ms at 25 %: ready at 720 ms.
      assertThat(s.release("a", 2, 100 * MS, 300 * MS)).isEmpty();
      assertThat(s.nextDeadlineNanos()).hasValue(320 * MS);
      assertThat(s.tick(320 * MS)).containsExactly(new Grant("a", 3, LEASE));
    }

    @Test
    void readyJobsGoInTheOrderTheyBecameReady() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      for (String id : List.of("a", "b", "c")) {
        s.setLimit(id, 50);
      }
      s.request("b", 0);
      s.request("a", 10 * MS);
      // b overran: 20 + 30 - 60 = -10 ms, ready at 80 ms; a has been ready since 10 ms.
      assertThat(s.release("b", 1, 60 * MS, 60 * MS)).containsExactly(new Grant("a", 2, LEASE));
      s.request("c", 70 * MS);

      // c became ready at 70 ms, b only at 80 ms although it asked first.
      assertThat(s.release("a", 2, 40 * MS, false, 100 * MS)).containsExactly(new Grant("c", 3, LEASE));
      assertThat(s.release("c", 3, LEASE, false, 120 * MS)).containsExactly(new Grant("b", 4, LEASE));
    }

    @Test
    void raisingTheLimitOfAWaitingJobBringsItsTurnForward() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 25);
      s.request("a", 0);
      s.release("a", 1, 50 * MS, 50 * MS); // -17.5 ms
      assertThat(s.nextDeadlineNanos()).hasValue(120 * MS);

      s.setLimit("a", 50);
      assertThat(s.nextDeadlineNanos()).hasValue(85 * MS);

      s.setLimit("a", 0);
      assertThat(s.nextDeadlineNanos()).hasValue(50 * MS);
      assertThat(s.tick(50 * MS)).containsExactly(new Grant("a", 2, 0));
    }
  }

  @Nested
  class OverdueHolders {

    @Test
    void aTimedLeaseNotReleasedByItsEndPlusGraceIsRevokedAndCharged() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      s.request("a", 0);
      s.request("b", 0);
      assertThat(s.nextDeadlineNanos()).hasValue(LEASE + GRACE);

      assertThat(s.tick(LEASE + GRACE - 1)).isEmpty();
      assertThat(s.tick(LEASE + GRACE))
          .containsExactly(new Revoke("a", 1), new Grant("b", 2, LEASE));

      assertThat(statsOf(s, "a", LEASE + GRACE).gpuNanosTotal()).isEqualTo(LEASE + GRACE);
      // The late release of the old lease charges nothing more.
      assertThat(s.release("a", 1, 5 * S, LEASE + GRACE + 5 * MS)).isEmpty();
      assertThat(statsOf(s, "a", LEASE + GRACE + 5 * MS).gpuNanosTotal())
          .isEqualTo(LEASE + GRACE);
      assertThat(s.holder()).contains("b");
    }

    @Test
    void anOpenEndedLeaseNotReleasedWithinGraceOfItsRevokeIsRevokedAgain() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 0);
      assertThat(s.request("b", 5 * S)).containsExactly(new Revoke("a", 1));
      assertThat(s.nextDeadlineNanos()).hasValue(5 * S + GRACE);

      assertThat(s.tick(5 * S + GRACE)).containsExactly(new Revoke("a", 1), new Grant("b", 2, 0));
      assertThat(statsOf(s, "a", 5 * S + GRACE).gpuNanosTotal()).isEqualTo(5 * S + GRACE);
    }

    @Test
    void anUnresponsiveJobIsPassedOverUntilItIsHeardFrom() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 0);
      s.request("b", 0);
      s.tick(GRACE); // a revoked for good, b holds an open-ended lease
      assertThat(s.waitingJobs()).containsExactly("a");
      assertThat(s.nextDeadlineNanos()).isEmpty();

      // a speaks up: b's open-ended lease is revoked so that a gets its turn.
      assertThat(s.request("a", 2 * S)).containsExactly(new Revoke("b", 2));
    }

    @Test
    void aLateReleaseShowsTheJobIsAliveAtTheNextTick() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 0);
      s.request("b", 0);
      s.tick(GRACE);

      assertThat(s.release("a", 1, 3 * GRACE, 3 * GRACE)).isEmpty();

      assertThat(s.nextDeadlineNanos()).hasValue(3 * GRACE);
      assertThat(s.tick(3 * GRACE)).containsExactly(new Revoke("b", 2));
    }

    @Test
    void aLateIdleReleaseTakesTheJobOutOfTheQueue() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 0);
      s.request("b", 0);
      s.tick(GRACE);

      assertThat(s.release("a", 1, 3 * GRACE, false, 3 * GRACE)).isEmpty();

      assertThat(s.waitingJobs()).isEmpty();
      assertThat(s.nextDeadlineNanos()).isEmpty();
    }
  }

  @Nested
  class WithdrawAndRemove {

    @Test
    void withdrawingAWaitingJobForgetsItsRequest() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      s.request("a", 0);
      s.request("b", 0);

      assertThat(s.withdraw("b", 1 * MS)).isEmpty();

      assertThat(s.waitingJobs()).isEmpty();
      assertThat(s.release("a", 1, LEASE, false, LEASE)).isEmpty();
      assertThat(s.holder()).isEmpty();
    }

    @Test
    void withdrawingTheHolderChargesTheElapsedTimeAndMovesOn() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      s.request("a", 0);
      s.request("b", 0);

      assertThat(s.withdraw("a", 7 * MS)).containsExactly(new Grant("b", 2, LEASE));

      assertThat(statsOf(s, "a", 7 * MS).gpuNanosTotal()).isEqualTo(7 * MS);
      assertThat(s.waitingJobs()).isEmpty();
      assertThat(s.release("a", 1, 7 * MS, 8 * MS)).isEmpty();
    }

    @Test
    void withdrawOfAnIdleOrUnknownJobDoesNothing() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 50);

      assertThat(s.withdraw("a", 0)).isEmpty();
      assertThat(s.withdraw("nobody", 0)).isEmpty();
    }

    @Test
    void removingTheHolderGrantsTheNextAtOnce() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.request("a", 0);
      s.request("b", 1 * MS);

      assertThat(s.removeJob("a", 2 * MS)).containsExactly(new Grant("b", 2, 0));
      assertThat(s.stats(2 * MS)).extracting(JobStats::jobId).containsExactly("b");
      assertThat(s.release("a", 1, 1 * MS, 3 * MS)).isEmpty();
    }

    @Test
    void removingAWaitingJobForgetsIt() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      s.request("a", 0);
      s.request("b", 0);

      assertThat(s.removeJob("b", 1 * MS)).isEmpty();
      assertThat(s.waitingJobs()).isEmpty();
      assertThat(s.release("a", 1, LEASE, false, LEASE)).isEmpty();
      assertThat(s.removeJob("b", LEASE)).isEmpty();
    }
  }

  @Nested
  class Stats {

    @Test
    void shareIsOverTheLastTenSecondsOrSinceTheJobFirstAsked() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.setLimit("a", 50);
      s.request("a", 1 * S);

      assertThat(statsOf(s, "a", 1 * S).sharePercentLast10s()).isZero();
      assertThat(statsOf(s, "a", 3 * S).sharePercentLast10s()).isEqualTo(100.0);
      s.release("a", 1, 19 * S, false, 21 * S);
      // [11 s, 21 s] used entirely.
      assertThat(statsOf(s, "a", 21 * S).sharePercentLast10s()).isEqualTo(100.0);
      // [15 s, 25 s]: used until 21 s.
      assertThat(statsOf(s, "a", 25 * S).sharePercentLast10s()).isCloseTo(60.0, within(1e-9));
      assertThat(statsOf(s, "a", 40 * S).sharePercentLast10s()).isZero();
      assertThat(statsOf(s, "a", 40 * S).gpuNanosTotal()).isEqualTo(19 * S);
    }

    @Test
    void aJobThatNeverAskedHasEmptyStats() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 12.5);

      assertThat(s.stats(5 * S)).containsExactly(new JobStats("a", 12.5, 0, 0, 0, 0, 0, 0));
    }

    @Test
    void waitingTimeIncludesTheCurrentWait() {
      TimeSliceScheduler s = scheduler(Policy.CAP);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      s.request("a", 0);
      s.request("b", 2 * MS);

      assertThat(statsOf(s, "b", 12 * MS).waitNanosTotal()).isEqualTo(10 * MS);
      assertThat(statsOf(s, "b", 12 * MS).grants()).isZero();
    }

    @Test
    void latencyPercentilesComeFromRequestToGrant() {
      TimeSliceScheduler s = scheduler(Policy.SHARE);
      s.setLimit("a", 50);
      s.setLimit("b", 50);
      long t = 0;
      s.request("b", t);
      for (int i = 0; i < 100; i++) {
        // a asks; b releases after `wait`; a gets the GPU, then goes idle again.
        assertThat(s.request("a", t)).hasSize(1);
        long wait = i >= 98 ? 50 * MS : 1 * MS;
        t += wait;
        s.release("b", s.currentLeaseId().orElseThrow(), wait, t);
        assertThat(s.holder()).contains("a");
        s.release("a", s.currentLeaseId().orElseThrow(), 0, false, t);
      }

      JobStats a = statsOf(s, "a", t);
      assertThat(a.grants()).isEqualTo(100);
      assertThat(a.grantLatencyP50Nanos()).isEqualTo(1 * MS);
      assertThat(a.grantLatencyP99Nanos()).isEqualTo(50 * MS);
      assertThat(a.waitNanosTotal()).isEqualTo(98 * MS + 100 * MS);
    }
  }

  /**
   * The jobs always want the GPU and use exactly a lease's worth (also on an open-ended lease);
   * counts the grants each job gets from {@code startNanos} on, over {@code leases} handovers.
   */
  private static Map<String, Integer> runBusy(
      TimeSliceScheduler s, List<String> jobIds, long startNanos, int leases) {
    long now = startNanos;
    Map<String, Integer> grants = new HashMap<>();
    for (String id : jobIds) {
      grants.put(id, 0);
      count(s.request(id, now), grants);
    }
    for (int i = 0; i < leases; i++) {
      String holder = s.holder().orElseThrow();
      long leaseId = s.currentLeaseId().orElseThrow();
      now += LEASE;
      List<Action> actions = s.release(holder, leaseId, LEASE, now);
      assertThat(actions).as("grant after %s's lease", holder).hasSize(1);
      count(actions, grants);
    }
    return grants;
  }

  private static void count(List<Action> actions, Map<String, Integer> grants) {
    for (Action action : actions) {
      if (action instanceof Grant g) {
        grants.merge(g.jobId(), 1, Integer::sum);
      }
    }
  }
}
