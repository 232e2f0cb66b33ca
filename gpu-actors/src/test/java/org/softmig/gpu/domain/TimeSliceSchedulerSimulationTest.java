package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.softmig.gpu.domain.SchedulerSimulation.MS;
import static org.softmig.gpu.domain.SchedulerSimulation.S;
import static org.softmig.gpu.domain.SchedulerSimulation.US;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.softmig.gpu.domain.SchedulerSimulation.Recorded;
import org.softmig.gpu.domain.TimeSliceScheduler.Grant;
import org.softmig.gpu.domain.TimeSliceScheduler.JobStats;
import org.softmig.gpu.domain.TimeSliceScheduler.Policy;
import org.softmig.gpu.domain.TimeSliceScheduler.Revoke;
import org.softmig.gpu.domain.TimeSliceScheduler.Settings;

/** Shares achieved by simulated busy and idle jobs over 10 s windows. */
class TimeSliceSchedulerSimulationTest {

  private static final long LEASE = 20 * MS;
  private static final long GRACE = 200 * MS;
  private static final long HANDOFF = 100 * US;
  private static final long FROM = 1 * S;
  private static final long TO = 11 * S;

  private static SchedulerSimulation sim(Policy policy) {
    return new SchedulerSimulation(new Settings(policy, LEASE, GRACE), HANDOFF);
  }

  @ParameterizedTest(name = "cap {0} % alone with {1} us kernels")
  @CsvSource({"25, 1000", "50, 1000", "10, 2000", "75, 300", "25, 50000", "50, 50000"})
  void capAloneGetsItsLimitAndNoMore(double limit, long kernelUs) {
    SchedulerSimulation sim = sim(Policy.CAP);
    sim.busyJob("a", limit, kernelUs * US);

    sim.runUntil(TO);

    assertThat(sim.sharePercent("a", FROM, TO)).isCloseTo(limit, within(1.0));
    assertThat(shareFromStats(sim, "a", TO)).isCloseTo(limit, within(1.0));
  }

  @ParameterizedTest(name = "share {0}/{1}")
  @CsvSource({"70, 30", "50, 50", "10, 90", "30, 70"})
  void shareSplitsBusyGpuByLimits(double limitA, double limitB) {
    SchedulerSimulation sim = sim(Policy.SHARE);
    sim.busyJob("a", limitA, 1 * MS);
    sim.busyJob("b", limitB, 1 * MS);

    sim.runUntil(TO);

    double busy = sim.busyPercent(FROM, TO);
    assertThat(busy).isGreaterThanOrEqualTo(97.0);
    assertThat(sim.sharePercent("a", FROM, TO)).isCloseTo(busy * limitA / 100, within(1.0));
    assertThat(sim.sharePercent("b", FROM, TO)).isCloseTo(busy * limitB / 100, within(1.0));
    assertThat(sim.overlaps()).isZero();
    // What the scheduler reports agrees with what ran.
    assertThat(shareFromStats(sim, "a", TO)).isCloseTo(sim.sharePercent("a", FROM, TO), within(0.5));
    assertThat(shareFromStats(sim, "b", TO)).isCloseTo(sim.sharePercent("b", FROM, TO), within(0.5));
  }

  @Test
  void shareIsWorkConservingWithABurstyNeighbour() {
    SchedulerSimulation sim = sim(Policy.SHARE);
    SchedulerSimulation.SimJob bursty = sim.job("bursty", 50, 1 * MS);
    for (long t = 0; t < TO; t += 80 * MS) {
      bursty.workBetween(t, t + 30 * MS);
    }
    sim.busyJob("busy", 50, 1 * MS);

    sim.runUntil(TO);

    // The busy job fills every gap. A returning job banks nothing, so each 30 ms burst gets one
    // 20 ms lease before the busy job's turn: 25 % rather than the 37.5 % it asked for.
    assertThat(sim.busyPercent(FROM, TO)).isGreaterThanOrEqualTo(97.0);
    assertThat(sim.sharePercent("bursty", FROM, TO)).isCloseTo(25.0, within(1.0));
    assertThat(sim.overlaps()).isZero();
  }

  @Test
  void shareWithUnequalKernelLengthsStillFollowsLimits() {
    SchedulerSimulation sim = sim(Policy.SHARE);
    sim.busyJob("a", 70, 300 * US);
    sim.busyJob("b", 30, 7 * MS);

    sim.runUntil(TO);

    double busy = sim.busyPercent(FROM, TO);
    assertThat(busy).isGreaterThanOrEqualTo(97.0);
    assertThat(sim.sharePercent("a", FROM, TO)).isCloseTo(busy * 0.7, within(1.0));
    assertThat(sim.sharePercent("b", FROM, TO)).isCloseTo(busy * 0.3, within(1.0));
  }

