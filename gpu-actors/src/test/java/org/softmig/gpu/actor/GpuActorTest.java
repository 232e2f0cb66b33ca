package org.softmig.gpu.actor;

import static org.assertj.core.api.Assertions.assertThat;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.softmig.gpu.domain.TimeSliceScheduler;

class GpuActorTest {

  static final ActorTestKit testKit = ActorTestKit.create();
  static final long GIB = 1L << 30;
  static final long MS = 1_000_000L;

  @AfterAll
  static void cleanup() {
    testKit.shutdownTestKit();
  }

  final AtomicLong clock = new AtomicLong(1_000 * MS);
  long nextSession = 1;

  ActorRef<GpuActor.Command> gpu(TimeSliceScheduler.Policy policy) {
    return testKit.spawn(
        GpuActor.create(
            new GpuDescriptor("GPU-test", 0, "Test GPU", 48 * GIB),
            new GpuActor.Settings(
                true, new TimeSliceScheduler.Settings(policy, 20 * MS, 60_000 * MS)),
            clock::get));
  }

  /** Attaches a session and returns its probe, with the Attached message consumed. */
  TestProbe<SessionActor.Event> attach(
      ActorRef<GpuActor.Command> gpu, long session, String job, long memory, double sm) {
    TestProbe<SessionActor.Event> probe = testKit.createTestProbe();
    gpu.tell(
        new GpuActor.Attach(
            new SessionSpec(session, job, 100 + (int) session, 1000, "alice", LimitSource.ADMIN_CONFIG),
            new DeviceRequest(0, "GPU-test", 0, memory, sm),
            toProbe(probe),
            probe.ref()));
    SessionActor.Attached attached = probe.expectMessageClass(SessionActor.Attached.class);
    assertThat(attached.limit().memoryLimitBytes()).isEqualTo(memory);
    assertThat(attached.limit().gated()).isTrue();
    return probe;
  }

  /** The connection side of a session: everything it is sent lands on the probe. */
  static SessionOutput toProbe(TestProbe<SessionActor.Event> probe) {
    return new SessionOutput() {
      @Override
      public void welcome(
          SessionSpec spec,
          java.util.List<DeviceLimit> limits,
          ActorRef<SessionActor.Command> session,
          java.util.List<ActorRef<GpuActor.Command>> gpus) {}

      @Override
      public void send(SessionActor.Outbound message) {
        probe.ref().tell(message);
      }

      @Override
      public void refuse(String reason) {
        throw new AssertionError("refused: " + reason);
      }
    };
  }

  @Test
  void answersReservesInOrderAndReleasesOnDetach() {
    var gpu = gpu(TimeSliceScheduler.Policy.CAP);
    var a = attach(gpu, 1, "j1", 0, 0);
    gpu.tell(new GpuActor.Reserve(1, 7, 40 * GIB));
    var granted = a.expectMessageClass(SessionActor.MemDecision.class);
    assertThat(granted.granted()).isTrue();
    assertThat(granted.requestId()).isEqualTo(7);

    var b = attach(gpu, 2, "j2", 0, 0);
    gpu.tell(new GpuActor.Reserve(2, 8, 10 * GIB));
    var refused = b.expectMessageClass(SessionActor.MemDecision.class);
    assertThat(refused.granted()).isFalse();
    assertThat(refused.deviceFreeBytes()).isEqualTo(8 * GIB);

    gpu.tell(new GpuActor.Detach(1));
    gpu.tell(new GpuActor.Reserve(2, 9, 10 * GIB));
    assertThat(b.expectMessageClass(SessionActor.MemDecision.class).granted()).isTrue();
  }

  @Test
  void aLoneSessionOfALimitedJobGetsCreditAndASecondOneRevokesIt() {
    var gpu = gpu(TimeSliceScheduler.Policy.CAP);
    var a = attach(gpu, 1, "j", 8 * GIB, 0);
    var credit = a.expectMessageClass(SessionActor.CreditGranted.class);
    assertThat(credit.ceilingBytes()).isEqualTo(8 * GIB);
    attach(gpu, 2, "j", 8 * GIB, 0);
    assertThat(a.expectMessageClass(SessionActor.CreditRevoked.class).epoch())
        .isEqualTo(credit.epoch());
  }

