package org.softmig.gpu.actor;

import static org.assertj.core.api.Assertions.assertThat;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.softmig.gpu.domain.Placement;
import org.softmig.gpu.domain.TimeSliceScheduler;

class NodeGuardianTest {

  static final ActorTestKit testKit = ActorTestKit.create();
  static final long GIB = 1L << 30;

  @AfterAll
  static void cleanup() {
    testKit.shutdownTestKit();
  }

  /** What a session's connection received. */
  record Welcomed(
      SessionSpec spec,
      List<DeviceLimit> limits,
      ActorRef<SessionActor.Command> session,
      List<ActorRef<GpuActor.Command>> gpus) {}

  /** The connection was refused before any device was attached. */
  record Refused(String reason) {}

  static SessionOutput output(TestProbe<Object> probe) {
    return new SessionOutput() {
      @Override
      public void welcome(
          SessionSpec spec,
          List<DeviceLimit> limits,
          ActorRef<SessionActor.Command> session,
          List<ActorRef<GpuActor.Command>> gpus) {
        probe.ref().tell(new Welcomed(spec, limits, session, gpus));
      }

      @Override
      public void send(SessionActor.Outbound message) {
        probe.ref().tell(message);
      }

      @Override
      public void refuse(String reason) {
        probe.ref().tell(new Refused(reason));
      }
    };
  }

  ActorRef<NodeGuardian.Command> guardian() {
    return testKit.spawn(
        NodeGuardian.create(
            List.of(
                new GpuDescriptor("GPU-a", 0, "A", 48 * GIB),
                new GpuDescriptor("GPU-b", 1, "B", 24 * GIB)),
            new GpuActor.Settings(
                true, TimeSliceScheduler.Settings.defaults(TimeSliceScheduler.Policy.CAP))));
  }

