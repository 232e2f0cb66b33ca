package org.softmig.gpu.actor;

import static org.assertj.core.api.Assertions.assertThat;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.softmig.gpu.domain.TimeSliceScheduler;

/** What the GPU actor does with NVML's figures and what it tells the metrics. */
class GpuActorNvmlTest {

  static final ActorTestKit testKit = ActorTestKit.create();
  static final long GIB = 1L << 30;
  static final long MIB = 1L << 20;
  static final long MS = 1_000_000L;

  @AfterAll
  static void cleanup() {
    testKit.shutdownTestKit();
  }

  record Grant(String gpu, String job, String user, long latencyNanos) {}

  final AtomicLong clock = new AtomicLong(1_000 * MS);
  final List<Grant> grants = new CopyOnWriteArrayList<>();

  ActorRef<GpuActor.Command> gpu() {
    return testKit.spawn(
        GpuActor.create(
            new GpuDescriptor("GPU-test", 0, "Test GPU", 48 * GIB),
            new GpuActor.Settings(
                true,
                new TimeSliceScheduler.Settings(
                    TimeSliceScheduler.Policy.SHARE, 20 * MS, 60_000 * MS),
                (gpu, job, user, latency) -> grants.add(new Grant(gpu, job, user, latency))),
            clock::get));
  }

  TestProbe<SessionActor.Event> attach(
      ActorRef<GpuActor.Command> gpu, long session, String job, long memory, double sm) {
    TestProbe<SessionActor.Event> probe = testKit.createTestProbe();
    gpu.tell(
        new GpuActor.Attach(
            new SessionSpec(
                session, job, 100 + (int) session, 1000, "alice", LimitSource.ADMIN_CONFIG),
            new DeviceRequest(0, "GPU-test", 0, memory, sm),
            GpuActorTest.toProbe(probe),
            probe.ref()));
    probe.expectMessageClass(SessionActor.Attached.class);
    return probe;
  }

  /** Returns once the actor has handled everything sent before. */
  static void barrier(ActorRef<GpuActor.Command> gpu) {
    TestProbe<GpuSnapshot> probe = testKit.createTestProbe();
    gpu.tell(new GpuActor.GetSnapshot(probe.ref()));
    probe.expectMessageClass(GpuSnapshot.class);
  }

  @Test
  void overheadNvmlSeesCountsInEveryMemoryDecision() {
    var gpu = gpu();
    var a = attach(gpu, 1, "j", 4 * GIB, 0);
    var b = attach(gpu, 2, "j", 4 * GIB, 0); // two sessions: exact mode
    a.expectMessageClass(SessionActor.CreditGranted.class);
    var revoked = a.expectMessageClass(SessionActor.CreditRevoked.class);
    gpu.tell(new GpuActor.CreditReturn(1, revoked.epoch()));

    gpu.tell(new GpuActor.SetOverhead(Map.of("j", 600 * MIB)));
    gpu.tell(new GpuActor.Reserve(2, 1, 3 * GIB + 512 * MIB));
    var refused = b.expectMessageClass(SessionActor.MemDecision.class);
    assertThat(refused.granted()).isFalse();
    assertThat(refused.jobUsedBytes()).isEqualTo(600 * MIB);

    gpu.tell(new GpuActor.Reserve(2, 2, 3 * GIB));
    var granted = b.expectMessageClass(SessionActor.MemDecision.class);
    assertThat(granted.granted()).isTrue();
    assertThat(granted.jobUsedBytes()).isEqualTo(3 * GIB + 600 * MIB);

    gpu.tell(new GpuActor.SetOverhead(Map.of())); // NVML no longer sees any
    gpu.tell(new GpuActor.Reserve(2, 3, 900 * MIB));
    assertThat(b.expectMessageClass(SessionActor.MemDecision.class).granted()).isTrue();
  }

  @Test
  void everyGrantIsToldWithTheTimeTheJobWaited() {
    var gpu = gpu();
    var a = attach(gpu, 1, "a", 0, 50);
    var b = attach(gpu, 2, "b", 0, 50);
    gpu.tell(new GpuActor.LeaseRequest(1));
    var first = a.expectMessageClass(SessionActor.LeaseGranted.class);
    clock.addAndGet(2 * MS);
    gpu.tell(new GpuActor.LeaseRequest(2)); // b waits for a
    barrier(gpu);
    clock.addAndGet(5 * MS);
    gpu.tell(new GpuActor.LeaseRelease(1, first.leaseId(), 7 * MS, true));
    b.expectMessageClass(SessionActor.LeaseGranted.class);

    assertThat(grants)
        .containsExactly(
            new Grant("GPU-test", "a", "alice", 0), new Grant("GPU-test", "b", "alice", 5 * MS));
  }
}