  @Test
  void aCreditThatIsNotReturnedInTimeIsEndedAndWaitingReservesAreAnswered() {
    var gpu = gpu(TimeSliceScheduler.Policy.CAP);
    var a = attach(gpu, 1, "slow", 8 * GIB, 0);
    a.expectMessageClass(SessionActor.CreditGranted.class);
    var b = attach(gpu, 2, "slow", 8 * GIB, 0);
    a.expectMessageClass(SessionActor.CreditRevoked.class);
    gpu.tell(new GpuActor.Reserve(2, 5, 2 * GIB));
    var reply =
        b.expectMessageClass(
            SessionActor.MemDecision.class,
            GpuActor.CREDIT_RETURN_TIMEOUT.plus(Duration.ofSeconds(3)));
    assertThat(reply.granted()).isTrue();
    assertThat(reply.requestId()).isEqualTo(5);
  }

  @Test
  void everyAskingSessionOfTheHoldingJobGetsTheLeaseAndItEndsWhenAllReleased() {
    var gpu = gpu(TimeSliceScheduler.Policy.CAP);
    var a1 = attach(gpu, 1, "a", 0, 50);
    var a2 = attach(gpu, 2, "a", 0, 50);
    var b = attach(gpu, 3, "b", 0, 50);

    gpu.tell(new GpuActor.LeaseRequest(1));
    var grant = a1.expectMessageClass(SessionActor.LeaseGranted.class);
    assertThat(grant.durationNanos()).isEqualTo(20 * MS);

    clock.addAndGet(5 * MS);
    gpu.tell(new GpuActor.LeaseRequest(2)); // joins the current lease with what is left of it
    var joined = a2.expectMessageClass(SessionActor.LeaseGranted.class);
    assertThat(joined.leaseId()).isEqualTo(grant.leaseId());
    assertThat(joined.durationNanos()).isEqualTo(15 * MS);

    gpu.tell(new GpuActor.LeaseRequest(3));
    b.expectNoMessage(Duration.ofMillis(100));

    clock.addAndGet(15 * MS);
    gpu.tell(new GpuActor.LeaseRelease(1, grant.leaseId(), 20 * MS, true));
    b.expectNoMessage(Duration.ofMillis(100)); // session 2 still holds the lease
    gpu.tell(new GpuActor.LeaseRelease(2, grant.leaseId(), 12 * MS, true));
    var bGrant = b.expectMessageClass(SessionActor.LeaseGranted.class);
    assertThat(bGrant.leaseId()).isGreaterThan(grant.leaseId());
  }

  @Test
  void grantsCarryWhenTheGpuBecameFreeAndStatusShowsTheReportedHandoffs() {
    var gpu = gpu(TimeSliceScheduler.Policy.CAP);
    var a = attach(gpu, 1, "a", 0, 50);
    var b = attach(gpu, 2, "b", 0, 50);

    long requestedAt = clock.get();
    gpu.tell(new GpuActor.LeaseRequest(1)); // finds the GPU free
    var aGrant = a.expectMessageClass(SessionActor.LeaseGranted.class);
    assertThat(aGrant.gpuFreeMonoNanos()).isEqualTo(requestedAt);

    gpu.tell(new GpuActor.LeaseRequest(2));
    clock.addAndGet(21 * MS);
    long releasedAt = clock.get() - 300_000; // sent by the process a little before it arrived
    gpu.tell(new GpuActor.LeaseRelease(1, aGrant.leaseId(), 20 * MS, true, releasedAt, 30_000));
    var bGrant = b.expectMessageClass(SessionActor.LeaseGranted.class);
    assertThat(bGrant.gpuFreeMonoNanos()).isEqualTo(releasedAt);

    clock.addAndGet(20 * MS);
    gpu.tell(
        new GpuActor.LeaseRelease(2, bGrant.leaseId(), 20 * MS, true, clock.get(), 40_000));
    TestProbe<GpuSnapshot> snapshots = testKit.createTestProbe();
    gpu.tell(new GpuActor.GetSnapshot(snapshots.ref()));
    Map<String, GpuSnapshot.JobSnapshot> jobs = new HashMap<>();
    for (GpuSnapshot.JobSnapshot job : snapshots.receiveMessage().jobs()) {
      jobs.put(job.jobId(), job);
    }
    assertThat(jobs.get("a").grantLatencyP50Nanos()).isEqualTo(30_000);
    assertThat(jobs.get("a").grantLatencyP99Nanos()).isEqualTo(30_000);
    assertThat(jobs.get("b").grantLatencyP50Nanos()).isEqualTo(40_000);
  }