  @ParameterizedTest(name = "four jobs at 25 % under {0}")
  @CsvSource({"SHARE", "CAP"})
  void fourJobsAtQuarterEach(Policy policy) {
    SchedulerSimulation sim = sim(policy);
    for (String id : List.of("a", "b", "c", "d")) {
      sim.busyJob(id, 25, 1 * MS);
    }

    sim.runUntil(TO);

    assertThat(sim.busyPercent(FROM, TO)).isGreaterThanOrEqualTo(97.0);
    for (String id : List.of("a", "b", "c", "d")) {
      assertThat(sim.sharePercent(id, FROM, TO)).as(id).isCloseTo(25.0, within(1.0));
    }
    assertThat(sim.overlaps()).isZero();
  }

  @Test
  void kernelsLongerThanALeaseConvergeUnderShare() {
    SchedulerSimulation sim = sim(Policy.SHARE);
    sim.busyJob("a", 70, 50 * MS);
    sim.busyJob("b", 30, 50 * MS);

    sim.runUntil(TO);

    double busy = sim.busyPercent(FROM, TO);
    assertThat(busy).isGreaterThanOrEqualTo(97.0);
    assertThat(sim.sharePercent("a", FROM, TO)).isCloseTo(busy * 0.7, within(1.0));
    assertThat(sim.sharePercent("b", FROM, TO)).isCloseTo(busy * 0.3, within(1.0));
  }

  @Test
  void kernelsLongerThanALeaseConvergeUnderCapWithTwoJobs() {
    SchedulerSimulation sim = sim(Policy.CAP);
    sim.busyJob("a", 25, 50 * MS);
    sim.busyJob("b", 50, 50 * MS);

    sim.runUntil(TO);

    assertThat(sim.sharePercent("a", FROM, TO)).isCloseTo(25.0, within(1.0));
    assertThat(sim.sharePercent("b", FROM, TO)).isCloseTo(50.0, within(1.0));
    assertThat(sim.overlaps()).isZero();
  }

  @Test
  void capLeavesTheRestToAnUnlimitedJob() {
    SchedulerSimulation sim = sim(Policy.CAP);
    sim.busyJob("capped", 25, 1 * MS);
    sim.busyJob("free", 0, 1 * MS);

    sim.runUntil(TO);

    assertThat(sim.sharePercent("capped", FROM, TO)).isCloseTo(25.0, within(1.0));
    assertThat(sim.sharePercent("free", FROM, TO)).isGreaterThanOrEqualTo(73.0);
  }

  @Test
  void capOversubscribedSplitsWithinLimits() {
    SchedulerSimulation sim = sim(Policy.CAP);
    sim.busyJob("a", 70, 1 * MS);
    sim.busyJob("b", 70, 1 * MS);

    sim.runUntil(TO);

    assertThat(sim.sharePercent("a", FROM, TO)).isCloseTo(50.0, within(1.5));
    assertThat(sim.sharePercent("b", FROM, TO)).isCloseTo(50.0, within(1.5));
    assertThat(sim.busyPercent(FROM, TO)).isGreaterThanOrEqualTo(97.0);
  }

  @ParameterizedTest(name = "an unlimited job alone under {0} keeps one open-ended lease")
  @CsvSource({"SHARE", "CAP"})
  void unlimitedJobAloneRunsOnOneOpenEndedLease(Policy policy) {
    SchedulerSimulation sim = sim(policy);
    sim.busyJob("a", 0, 1 * MS);

    sim.runUntil(TO);

    assertThat(sim.busyPercent(FROM, TO)).isGreaterThan(99.9);
    assertThat(sim.actions()).hasSize(1);
    assertThat(sim.actions().get(0).action()).isEqualTo(new Grant("a", 1, 0));
  }

  @Test
  void aJobThatGoesIdleHandsItsTimeToTheOtherWithinOneLease() {
    SchedulerSimulation sim = sim(Policy.SHARE);
    sim.job("a", 50, 1 * MS).workBetween(0, 5 * S);
    sim.busyJob("b", 50, 1 * MS);

    sim.runUntil(7 * S);

    assertThat(sim.sharePercent("a", 1 * S, 5 * S)).isCloseTo(49.5, within(1.0));
    assertThat(sim.sharePercent("a", 5 * S + LEASE, 7 * S)).isZero();
    assertThat(sim.sharePercent("b", 5 * S + LEASE, 7 * S)).isGreaterThan(99.0);
  }

