package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class LeaseSharingTest {

  static final long MS = 1_000_000L;
  static final long US = 1_000L;

  static LeaseSharing sharing(TimeSliceScheduler.Policy policy) {
    return new LeaseSharing(
        new TimeSliceScheduler(new TimeSliceScheduler.Settings(policy, 20 * MS, 500 * MS)));
  }

  static List<LeaseSharing.Grant> grants(List<LeaseSharing.Effect> effects) {
    List<LeaseSharing.Grant> grants = new ArrayList<>();
    for (LeaseSharing.Effect e : effects) {
      if (e instanceof LeaseSharing.Grant g) {
        grants.add(g);
      }
    }
    return grants;
  }

  static LeaseSharing.Release release(long session, long lease, long used, boolean idle) {
    return new LeaseSharing.Release(session, lease, used, idle, 0, 0, false);
  }

  static LeaseSharing.Release pending(long session, long lease, long used, long releasedAt) {
    return new LeaseSharing.Release(session, lease, used, false, releasedAt, 0, true);
  }

  @Test
  void everySessionThatAskedSharesTheLeaseAndItEndsWhenAllReleased() {
    LeaseSharing s = sharing(TimeSliceScheduler.Policy.CAP);
    s.scheduler().setLimit("a", 50);
    s.scheduler().setLimit("b", 50);
    s.join("a", 1);
    s.join("a", 2);
    s.join("b", 3);
    long t = 1000 * MS;

    LeaseSharing.Grant first = grants(s.request(1, t)).get(0);
    assertThat(first.sessionId()).isEqualTo(1);
    assertThat(first.durationNanos()).isEqualTo(20 * MS);
    assertThat(first.gpuFreeMonoNanos()).isEqualTo(t); // found the GPU free

    List<LeaseSharing.Grant> joined = grants(s.request(2, t + 5 * MS));
    assertThat(joined).containsExactly(new LeaseSharing.Grant(2, first.leaseId(), 15 * MS, 0));
    assertThat(grants(s.request(3, t + 6 * MS))).isEmpty();

    assertThat(grants(s.release(release(1, first.leaseId(), 20 * MS, true), t + 20 * MS)))
        .isEmpty(); // session 2 still holds it
    List<LeaseSharing.Grant> next =
        grants(s.release(release(2, first.leaseId(), 12 * MS, true), t + 21 * MS));
    assertThat(next).hasSize(1);
    assertThat(next.get(0).sessionId()).isEqualTo(3);
    assertThat(next.get(0).gpuFreeMonoNanos()).isEqualTo(t + 21 * MS);
    TimeSliceScheduler.JobStats a = stats(s, "a", t + 22 * MS);
    assertThat(a.gpuNanosTotal()).isEqualTo(20 * MS); // the longest of the two reports
  }

  @Test
  void aSessionThatLeavesEndsItsPartOfTheLeaseAtOnce() {
    LeaseSharing s = sharing(TimeSliceScheduler.Policy.SHARE);
    s.join("a", 1);
    s.join("b", 2);
    long t = 1000 * MS;
    long lease = grants(s.request(1, t)).get(0).leaseId();
    s.request(2, t + MS);
    List<LeaseSharing.Grant> next = grants(s.leave(1, t + 3 * MS));
    assertThat(next).extracting(LeaseSharing.Grant::sessionId).containsExactly(2L);
    assertThat(next.get(0).leaseId()).isGreaterThan(lease);
    assertThat(stats(s, "a", t + 3 * MS).gpuNanosTotal()).isEqualTo(3 * MS);
  }

  @Test
  void aPendingReleaseHandsTheGpuOnAtOnceAndTheWorkEndCorrectsTheCharge() {
    LeaseSharing s = sharing(TimeSliceScheduler.Policy.SHARE);
    s.join("a", 1);
    s.join("b", 2);
    long t = 1000 * MS;
    long leaseA = grants(s.request(1, t)).get(0).leaseId();
    s.request(2, t);
    // a's lease ends at t+20 ms with 3 ms of its kernels still queued: b is granted at once
    List<LeaseSharing.Grant> next = grants(s.release(pending(1, leaseA, 20 * MS, t + 20 * MS), t + 20 * MS));
    assertThat(next).extracting(LeaseSharing.Grant::sessionId).containsExactly(2L);
    long leaseB = next.get(0).leaseId();
    assertThat(stats(s, "a", t + 20 * MS).gpuNanosTotal()).isEqualTo(20 * MS);

    s.workDone(1, leaseA, t, t + 23 * MS, t + 23 * MS + 50 * US);
    assertThat(stats(s, "a", t + 24 * MS).gpuNanosTotal()).isEqualTo(23 * MS);

    // b's work could only start when a's ended: 3 ms of its lease were a's
    s.release(pending(2, leaseB, 20 * MS, t + 40 * MS), t + 40 * MS);
    s.workDone(2, leaseB, t + 20 * MS + 100 * US, t + 41 * MS, t + 41 * MS);
    assertThat(stats(s, "b", t + 42 * MS).gpuNanosTotal()).isEqualTo(18 * MS);
  }

  @Test
  void onATimeSlicedGpuTheOverlapOfATailAndTheNextLeaseIsSplitBetweenTheJobs() {
    LeaseSharing s =
        new LeaseSharing(
            new TimeSliceScheduler(
                new TimeSliceScheduler.Settings(TimeSliceScheduler.Policy.SHARE, 20 * MS, 500 * MS)),
            true);
    s.join("a", 1);
    s.join("b", 2);
    long t = 1000 * MS;
    long leaseA = grants(s.request(1, t)).get(0).leaseId();
    s.request(2, t);
    long leaseB =
        grants(s.release(pending(1, leaseA, 20 * MS, t + 20 * MS), t + 20 * MS)).get(0).leaseId();
    // a's 8 ms tail runs beside b's first kernels: it ends 16 ms after the hand-off
    s.workDone(1, leaseA, t, t + 36 * MS, t + 36 * MS);
    assertThat(stats(s, "a", t + 37 * MS).gpuNanosTotal()).isEqualTo(36 * MS);
    s.release(pending(2, leaseB, 20 * MS, t + 40 * MS), t + 40 * MS);
    s.workDone(2, leaseB, t + 20 * MS, t + 41 * MS, t + 41 * MS);
    // the 16 ms both ran in: 8 ms each
    assertThat(stats(s, "a", t + 42 * MS).gpuNanosTotal()).isEqualTo(28 * MS);
    assertThat(stats(s, "b", t + 42 * MS).gpuNanosTotal()).isEqualTo(13 * MS);
  }

  @Test
  void aWorkReportTakesTheReleaseRouteAndSettlesTheCharge() {
    LeaseSharing s = sharing(TimeSliceScheduler.Policy.SHARE);
    s.join("a", 1);
    s.join("b", 2);
    long t = 1000 * MS;
    long leaseA = grants(s.request(1, t)).get(0).leaseId();
    s.request(2, t);
    s.release(pending(1, leaseA, 20 * MS, t + 20 * MS), t + 20 * MS);
    LeaseSharing.Release report =
        new LeaseSharing.Release(1, leaseA, 23 * MS, false, t + 23 * MS, 0, false, t, t + 23 * MS);
    assertThat(report.isWorkReport()).isTrue();
    // a report asks for nothing: no grant, and the job does not start waiting again
    assertThat(s.release(report, t + 23 * MS)).isEmpty();
    assertThat(stats(s, "a", t + 24 * MS).gpuNanosTotal()).isEqualTo(23 * MS);
  }

  @Test
  void dueTimersAreTickedAtOnceAndFutureOnesAreLeft() {
    LeaseSharing s =
        new LeaseSharing(
            new TimeSliceScheduler(
                new TimeSliceScheduler.Settings(TimeSliceScheduler.Policy.CAP, 20 * MS, 0)));
    s.scheduler().setLimit("a", 50);
    s.scheduler().setLimit("b", 50);
    s.join("a", 1);
    s.join("b", 2);
    long t = 1000 * MS;
    long leaseA = grants(s.request(1, t)).get(0).leaseId();
    s.request(2, t);
    assertThat(s.tickDue(t + MS, 8)).isEmpty(); // a's lease runs until t + 20 ms
    // a never releases; with no grace its lease is overdue at its end, and b goes next
    List<LeaseSharing.Effect> due = s.tickDue(t + 20 * MS, 8);
    assertThat(due).contains(new LeaseSharing.Revoke(1, leaseA));
    assertThat(grants(due)).extracting(LeaseSharing.Grant::sessionId).containsExactly(2L);
    assertThat(s.nextDeadlineNanos().getAsLong()).isGreaterThan(t + 20 * MS);
  }

  @Test
  void workReportsAreClampedIntoTheLeaseAndCountOnce() {
    LeaseSharing s = sharing(TimeSliceScheduler.Policy.SHARE);
    s.join("a", 1);
    long t = 1000 * MS;
    long lease = grants(s.request(1, t)).get(0).leaseId();
    s.request(1, t);
    s.release(pending(1, lease, 5 * MS, t + 5 * MS), t + 5 * MS);
    // claims its work ended before its release and began before its grant: charged release time
    s.workDone(1, lease, t - 100 * MS, t + MS, t + 6 * MS);
    assertThat(stats(s, "a", t + 6 * MS).gpuNanosTotal()).isEqualTo(5 * MS);
    s.workDone(1, lease, t, t + 6 * MS, t + 7 * MS); // twice: ignored
    s.workDone(1, lease + 7, t, t + 6 * MS, t + 7 * MS); // another lease: ignored
    assertThat(stats(s, "a", t + 7 * MS).gpuNanosTotal()).isEqualTo(5 * MS);
  }

  @Test
  void aSessionThatLeavesWithWorkPendingIsChargedUntilItLeft() {
    LeaseSharing s = sharing(TimeSliceScheduler.Policy.SHARE);
    s.join("a", 1);
    long t = 1000 * MS;
    long lease = grants(s.request(1, t)).get(0).leaseId();
    s.release(new LeaseSharing.Release(1, lease, 5 * MS, true, t + 5 * MS, 0, true), t + 5 * MS);
    s.leave(1, t + 8 * MS);
    assertThat(stats(s, "a", t + 8 * MS).gpuNanosTotal()).isEqualTo(8 * MS);
  }

  /**
   * Two busy jobs on a simulated GPU whose work runs one lease after another: each releases at
   * its deadline with {@code tail} of kernels still queued and reports the work's end when it
   * completes; grants reach the next job {@code handoff} (600 us) after the release. With tails
   * longer than the hand-off, the GPU never waits, and each job's real GPU time over 20 simulated
   * seconds is within one point of its share, however unequal the tails.
   */
  @ParameterizedTest
  @CsvSource({
    "CAP, 50, 50, 3000, 3000",
    "CAP, 50, 50, 6000, 1000",
    "CAP, 70, 30, 4000, 800",
    "CAP, 10, 90, 800, 4000",
    "SHARE, 50, 50, 6000, 1000",
    "SHARE, 70, 30, 800, 5000",
    "SHARE, 10, 90, 4000, 700"
  })
  void overlappedHandOffsKeepSharesWithinAPoint(
      TimeSliceScheduler.Policy policy, double limitA, double limitB, long tailAUs, long tailBUs) {
    GpuSim sim = simulate(policy, limitA, limitB, tailAUs, tailBUs);
    assertThat(sim.percent("a")).isCloseTo(limitA, within(1.0));
    assertThat(sim.percent("b")).isCloseTo(limitB, within(1.0));
    assertThat(sim.percent("a") + sim.percent("b")).isGreaterThan(99.0);
  }

  /**
   * Whatever the tails, even shorter than the hand-off (the GPU then idles between leases), each
   * job is charged exactly the GPU time its work took.
   */
  @ParameterizedTest
  @CsvSource({"CAP, 50, 50, 6000, 100", "SHARE, 70, 30, 100, 5000", "SHARE, 50, 50, 0, 0"})
  void everyJobIsChargedTheGpuTimeItsWorkTook(
      TimeSliceScheduler.Policy policy, double limitA, double limitB, long tailAUs, long tailBUs) {
    GpuSim sim = simulate(policy, limitA, limitB, tailAUs, tailBUs);
    for (String job : List.of("a", "b")) {
      long charged = stats(sim.sharing, job, sim.clock).gpuNanosTotal();
      assertThat((double) charged).isCloseTo((double) sim.real.get(job), within(2.0 * MS));
    }
  }

  static GpuSim simulate(
      TimeSliceScheduler.Policy policy, double limitA, double limitB, long tailAUs, long tailBUs) {
    Map<String, Long> tails = Map.of("a", tailAUs * US, "b", tailBUs * US);
    GpuSim sim = new GpuSim(policy, Map.of("a", limitA, "b", limitB), tails, 600 * US);
    sim.run(20_000 * MS);
    return sim;
  }

  static org.assertj.core.data.Offset<Double> within(double d) {
    return org.assertj.core.data.Offset.offset(d);
  }

  static TimeSliceScheduler.JobStats stats(LeaseSharing s, String job, long now) {
    for (TimeSliceScheduler.JobStats st : s.scheduler().stats(now)) {
      if (st.jobId().equals(job)) {
        return st;
      }
    }
    throw new AssertionError("no job " + job);
  }

  /** Event-driven simulation of busy jobs (one session each) sharing one GPU through leases. */
  static final class GpuSim {
    record Event(long at, long seq, Runnable action) {}

    final LeaseSharing sharing;
    final Map<String, Long> tails;
    final long handoff;
    final Map<Long, String> jobOf = new HashMap<>();
    final Map<String, Long> real = new HashMap<>();
    final PriorityQueue<Event> events =
        new PriorityQueue<>((x, y) -> x.at != y.at ? Long.compare(x.at, y.at) : Long.compare(x.seq, y.seq));
    long seq;
    long gpuBusyUntil;
    long elapsed;

    GpuSim(
        TimeSliceScheduler.Policy policy,
        Map<String, Double> limits,
        Map<String, Long> tails,
        long handoff) {
      sharing = sharing(policy);
      this.tails = tails;
      this.handoff = handoff;
      long session = 1;
      for (Map.Entry<String, Double> e : limits.entrySet()) {
        sharing.scheduler().setLimit(e.getKey(), e.getValue());
        sharing.join(e.getKey(), session);
        jobOf.put(session, e.getKey());
        real.put(e.getKey(), 0L);
        session++;
      }
    }

    void at(long time, Runnable action) {
      events.add(new Event(time, seq++, action));
    }

    void deliver(List<LeaseSharing.Effect> effects, long now) {
      for (LeaseSharing.Effect e : effects) {
        if (e instanceof LeaseSharing.Grant g) {
          at(now + handoff, () -> arrive(g, now + handoff));
        }
      }
      sharing.nextDeadlineNanos().ifPresent(d -> at(Math.max(now, d), () -> tick()));
    }

    long clock;

    void tick() {
      deliver(sharing.tick(clock), clock);
    }

    void arrive(LeaseSharing.Grant g, long arrival) {
      String job = jobOf.get(g.sessionId());
      long deadline = arrival + g.durationNanos();
      at(deadline, () -> {
        // its work ran from when the GPU was free for it until its queue drains
        long start = Math.max(arrival, gpuBusyUntil);
        long end = Math.max(deadline, gpuBusyUntil) + tails.get(job);
        gpuBusyUntil = end;
        real.merge(job, end - start, Long::sum);
        deliver(
            sharing.release(
                new LeaseSharing.Release(
                    g.sessionId(), g.leaseId(), deadline - arrival, false, deadline, 0, true),
                deadline),
            deadline);
        at(end, () -> deliver(sharing.workDone(g.sessionId(), g.leaseId(), arrival, end, end), end));
      });
    }

    double percent(String job) {
      return 100.0 * real.get(job) / elapsed;
    }

    void run(long duration) {
      long t0 = 1000 * MS;
      gpuBusyUntil = t0;
      for (long session : jobOf.keySet()) {
        deliver(sharing.request(session, t0), t0);
      }
      while (!events.isEmpty() && events.peek().at < t0 + duration) {
        Event e = events.poll();
        clock = e.at;
        e.action.run();
      }
      elapsed = Math.max(clock, gpuBusyUntil) - t0;
    }
  }
}
