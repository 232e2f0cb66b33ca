package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.OptionalLong;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.softmig.gpu.domain.TimeSliceScheduler.Action;
import org.softmig.gpu.domain.TimeSliceScheduler.Grant;
import org.softmig.gpu.domain.TimeSliceScheduler.JobStats;
import org.softmig.gpu.domain.TimeSliceScheduler.Policy;
import org.softmig.gpu.domain.TimeSliceScheduler.Revoke;
import org.softmig.gpu.domain.TimeSliceScheduler.Settings;

/**
 * Random sequences of calls (fixed seeds, so failures reproduce) against the rules that must hold
 * whatever the callers do: one holder at a time, increasing lease ids, revokes only for the lease in
 * force, timers that always make progress, sane statistics.
 */
class TimeSliceSchedulerInvariantsTest {

  private static final long MS = 1_000_000L;
  private static final List<String> JOBS = List.of("a", "b", "c", "d");

  @ParameterizedTest(name = "{0} seed {1}")
  @CsvSource({"CAP, 1", "CAP, 2", "CAP, 3", "SHARE, 1", "SHARE, 2", "SHARE, 3"})
  void rulesHoldUnderRandomCalls(Policy policy, long seed) {
    Random random = new Random(seed);
    TimeSliceScheduler s = new TimeSliceScheduler(new Settings(policy, 20 * MS, 50 * MS));
    long now = 0;
    long lastLeaseId = 0;
    long currentLease = -1;
    String currentHolder = null;

    for (int step = 0; step < 5_000; step++) {
      now += (long) (random.nextDouble() * random.nextDouble() * 30 * MS);
      String job = JOBS.get(random.nextInt(JOBS.size()));
      List<Action> actions;
      int op = random.nextInt(100);
      if (op < 5) {
        double[] limits = {0, 10, 25, 50, 70, 100};
        s.setLimit(job, limits[random.nextInt(limits.length)]);
        actions = List.of();
      } else if (op < 35) {
        actions = s.request(job, now);
      } else if (op < 65) {
        // Release mostly the real lease, sometimes a stale or wrong one.
        long leaseId = currentLease >= 0 && random.nextInt(10) > 0 ? currentLease : lastLeaseId - 1;
        String who = currentHolder != null && random.nextInt(10) > 0 ? currentHolder : job;
        long used = (long) (random.nextDouble() * 60 * MS) - MS;
        actions = s.release(who, leaseId, used, random.nextBoolean(), now);
      } else if (op < 72) {
        actions = s.withdraw(job, now);
      } else if (op < 75) {
        actions = s.removeJob(job, now);
      } else {
        OptionalLong deadline = s.nextDeadlineNanos();
        if (deadline.isPresent() && deadline.getAsLong() <= now + 30 * MS) {
          now = Math.max(now, deadline.getAsLong());
        }
        actions = s.tick(now);
        OptionalLong after = s.nextDeadlineNanos();
        if (actions.isEmpty() && after.isPresent()) {
          assertThat(after.getAsLong()).as("timer progress at step %d", step).isGreaterThan(now);
        }
      }

      for (Action action : actions) {
        if (action instanceof Grant grant) {
          assertThat(grant.leaseId()).as("lease ids increase").isGreaterThan(lastLeaseId);
          assertThat(grant.durationNanos()).isIn(0L, 20 * MS);
          lastLeaseId = grant.leaseId();
          currentLease = grant.leaseId();
          currentHolder = grant.jobId();
        } else if (action instanceof Revoke revoke) {
          assertThat(revoke.leaseId()).as("revoke of the lease in force").isEqualTo(currentLease);
          assertThat(revoke.jobId()).isEqualTo(currentHolder);
        }
      }
      // The scheduler's view of the holder matches what its actions said.
      if (s.holder().isPresent()) {
        assertThat(s.holder()).contains(currentHolder);
        assertThat(s.currentLeaseId()).hasValue(currentLease);
      } else {
        currentLease = -1;
        currentHolder = null;
      }
      assertThat(s.waitingJobs()).doesNotContainNull().doesNotHaveDuplicates();
      if (s.holder().isPresent()) {
        assertThat(s.waitingJobs()).doesNotContain(s.holder().get());
      }
    }

    for (JobStats stats : s.stats(now)) {
      assertThat(stats.sharePercentLast10s()).isBetween(0.0, 100.0);
      assertThat(stats.gpuNanosTotal()).isNotNegative();
      assertThat(stats.waitNanosTotal()).isNotNegative();
      assertThat(stats.grantLatencyP50Nanos()).isLessThanOrEqualTo(stats.grantLatencyP99Nanos());
    }
    // Leases do not overlap, so no more GPU time can have been charged than has passed.
    long charged = s.stats(now).stream().mapToLong(JobStats::gpuNanosTotal).sum();
    assertThat(charged).isLessThanOrEqualTo(now);
  }
}
