package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import akka.actor.typed.javadsl.AskPattern;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.mps.MpsControl;
import org.softmig.coordinator.nvml.FakeNvmlGpus;
import org.softmig.coordinator.nvml.ProcessKiller;
import org.softmig.gpu.actor.NodeGuardian;
import org.softmig.gpu.domain.Placement;
import org.softmig.gpu.domain.UnmanagedPolicy;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.MpsStatus;
import org.softmig.proto.v1.NodeStatus;

/**
 * A coordinator with GPU 0 shared through MPS and GPU 1 time-sliced, NVML faked, and a stand-in
 * for {@code nvidia-cuda-mps-control} (src/test/resources/mps): the daemon is started, its server
 * is never an unmanaged process, a daemon that dies or wedges is restarted, a server in fault is
 * shut down and the jobs on the GPU have it in their reports, sessions on the MPS GPU run without
 * the lease gate, and the time-slicing GPU is as before.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MpsSupervisionIT {

  static final long GIB = 1L << 30;
  static final long MIB = 1L << 20;
  static final Path STAND_IN =
      Path.of("src/test/resources/mps/nvidia-cuda-mps-control").toAbsolutePath();

  static Path dir;
  static FakeNvmlGpus gpus;
  static Coordinator coordinator;
  static String gpu0;
  static String gpu1;
  static final Set<Integer> seenPids = new HashSet<>();
  static final Set<Integer> killAttempts = java.util.concurrent.ConcurrentHashMap.newKeySet();

  @BeforeAll
  static void start() throws Exception {
    dir = Files.createTempDirectory(Path.of("/tmp"), "smps");
    Files.createDirectories(dir.resolve("proc"));
    Files.createDirectories(dir.resolve("conf"));
    gpus = FakeNvmlGpus.create(2);
    gpu0 = gpus.uuid(0);
    gpu1 = gpus.uuid(1);
    Map<String, Object> keys = new java.util.HashMap<>();
    keys.put("socket", dir.resolve("s.sock"));
    keys.put("node-name", "mps-node");
    keys.put("proc-root", dir.resolve("proc"));
    keys.put("config-dir", dir.resolve("conf"));
    keys.put("state-dir", dir.resolve("state"));
    keys.put("metrics-port", NvmlReconciliationTest.freePort());
    keys.put("unmanaged-policy", UnmanagedPolicy.KILL.configValue());
    keys.put("gpus.0.sharing", "mps");
    keys.put("mps.base-dir", dir.resolve("mps"));
    keys.put("mps.control", STAND_IN);
    keys.put("mps.probe-interval", "200ms");
    keys.put("mps.command-timeout", "800ms");
    keys.put("mps.server-fault-grace", "1s");
    NodeSettings settings = NodeSettings.of(keys);
    // nothing is really killed: the kill policy must never pick the coordinator's own processes
    ProcessKiller killer =
        pid -> {
          killAttempts.add(pid);
          return true;
        };
    ReconcileLoop.Settings rounds =
        new ReconcileLoop.Settings(
            Duration.ofMillis(300), TimeUnit.MILLISECONDS.toNanos(300), Duration.ZERO, 64 * MIB);
    coordinator = Coordinator.start(settings, gpus.inventory(), killer, rounds);
  }

  @AfterAll
  static void stop() throws Exception {
    if (coordinator != null) {
      coordinator.mps().ifPresent(m -> seenPids.addAll(m.ownPids()));
      coordinator.close();
    }
    // the daemons outlive the coordinator by design; this test ends its own
    seenPids.forEach(MpsControl::kill);
    if (dir != null) {
      try (var files = Files.walk(dir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  static Path pipe() {
    return dir.resolve("mps").resolve(gpu0).resolve("pipe");
  }

  static NodeStatus status() throws Exception {
    return coordinator.node().status().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }

  static GpuStatus gpu(String uuid) throws Exception {
    return status().getGpusList().stream()
        .filter(g -> g.getUuid().equals(uuid))
        .findFirst()
        .orElseThrow();
  }

  static MpsStatus readyMps() throws Exception {
    await()
        .atMost(Duration.ofSeconds(20))
        .until(
            () -> {
              MpsStatus m = gpu(gpu0).getMps();
              return m.getState().equals("ready")
                  && m.getControlPid() > 0
                  && m.getServerPidsCount() == 1
                  && MpsControl.alive(m.getControlPid());
            });
    MpsStatus m = gpu(gpu0).getMps();
    seenPids.add(m.getControlPid());
    seenPids.addAll(m.getServerPidsList());
    return m;
  }

  static void release(String jobId) throws Exception {
    AskPattern.<NodeGuardian.Command, Boolean>ask(
            coordinator.system(),
            replyTo -> new NodeGuardian.Release(jobId, replyTo),
            Duration.ofSeconds(5),
            coordinator.system().scheduler())
        .toCompletableFuture()
        .get(5, TimeUnit.SECONDS);
  }

  static void place(String jobId, long bytes, double sm, boolean mps, String uuidWanted)
      throws Exception {
    Placement.Decision d =
        AskPattern.<NodeGuardian.Command, Placement.Decision>ask(
                coordinator.system(),
                replyTo -> new NodeGuardian.Place(jobId, "alice", bytes, sm, mps, replyTo),
                Duration.ofSeconds(5),
                coordinator.system().scheduler())
            .toCompletableFuture()
            .get(5, TimeUnit.SECONDS);
    assertThat(d).isInstanceOf(Placement.Placed.class);
    assertThat(((Placement.Placed) d).uuid()).isEqualTo(uuidWanted);
  }

  @Test
  @Order(1)
  void startsTheDaemonAndShowsTheModeOnlyOnTheMpsGpu() throws Exception {
    MpsStatus m = readyMps();
    assertThat(m.getPipeDirectory()).isEqualTo(pipe().toString());
    assertThat(m.getGated()).isFalse();
    assertThat(Files.readString(pipe().resolve("daemon.pid")).strip())
        .isEqualTo(Integer.toString(m.getControlPid()));
    assertThat(gpu(gpu1).hasMps()).isFalse();
  }

  @Test
  @Order(2)
  void ownServerIsNeverUnmanagedWhileAForeignProcessIs() throws Exception {
    MpsStatus m = readyMps();
    int server = m.getServerPids(0);
    place("m1", 10 * GIB, 25, true, gpu0);
    place("t1", 10 * GIB, 50, false, gpu1);
    gpus.setProcesses(0, Map.of(server, 500 * MIB, m.getControlPid(), 0L, 777001, 300 * MIB));
    gpus.setProcesses(1, Map.of(777002, 300 * MIB));
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () ->
                assertThat(status().getUnmanagedProcessesList())
                    .extracting(p -> p.getPid())
                    .contains(777001, 777002));
    // several more rounds: the server and the daemon are still not listed, nor killed
    Thread.sleep(1000);
    assertThat(status().getUnmanagedProcessesList())
        .extracting(p -> p.getPid())
        .doesNotContain(server, m.getControlPid());
    assertThat(killAttempts).doesNotContain(server, m.getControlPid()).contains(777001, 777002);
    gpus.setProcesses(0, Map.of());
    gpus.setProcesses(1, Map.of());
    // the next tests' jobs have no admin limits: on a GPU that holds slices they would get none
    release("m1");
    release("t1");
  }

  @Test
  @Order(3)
  void mpsSessionsRunUngatedAndTimeSlicedOnesGated() throws Exception {
    try (TestShim onMps = TestShim.connect(coordinator.socket(), "w-mps", 4 * GIB, gpu0);
        TestShim onTs = TestShim.connect(coordinator.socket(), "w-ts", 4 * GIB, gpu1)) {
      assertThat(onMps.welcome.getLimits(0).getGated()).isFalse();
      assertThat(onTs.welcome.getLimits(0).getGated()).isTrue();
      assertThat(onMps.reserve(0, GIB).getMemReply().getGranted()).isTrue();
      assertThat(onMps.reserve(0, 4 * GIB).getMemReply().getGranted()).isFalse();
    }
  }

  @Test
  @Order(4)
  void daemonThatDiesIsRestarted() throws Exception {
    MpsStatus before = readyMps();
    MpsControl.kill(before.getControlPid());
    await()
        .atMost(Duration.ofSeconds(20))
        .until(
            () -> {
              MpsStatus m = gpu(gpu0).getMps();
              return m.getState().equals("ready")
                  && m.getControlPid() > 0
                  && m.getControlPid() != before.getControlPid()
                  && m.getRestarts() > before.getRestarts();
            });
    MpsStatus after = readyMps();
    assertThat(MpsControl.alive(after.getControlPid())).isTrue();
    // the old daemon's server was ended with it
    await().atMost(Duration.ofSeconds(5)).until(() -> !MpsControl.alive(before.getServerPids(0)));
  }

  @Test
  @Order(5)
  void wedgedDaemonIsKilledAndRestarted() throws Exception {
    MpsStatus before = readyMps();
    Files.writeString(pipe().resolve("wedged"), "");
    await()
        .atMost(Duration.ofSeconds(30))
        .until(
            () -> {
              MpsStatus m = gpu(gpu0).getMps();
              return m.getState().equals("ready")
                  && m.getControlPid() != before.getControlPid()
                  && m.getControlPid() > 0;
            });
    assertThat(MpsControl.alive(before.getControlPid())).isFalse();
    readyMps();
  }

  @Test
  @Order(6)
  void serverInFaultIsShutDownAndTheJobsReportsSayIt() throws Exception {
    try (TestShim onMps = TestShim.connect(coordinator.socket(), "w-fault", 4 * GIB, gpu0)) {
      MpsStatus before = readyMps();
      int server = before.getServerPids(0);
      Files.writeString(pipe().resolve("fault"), "");
      await()
          .atMost(Duration.ofSeconds(20))
          .until(() -> !MpsControl.alive(server) && !Files.exists(pipe().resolve("fault")));
      MpsStatus after = readyMps();
      assertThat(after.getServerPids(0)).isNotEqualTo(server);
      assertThat(after.getControlPid()).isEqualTo(before.getControlPid());
      assertThat(after.getRestarts()).isGreaterThan(before.getRestarts());
      await()
          .atMost(Duration.ofSeconds(5))
          .untilAsserted(
              () -> {
                List<JobReport> reports =
                    coordinator
                        .node()
                        .reports("w-fault")
                        .toCompletableFuture()
                        .get(5, TimeUnit.SECONDS)
                        .stream()
                        .map(r -> StatusMapping.jobReport("mps-node", r))
                        .toList();
                assertThat(reports).hasSize(1);
                assertThat(reports.get(0).getIncidentsList())
                    .anySatisfy(i -> assertThat(i).contains(Integer.toString(server)));
              });
    }
    // a job on the time-slicing GPU has no incident
    try (TestShim onTs = TestShim.connect(coordinator.socket(), "w-ts2", 4 * GIB, gpu1)) {
      assertThat(
              coordinator.node().reports("w-ts2").toCompletableFuture().get(5, TimeUnit.SECONDS))
          .allSatisfy(r -> assertThat(r.incidents()).isEmpty());
    }
  }
}