  @Test
  void welcomesASessionOnceEveryDeviceIsAttachedAndRoutesByDeviceIndex() {
    var guardian = guardian();
    TestProbe<Object> probe = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(1, "j", 10, 1000, "alice", LimitSource.PROCESS_ENVIRONMENT),
            List.of(
                new DeviceRequest(0, "GPU-b", 0, 4 * GIB, 0),
                new DeviceRequest(1, "GPU-elsewhere", 0, 4 * GIB, 0)),
            output(probe)));
    Welcomed w = probe.expectMessageClass(Welcomed.class);
    assertThat(w.limits())
        .containsExactly(new DeviceLimit(0, 4 * GIB, 0, true), DeviceLimit.unmanaged(1));
    assertThat(w.gpus()).hasSize(2);
    assertThat(w.gpus().get(0)).isNotNull();
    assertThat(w.gpus().get(1)).isNull();
    // the lone process of a limited job is lent its limit, after the welcome
    assertThat(probe.expectMessageClass(SessionActor.CreditGranted.class).ceilingBytes())
        .isEqualTo(4 * GIB);
  }

  @Test
  void aPlacedJobsProcessesGetTheSliceUnlessAnAdminFileSaysOtherwise() {
    var guardian = guardian();
    TestProbe<Placement.Decision> decisions = testKit.createTestProbe();
    guardian.tell(new NodeGuardian.Place("p", "bob", 20 * GIB, 50, decisions.ref()));
    var placed = (Placement.Placed) decisions.receiveMessage();
    assertThat(placed.uuid()).isEqualTo("GPU-b"); // best fit

    TestProbe<Object> probe = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(2, "p", 11, 1000, "bob", LimitSource.PROCESS_ENVIRONMENT),
            List.of(new DeviceRequest(0, "GPU-b", 0, 0, 0)),
            output(probe)));
    Welcomed w = probe.expectMessageClass(Welcomed.class);
    assertThat(w.spec().source()).isEqualTo(LimitSource.PLACEMENT);
    assertThat(w.limits().get(0).memoryLimitBytes()).isEqualTo(20 * GIB);
    assertThat(w.limits().get(0).smLimitPercent()).isEqualTo(50.0);

    TestProbe<Object> second = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(3, "p", 12, 1000, "bob", LimitSource.ADMIN_CONFIG),
            List.of(new DeviceRequest(0, "GPU-b", 0, 8 * GIB, 25)),
            output(second)));
    Welcomed admin = second.expectMessageClass(Welcomed.class);
    assertThat(admin.spec().source()).isEqualTo(LimitSource.ADMIN_CONFIG);
    assertThat(admin.limits().get(0).memoryLimitBytes()).isEqualTo(8 * GIB);

    TestProbe<Boolean> released = testKit.createTestProbe();
    guardian.tell(new NodeGuardian.Release("p", released.ref()));
    assertThat(released.receiveMessage()).isTrue();
    guardian.tell(new NodeGuardian.Release("p", released.ref()));
    assertThat(released.receiveMessage()).isFalse();
  }

  @Test
  void placementsAreSavedAfterEachChangeAndRestoredOnTheirGpusAfterARestart() {
    List<GpuDescriptor> gpus =
        List.of(
            new GpuDescriptor("GPU-a", 0, "A", 48 * GIB),
            new GpuDescriptor("GPU-b", 1, "B", 48 * GIB));
    GpuActor.Settings settings =
        new GpuActor.Settings(
            true, TimeSliceScheduler.Settings.defaults(TimeSliceScheduler.Policy.CAP));
    java.util.List<List<SavedPlacement>> saves =
        java.util.Collections.synchronizedList(new java.util.ArrayList<>());
    PlacementStore store =
        table -> {
          saves.add(table);
          return java.util.concurrent.CompletableFuture.completedFuture(null);
        };
    var first = testKit.spawn(NodeGuardian.create(gpus, g -> settings, List.of(), store));
    TestProbe<Placement.Decision> placed = testKit.createTestProbe();
    first.tell(new NodeGuardian.Place("a", "alice", 40 * GIB, 50, placed.ref()));
    assertThat(placed.receiveMessage()).isEqualTo(new Placement.Placed("GPU-a", 0, false));
    first.tell(new NodeGuardian.Place("b", "bob", 40 * GIB, 50, placed.ref()));
    assertThat(placed.receiveMessage()).isEqualTo(new Placement.Placed("GPU-b", 1, false));
    first.tell(new NodeGuardian.Place("gone", "carol", GIB, 10, placed.ref()));
    placed.receiveMessage();
    TestProbe<Boolean> released = testKit.createTestProbe();
    first.tell(new NodeGuardian.Release("gone", released.ref()));
    assertThat(released.receiveMessage()).isTrue();
    assertThat(saves).hasSize(4);
    List<SavedPlacement> last = saves.get(3);
    assertThat(last)
        .containsExactly(
            new SavedPlacement("a", "alice", 40 * GIB, 50, false, "GPU-a"),
            new SavedPlacement("b", "bob", 40 * GIB, 50, false, "GPU-b"));
    testKit.stop(first);

    List<SavedPlacement> restored = new java.util.ArrayList<>(last);
    restored.add(new SavedPlacement("elsewhere", "dave", GIB, 10, false, "GPU-gone"));
    var second = testKit.spawn(NodeGuardian.create(gpus, g -> settings, restored, store));
    second.tell(new NodeGuardian.Place("c", "carol", 40 * GIB, 50, placed.ref()));
    assertThat(placed.receiveMessage()).isInstanceOf(Placement.Refused.class);
    second.tell(new NodeGuardian.Place("b", "bob", 40 * GIB, 50, placed.ref()));
    assertThat(placed.receiveMessage()).isEqualTo(new Placement.Placed("GPU-b", 1, true));
    // the restored job's processes get its slice as their limit
    TestProbe<Object> probe = testKit.createTestProbe();
    second.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(7, "a", 70, 1000, "alice", LimitSource.PROCESS_ENVIRONMENT),
            List.of(new DeviceRequest(0, "GPU-a", 0, 0, 0)),
            output(probe)));
    Welcomed w = probe.expectMessageClass(Welcomed.class);
    assertThat(w.limits().get(0).memoryLimitBytes()).isEqualTo(40 * GIB);
    assertThat(saves).hasSize(4); // nothing changed: nothing written
  }

  @Test
  void aSessionOfAnotherUidCannotJoinAJobAndChangesNothing() {
    var guardian = guardian();
    TestProbe<Object> alice = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(1, "owned", 10, 1000, "alice", LimitSource.PROCESS_ENVIRONMENT),
            List.of(new DeviceRequest(0, "GPU-a", 0, 4 * GIB, 0)),
            output(alice)));
    alice.expectMessageClass(Welcomed.class);
    alice.expectMessageClass(SessionActor.CreditGranted.class);

    TestProbe<Object> mallory = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(2, "owned", 11, 1001, "mallory", LimitSource.PROCESS_ENVIRONMENT),
            List.of(new DeviceRequest(0, "GPU-a", 0, 1L << 20, 0)),
            output(mallory)));
    assertThat(mallory.expectMessageClass(Refused.class).reason())
        .contains("belongs to alice (uid 1000)");

    // the job's limit is what alice's session set: the refused session changed nothing
    assertThat(jobLimit(guardian, "GPU-a", "owned")).isEqualTo(4 * GIB);

    // root may join any job; it gets the job's limit, not its own request
    TestProbe<Object> root = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(3, "owned", 12, 0, "root", LimitSource.PROCESS_ENVIRONMENT),
            List.of(new DeviceRequest(0, "GPU-a", 0, 40 * GIB, 0)),
            output(root)));
    assertThat(root.expectMessageClass(Welcomed.class).limits().get(0).memoryLimitBytes())
        .isEqualTo(4 * GIB);
  }

  @Test
  void laterSessionsNeitherRaiseNorLowerTheJobsLimitAndLeavingChangesNothing() {
    var guardian = guardian();
    TestProbe<Object> first = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(1, "own", 10, 1000, "alice", LimitSource.PROCESS_ENVIRONMENT),
            List.of(new DeviceRequest(0, "GPU-a", 0, 4 * GIB, 30)),
            output(first)));
    first.expectMessageClass(Welcomed.class);

    long sessionId = 1;
    for (long asked : new long[] {40 * GIB, 1L << 20, 0}) {
      TestProbe<Object> later = testKit.createTestProbe();
      guardian.tell(
          new NodeGuardian.OpenSession(
              new SessionSpec(++sessionId, "own", 11, 1000, "alice", LimitSource.PROCESS_ENVIRONMENT),
              List.of(new DeviceRequest(0, "GPU-a", 0, asked, 90)),
              output(later)));
      Welcomed w = later.expectMessageClass(Welcomed.class);
      assertThat(w.limits().get(0).memoryLimitBytes()).isEqualTo(4 * GIB);
      assertThat(w.limits().get(0).smLimitPercent()).isEqualTo(30.0);
      w.session().tell(SessionActor.Stop.INSTANCE);
      later.expectTerminated(w.session());
      assertThat(jobLimit(guardian, "GPU-a", "own")).isEqualTo(4 * GIB);
    }
  }

  @Test
  void aPlacedJobAdmitsOnlyItsUserFromOutsideItsCgroup() {
    var guardian = guardian();
    TestProbe<Placement.Decision> decisions = testKit.createTestProbe();
    guardian.tell(new NodeGuardian.Place("pj", "bob", 20 * GIB, 50, decisions.ref()));
    decisions.expectMessageClass(Placement.Placed.class);
    TestProbe<Object> mallory = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(1, "pj", 10, 1001, "mallory", LimitSource.PROCESS_ENVIRONMENT),
            List.of(new DeviceRequest(0, "GPU-b", 0, 0, 0)),
            output(mallory)));
    assertThat(mallory.expectMessageClass(Refused.class).reason()).contains("placed for user bob");
    // in the job's cgroup the kernel decides: admitted
    TestProbe<Object> inJob = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(
                2, "pj", 11, 1001, "mallory", LimitSource.PROCESS_ENVIRONMENT, 2, true),
            List.of(new DeviceRequest(0, "GPU-b", 0, 0, 0)),
            output(inJob)));
    assertThat(inJob.expectMessageClass(Welcomed.class).limits().get(0).memoryLimitBytes())
        .isEqualTo(20 * GIB);
  }

  /** The job's memory limit on a GPU as its actor reports it. */
  static long jobLimit(ActorRef<NodeGuardian.Command> guardian, String uuid, String jobId) {
    TestProbe<NodeGuardian.Gpus> gpus = testKit.createTestProbe();
    guardian.tell(new NodeGuardian.GetGpus(gpus.ref()));
    ActorRef<GpuActor.Command> gpu =
        gpus.receiveMessage().gpus().stream()
            .filter(g -> g.gpu().uuid().equals(uuid))
            .findFirst()
            .orElseThrow()
            .ref();
    TestProbe<GpuSnapshot> snap = testKit.createTestProbe();
    gpu.tell(new GpuActor.GetSnapshot(snap.ref()));
    return snap.receiveMessage().jobs().stream()
        .filter(j -> j.jobId().equals(jobId))
        .findFirst()
        .orElseThrow()
        .memoryLimitBytes();
  }

  @Test
  void aPlacedJobGetsNothingOnAnyOtherGpuWhereverItsLimitsComeFrom() {
    var guardian = guardian();
    TestProbe<Placement.Decision> decisions = testKit.createTestProbe();
    guardian.tell(new NodeGuardian.Place("conf", "bob", 20 * GIB, 50, decisions.ref()));
    assertThat(((Placement.Placed) decisions.receiveMessage()).uuid()).isEqualTo("GPU-b");
    for (LimitSource source : List.of(LimitSource.PROCESS_ENVIRONMENT, LimitSource.ADMIN_CONFIG)) {
      TestProbe<Object> probe = testKit.createTestProbe();
      guardian.tell(
          new NodeGuardian.OpenSession(
              new SessionSpec(source.ordinal() + 1, "conf", 10, 1000, "bob", source),
              List.of(
                  new DeviceRequest(0, "GPU-a", 0, 8 * GIB, 0),
                  new DeviceRequest(1, "GPU-b", 0, 8 * GIB, 0),
                  new DeviceRequest(2, "GPU-elsewhere", 0, 8 * GIB, 0)),
              output(probe)));
      Welcomed w = probe.expectMessageClass(Welcomed.class);
      DeviceLimit other = w.limits().get(0);
      assertThat(other.denied()).isTrue();
      assertThat(other.deniedReason()).contains("placed on GPU 1 (GPU-b)");
      assertThat(other.memoryLimitBytes()).isZero();
      assertThat(other.gated()).isFalse();
      assertThat(w.gpus().get(0)).isNull(); // never attached: nothing to ask GPU-a for
      assertThat(w.limits().get(1).denied()).isFalse();
      assertThat(w.limits().get(1).memoryLimitBytes())
          .isEqualTo(source == LimitSource.ADMIN_CONFIG ? 8 * GIB : 20 * GIB);
      assertThat(w.limits().get(2)).isEqualTo(DeviceLimit.unmanaged(2));
    }
    // GPU-a never saw the job
    TestProbe<NodeGuardian.Gpus> gpus = testKit.createTestProbe();
    guardian.tell(new NodeGuardian.GetGpus(gpus.ref()));
    TestProbe<GpuSnapshot> snap = testKit.createTestProbe();
    gpus.receiveMessage().gpus().get(0).ref().tell(new GpuActor.GetSnapshot(snap.ref()));
    assertThat(snap.receiveMessage().jobs()).isEmpty();
  }

  @Test
  void aJobWithoutAdminLimitsGetsNoneOfAGpuThatHoldsSlicesAndIsToldWhy() {
    var guardian = guardian();
    TestProbe<Placement.Decision> decisions = testKit.createTestProbe();
    guardian.tell(new NodeGuardian.Place("slice", "bob", 20 * GIB, 50, decisions.ref()));
    assertThat(((Placement.Placed) decisions.receiveMessage()).uuid()).isEqualTo("GPU-b");
    TestProbe<Object> probe = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(1, "free", 10, 1000, "alice", LimitSource.PROCESS_ENVIRONMENT),
            List.of(
                new DeviceRequest(0, "GPU-a", 0, 4 * GIB, 0),
                new DeviceRequest(1, "GPU-b", 0, 4 * GIB, 0)),
            output(probe)));
    Welcomed w = probe.expectMessageClass(Welcomed.class);
    assertThat(w.limits().get(0).denied()).isFalse();
    assertThat(w.limits().get(0).memoryLimitBytes()).isEqualTo(4 * GIB);
    assertThat(w.limits().get(1).denied()).isTrue();
    assertThat(w.limits().get(1).deniedReason()).contains("holds slices");
    assertThat(w.gpus().get(1)).isNull();

    // an admin config file is an admin source: its limits on the sliced GPU
    TestProbe<Object> admin = testKit.createTestProbe();
    guardian.tell(
        new NodeGuardian.OpenSession(
            new SessionSpec(2, "cfg", 11, 1000, "alice", LimitSource.ADMIN_CONFIG),
            List.of(new DeviceRequest(0, "GPU-b", 0, 2 * GIB, 0)),
            output(admin)));
    DeviceLimit l = admin.expectMessageClass(Welcomed.class).limits().get(0);
    assertThat(l.denied()).isFalse();
    assertThat(l.memoryLimitBytes()).isEqualTo(2 * GIB);
  }
}
