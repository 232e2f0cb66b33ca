package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class GpuJobsTest {

  static final long GIB = 1L << 30;

  @Test
  void processesOfAJobAddTheirPidsAndTheLatestLimitsCount() {
    GpuJobs jobs = new GpuJobs();
    jobs.attach("j", "alice", 8 * GIB, 50, 300, 1_000);
    jobs.attach("j", "alice", 4 * GIB, 25, 100, 2_000);
    GpuJobs.Job job = jobs.live("j").orElseThrow();
    assertThat(job.pids()).containsExactly(100, 300);
    assertThat(job.memoryLimitBytes()).isEqualTo(4 * GIB);
    assertThat(job.smLimitPercent()).isEqualTo(25);
    assertThat(job.startedUnixMs()).isEqualTo(1_000);
    assertThat(job.placed()).isFalse();
    assertThat(jobs.userOf("j")).isEqualTo("alice");
    assertThat(jobs.userOf("nobody")).isEmpty();
  }

  @Test
  void aRePlaceThatNamesNoUserKeepsTheUser() {
    GpuJobs jobs = new GpuJobs();
    jobs.place("j", "bob", GIB, 10, 5);
    jobs.place("j", "", 2 * GIB, 20, 6);
    GpuJobs.Job job = jobs.live("j").orElseThrow();
    assertThat(job.user()).isEqualTo("bob");
    assertThat(job.placed()).isTrue();
    assertThat(job.memoryLimitBytes()).isEqualTo(2 * GIB);
    assertThat(jobs.unplace("j")).isTrue();
    assertThat(job.placed()).isFalse();
    assertThat(jobs.unplace("nobody")).isFalse();
  }

  @Test
  void anEndedJobIsInTheHistoryWithItsFiguresAndAReturningJobStartsAfresh() {
    GpuJobs jobs = new GpuJobs();
    GpuJobs.Job job = jobs.attach("j", "alice", GIB, 50, 7, 10_000);
    job.memory(3 * GIB, 2);
    job.memory(GIB, 5); // the peak stays the highest seen
    job.compute(4_000_000_000L, 1_000_000L);
    jobs.end("j", 20_000);
    assertThat(jobs.live("j")).isEmpty();
    assertThat(jobs.liveCount()).isZero();
    GpuJobs.Job past = jobs.liveOrPast("j").orElseThrow();
    assertThat(past.endedUnixMs()).isEqualTo(20_000);
    assertThat(past.peakBytes()).isEqualTo(3 * GIB);
    assertThat(past.refusals()).isEqualTo(5);
    assertThat(past.smSharePercent(99_999)).isEqualTo(40.0); // 4 s of GPU time over 10 s

    jobs.attach("j", "alice", GIB, 50, 8, 30_000);
    GpuJobs.Job again = jobs.liveOrPast("j").orElseThrow();
    assertThat(again.startedUnixMs()).isEqualTo(30_000);
    assertThat(again.pids()).containsExactly(8);
    assertThat(again.endedUnixMs()).isZero();
  }

  @Test
  void theHistoryIsBoundedOldestFirst() {
    GpuJobs jobs = new GpuJobs();
    for (int i = 0; i <= GpuJobs.HISTORY; i++) {
      jobs.attach("j" + i, "u", 0, 0, i, i);
      jobs.end("j" + i, i + 1);
    }
    assertThat(jobs.liveOrPast("j0")).isEmpty();
    assertThat(jobs.liveOrPast("j1")).isPresent();
    assertThat(jobs.liveOrPast("j" + GpuJobs.HISTORY)).isPresent();
  }

  @Test
  void incidentsGoToTheJobsOnTheGpuAndAreBounded() {
    GpuJobs jobs = new GpuJobs();
    jobs.attach("a", "u", 0, 0, 1, 0);
    jobs.place("b", "u", 0, 0, 0);
    jobs.attach("gone", "u", 0, 0, 2, 0);
    jobs.end("gone", 1);
    for (int i = 0; i < GpuJobs.MAX_INCIDENTS + 5; i++) {
      jobs.incident("MPS server fault " + i);
    }
    assertThat(jobs.live("a").orElseThrow().incidents()).hasSize(GpuJobs.MAX_INCIDENTS);
    assertThat(jobs.live("b").orElseThrow().incidents()).startsWith("MPS server fault 0");
    assertThat(jobs.liveOrPast("gone").orElseThrow().incidents()).isEmpty();
  }

  @Test
  void theShareOfALiveJobRunsToNowAndIsAtMostAHundred() {
    GpuJobs jobs = new GpuJobs();
    GpuJobs.Job job = jobs.attach("j", "u", 0, 0, 1, 1_000);
    job.compute(5_000_000_000L, 0);
    assertThat(job.smSharePercent(3_000)).isEqualTo(100.0);
    assertThat(job.smSharePercent(11_000)).isEqualTo(50.0);
  }
}