  @Test
  void aReleaseWithWorkPendingHandsTheGpuOnAndItsWorkReportSettlesTheCharge() {
    var gpu = gpu(TimeSliceScheduler.Policy.CAP);
    var a = attach(gpu, 1, "a", 0, 50);
    var b = attach(gpu, 2, "b", 0, 50);
    gpu.tell(new GpuActor.LeaseRequest(1));
    var aGrant = a.expectMessageClass(SessionActor.LeaseGranted.class);
    long grantedAt = clock.get();
    gpu.tell(new GpuActor.LeaseRequest(2));

    clock.addAndGet(20 * MS);
    gpu.tell(
        new GpuActor.LeaseRelease(
            1, aGrant.leaseId(), 20 * MS, false, clock.get(), 0, true, 0, 0));
    b.expectMessageClass(SessionActor.LeaseGranted.class); // while a's last kernels still run

    clock.addAndGet(4 * MS);
    gpu.tell(
        new GpuActor.LeaseRelease(
            1, aGrant.leaseId(), 24 * MS, false, clock.get(), 0, false, grantedAt, clock.get()));
    TestProbe<GpuSnapshot> snapshots = testKit.createTestProbe();
    gpu.tell(new GpuActor.GetSnapshot(snapshots.ref()));
    Map<String, GpuSnapshot.JobSnapshot> jobs = new HashMap<>();
    for (GpuSnapshot.JobSnapshot job : snapshots.receiveMessage().jobs()) {
      jobs.put(job.jobId(), job);
    }
    assertThat(jobs.get("a").gpuTimeNanos()).isEqualTo(24 * MS);
    a.expectNoMessage(Duration.ofMillis(50)); // the work report asked for nothing
  }

  @Test
  void aSessionThatClosesLeavesTheLeaseAtOnce() {
    var gpu = gpu(TimeSliceScheduler.Policy.SHARE);
    var a = attach(gpu, 1, "a", 0, 50);
    var b = attach(gpu, 2, "b", 0, 50);
    gpu.tell(new GpuActor.LeaseRequest(1));
    a.expectMessageClass(SessionActor.LeaseGranted.class);
    gpu.tell(new GpuActor.LeaseRequest(2));
    clock.addAndGet(3 * MS);
    gpu.tell(new GpuActor.Detach(1));
    b.expectMessageClass(SessionActor.LeaseGranted.class);
  }

  @Test
  void anOpenEndedLeaseIsRevokedWhenAnotherJobAsks() {
    var gpu = gpu(TimeSliceScheduler.Policy.CAP);
    var a = attach(gpu, 1, "a", 0, 0); // no limit, alone: open-ended
    var b = attach(gpu, 2, "b", 0, 30);
    gpu.tell(new GpuActor.LeaseRequest(1));
    var grant = a.expectMessageClass(SessionActor.LeaseGranted.class);
    assertThat(grant.durationNanos()).isZero();
    gpu.tell(new GpuActor.LeaseRequest(2));
    assertThat(a.expectMessageClass(SessionActor.LeaseRevoked.class).leaseId())
        .isEqualTo(grant.leaseId());
    clock.addAndGet(2 * MS);
    gpu.tell(new GpuActor.LeaseRelease(1, grant.leaseId(), 2 * MS, false));
    b.expectMessageClass(SessionActor.LeaseGranted.class);
  }

  @Test
  void snapshotShowsPlacedJobsBeforeAnyProcessAndReportsOutliveTheJob() {
    var gpu = gpu(TimeSliceScheduler.Policy.CAP);
    gpu.tell(new GpuActor.Place("p", "bob", 12 * GIB, 25));
    TestProbe<GpuSnapshot> snapshots = testKit.createTestProbe();
    gpu.tell(new GpuActor.GetSnapshot(snapshots.ref()));
    GpuSnapshot snapshot = snapshots.expectMessageClass(GpuSnapshot.class);
    assertThat(snapshot.jobs()).hasSize(1);
    assertThat(snapshot.jobs().get(0).placed()).isTrue();
    assertThat(snapshot.jobs().get(0).memoryLimitBytes()).isEqualTo(12 * GIB);
    assertThat(snapshot.memoryCommittedBytes()).isEqualTo(12 * GIB);

    var s = attach(gpu, 1, "q", 0, 0);
    gpu.tell(new GpuActor.Reserve(1, 1, 3 * GIB));
    s.expectMessageClass(SessionActor.MemDecision.class);
    gpu.tell(new GpuActor.Detach(1));
    TestProbe<Optional<JobReportSnapshot>> reports = testKit.createTestProbe();
    gpu.tell(new GpuActor.GetReport("q", reports.ref()));
    JobReportSnapshot report = reports.receiveMessage().orElseThrow();
    assertThat(report.memoryPeakBytes()).isEqualTo(3 * GIB);
    assertThat(report.pids()).containsExactly(101);
    assertThat(report.endedUnixMs()).isPositive();

    gpu.tell(new GpuActor.GetReport("nobody", reports.ref()));
    assertThat(reports.receiveMessage()).isEmpty();
  }
}