  @Test
  void aJobReturningFromIdleDoesNotBankUnderShare() {
    SchedulerSimulation sim = sim(Policy.SHARE);
    sim.job("a", 50, 1 * MS).workBetween(0, 2 * S).workBetween(7 * S, 20 * S);
    sim.busyJob("b", 50, 1 * MS);

    sim.runUntil(9 * S);

    // After five idle seconds "a" gets its half again, not the whole GPU to catch up.
    assertThat(sim.sharePercent("a", 7 * S, 7 * S + 500 * MS)).isCloseTo(50.0, within(5.0));
    assertThat(sim.sharePercent("a", 7 * S, 9 * S)).isCloseTo(49.5, within(1.0));
  }

  @Test
  void aJobReturningFromIdleDoesNotBankUnderCap() {
    SchedulerSimulation sim = sim(Policy.CAP);
    sim.job("a", 25, 1 * MS).workBetween(0, 1 * S).workBetween(6 * S, 20 * S);

    sim.runUntil(16 * S);

    // Back after five idle seconds, it runs ahead of its rate by at most the one lease of credit
    // it kept plus the one lease it may start at a zero balance, not by five seconds' worth.
    assertThat(sim.sharePercent("a", 6 * S, 7 * S)).isLessThanOrEqualTo(25.0 + 100.0 * 2 * LEASE / S);
    assertThat(sim.sharePercent("a", 6 * S, 16 * S)).isCloseTo(25.0, within(0.5));
  }

  @Test
  void aRemovedHolderFreesTheGpuAtOnce() {
    SchedulerSimulation sim = sim(Policy.SHARE);
    sim.busyJob("a", 50, 1 * MS);
    sim.busyJob("b", 50, 1 * MS);
    long removeAt = 2 * S + 5 * MS;
    sim.runUntil(removeAt - 1);
    String holder = sim.scheduler.holder().orElseThrow();
    String other = holder.equals("a") ? "b" : "a";

    sim.removeJobAt(holder, removeAt);
    sim.runUntil(3 * S);

    Recorded grant =
        sim.actions().stream().filter(r -> r.atNanos() == removeAt).findFirst().orElseThrow();
    assertThat(grant.action()).isInstanceOf(Grant.class);
    assertThat(((Grant) grant.action()).jobId()).isEqualTo(other);
    assertThat(sim.firstKernelStart(other, removeAt)).isEqualTo(removeAt + HANDOFF);
    assertThat(sim.sharePercent(other, removeAt + HANDOFF, 3 * S)).isGreaterThan(99.0);
  }

  @Test
  void anUnresponsiveHolderIsRevokedAfterLeaseAndGrace() {
    SchedulerSimulation sim = sim(Policy.SHARE);
    sim.busyJob("stuck", 50, 1 * MS).unresponsive();
    sim.busyJob("b", 50, 1 * MS);

    sim.runUntil(3 * S);

    Recorded first = sim.actions().get(0);
    assertThat(first.action()).isEqualTo(new Grant("stuck", 1, 0));
    // "b" asked at the same instant: the open-ended lease is revoked at once, then forcibly
    // after the grace.
    assertThat(sim.actions().get(1)).isEqualTo(new Recorded(0, new Revoke("stuck", 1)));
    Recorded forced = sim.actions().get(2);
    assertThat(forced).isEqualTo(new Recorded(GRACE, new Revoke("stuck", 1)));
    assertThat(sim.actions().get(3).action()).isEqualTo(new Grant("b", 2, 0));
    // The stuck job is never granted again; "b" has the GPU from then on.
    assertThat(sim.actions()).hasSize(4);
    assertThat(sim.sharePercent("b", GRACE + HANDOFF, 3 * S)).isGreaterThan(99.9);
  }

  @Test
  void anUnresponsiveHolderOfATimedLeaseIsRevokedAfterLeasePlusGrace() {
    SchedulerSimulation sim = sim(Policy.CAP);
    sim.busyJob("stuck", 50, 1 * MS).unresponsive();
    sim.busyJob("b", 50, 1 * MS);

    sim.runUntil(3 * S);

    assertThat(sim.actions().get(0)).isEqualTo(new Recorded(0, new Grant("stuck", 1, LEASE)));
    assertThat(sim.actions().get(1)).isEqualTo(new Recorded(LEASE + GRACE, new Revoke("stuck", 1)));
    assertThat(sim.actions().get(2)).isEqualTo(new Recorded(LEASE + GRACE, new Grant("b", 2, LEASE)));
    assertThat(sim.sharePercent("b", 1 * S, 3 * S)).isCloseTo(50.0, within(1.0));
    assertThat(
            sim.actions().stream()
                .filter(r -> r.action() instanceof Grant g && g.jobId().equals("stuck")))
        .hasSize(1);
  }

  private static double shareFromStats(SchedulerSimulation sim, String id, long now) {
    return sim.scheduler.stats(now).stream()
        .filter(s -> s.jobId().equals(id))
        .mapToDouble(JobStats::sharePercentLast10s)
        .findFirst()
        .orElseThrow();
  }
}
