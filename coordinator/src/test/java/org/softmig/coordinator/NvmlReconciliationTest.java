package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import akka.actor.typed.javadsl.AskPattern;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.nvml.FakeNvmlGpus;
import org.softmig.coordinator.nvml.ProcessKiller;
import org.softmig.gpu.actor.NodeGuardian;
import org.softmig.gpu.domain.Placement;
import org.softmig.gpu.domain.UnmanagedPolicy;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.LeaseRelease;
import org.softmig.proto.v1.LeaseRequest;
import org.softmig.proto.v1.MemReply;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.UnmanagedProcess;

/**
 * A coordinator on GPUs that NVML (a fake of the Java NVML wrapper) reports, with the kill policy
 * and metrics on: unmanaged processes are listed and killed, NVML's per-process figures reach
 * status and the ledger, and the metrics endpoint serves the node's GPUs and jobs.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NvmlReconciliationTest {

  static final long GIB = 1L << 30;
  static final long MIB = 1L << 20;

  static Path dir;
  static FakeNvmlGpus gpus;
  static Coordinator coordinator;
  static String gpu0;
  static final Set<Integer> killAttempts = ConcurrentHashMap.newKeySet();
  static Process sleeper;

  @BeforeAll
  static void start() throws Exception {
    dir = Files.createTempDirectory(Path.of("/tmp"), "smr");
    Files.createDirectories(dir.resolve("proc"));
    Files.createDirectories(dir.resolve("conf"));
    sleeper = new ProcessBuilder("sleep", "120").start();
    gpus = FakeNvmlGpus.create(3);
    gpu0 = gpus.uuid(0);
    NodeSettings settings =
        NodeSettings.of(
            Map.of(
                "socket", dir.resolve("s.sock"),
                "node-name", "nvml-node",
                "proc-root", dir.resolve("proc"),
                "config-dir", dir.resolve("conf"),
                "state-dir", dir.resolve("state"),
                "metrics-port", freePort(),
                "unmanaged-policy", UnmanagedPolicy.KILL.configValue()));
    ProcessKiller real = ProcessKiller.sigkill();
    // Only the sleep process this test started is really killed; other pids are made up.
    ProcessKiller killer =
        pid -> {
          killAttempts.add(pid);
          return pid == sleeper.pid() ? real.kill(pid) : true;
        };
    ReconcileLoop.Settings rounds =
        new ReconcileLoop.Settings(
            Duration.ofSeconds(1), TimeUnit.MILLISECONDS.toNanos(500), Duration.ZERO, 64 * MIB);
    coordinator = Coordinator.start(settings, gpus.inventory(), killer, rounds);
  }

  @AfterAll
  static void stop() throws Exception {
    if (coordinator != null) {
      coordinator.close();
    }
    sleeper.destroyForcibly();
    try (var files = Files.walk(dir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  static NodeStatus status() throws Exception {
    return coordinator.node().status().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }

  static void place(String jobId, String uuidWanted) throws Exception {
    Placement.Decision d =
        AskPattern.<NodeGuardian.Command, Placement.Decision>ask(
                coordinator.system(),
                replyTo -> new NodeGuardian.Place(jobId, "alice", 10 * GIB, 50, replyTo),
                Duration.ofSeconds(5),
                coordinator.system().scheduler())
            .toCompletableFuture()
            .get(5, TimeUnit.SECONDS);
    assertThat(d).isInstanceOf(Placement.Placed.class);
    assertThat(((Placement.Placed) d).uuid()).isEqualTo(uuidWanted);
  }

  @Test
  void listsAProcessWithoutASessionWithItsJobAndKillsIt() throws Exception {
    place("77", gpu0);
    Files.createDirectories(dir.resolve("proc/4242"));
    Files.writeString(
        dir.resolve("proc/4242/cgroup"), "0::/system.slice/slurmstepd.scope/job_77/step_0\n");
    gpus.setProcesses(0, Map.of(4242, 700 * MIB, (int) sleeper.pid(), 300 * MIB));

    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(
            () -> {
              List<UnmanagedProcess> listed = status().getUnmanagedProcessesList();
              assertThat(listed)
                  .anySatisfy(
                      p -> {
                        assertThat(p.getPid()).isEqualTo(4242);
                        assertThat(p.getJobId()).isEqualTo("77");
                        assertThat(p.getGpuUuid()).isEqualTo(gpu0);
                        assertThat(p.getUsedBytes()).isEqualTo(700 * MIB);
                        assertThat(p.getReason()).isEqualTo("no session");
                        assertThat(p.getUser()).isNotEmpty();
                        assertThat(p.getKilled()).isTrue();
                      });
            });
    assertThat(killAttempts).contains(4242);
    // the real process listed without a session is really killed
    await().atMost(Duration.ofSeconds(5)).until(() -> !sleeper.isAlive());
  }

  @Test
  void chargesWhatNvmlSeesBeyondTheTrackedBytesAgainstTheJobsLimit() throws Exception {
    int self = (int) ProcessHandle.current().pid();
    String gpu1 = gpus.uuid(1);
    try (TestShim shim = TestShim.connect(coordinator.socket(), "w-1", 8 * GIB, gpu1)) {
      ServerFrame grant = shim.nextUnsolicited();
      // no guessed context reserve: the shim charges its context as NVML measures it
      assertThat(grant.getCreditGrant().getCeilingBytes()).isEqualTo(8 * GIB);
      assertThat(shim.reserve(0, GIB).getMemReply().getGranted()).isTrue();

      // NVML sees a larger context: 900 MiB more than the shim tracks
      gpus.setProcesses(1, Map.of(self, GIB + 900 * MIB));

      // the credit no longer fits under the limit: taken back, lent again smaller
      ServerFrame revoke = shim.nextUnsolicited();
      assertThat(revoke.hasCreditRevoke()).isTrue();
      shim.creditReturn(0, revoke.getCreditRevoke().getEpoch(), 0); // the GiB was granted exactly
      ServerFrame again = shim.nextUnsolicited();
      assertThat(again.getCreditGrant().getCeilingBytes()).isEqualTo(8 * GIB - 900 * MIB);

      MemReply refused = shim.reserve(0, 7 * GIB).getMemReply();
      assertThat(refused.getGranted()).isFalse();
      assertThat(refused.getJobUsedBytes()).isEqualTo(GIB + 900 * MIB);
      MemReply granted = shim.reserve(0, 6 * GIB + 124 * MIB).getMemReply();
      assertThat(granted.getGranted()).isTrue();
      assertThat(granted.getJobUsedBytes()).isEqualTo(8 * GIB);

      JobStatus job =
          status().getGpusList().stream()
              .filter(g -> g.getUuid().equals(gpu1))
              .findFirst()
              .orElseThrow()
              .getJobs(0);
      assertThat(job.getProcessMemory(0).getPid()).isEqualTo(self);
      assertThat(job.getProcessMemory(0).getUsedBytes()).isEqualTo(GIB + 900 * MIB);

      // a lease grant is counted, and the hand-off its holder reports goes into the histogram;
      // the GPU was free, so it became free when the request arrived (System.nanoTime)
      long requestedAt = System.nanoTime();
      shim.client.send(
          ClientFrame.newBuilder()
              .setLeaseRequest(LeaseRequest.newBuilder().setDeviceIndex(0))
              .build());
      ServerFrame leaseGrant = shim.nextUnsolicited();
      assertThat(leaseGrant.hasLeaseGrant()).isTrue();
      assertThat(leaseGrant.getLeaseGrant().getGpuFreeMonoNs())
          .isBetween(requestedAt, System.nanoTime());
      shim.client.send(
          ClientFrame.newBuilder()
              .setLeaseRelease(
                  LeaseRelease.newBuilder()
                      .setDeviceIndex(0)
                      .setLeaseId(leaseGrant.getLeaseGrant().getLeaseId())
                      .setGpuTimeUs(1000)
                      .setIdle(true)
                      .setReleasedMonoNs(System.nanoTime())
                      .setHandoffNs(20_000))
              .build());

      // the metrics endpoint serves the GPU and the session's job
      await()
          .atMost(Duration.ofSeconds(5))
          .untilAsserted(
              () ->
                  assertThat(scrape())
                      .contains("softmig_gpu_memory_total_bytes{gpu=\"" + gpu1 + "\",node=\"nvml-node\"}")
                      .contains(
                          "softmig_job_memory_limit_bytes{gpu=\""
                              + gpu1
                              + "\",job=\"w-1\",node=\"nvml-node\"")
                      .contains("softmig_gpu_sessions{gpu=\"" + gpu1 + "\",node=\"nvml-node\"} 1")
                      .containsPattern("softmig_grants_total\\{[^}]*job=\"w-1\"[^}]*\\} 1")
                      .containsPattern(
                          "softmig_grant_latency_seconds_bucket\\{[^}]*job=\"w-1\"[^}]*le=\"2.5E-5\"\\} 1"));
    }
  }

  @Test
  void aJobOverItsLimitInNvmlsEyesIsHandledLikeAnUnmanagedProcess() throws Exception {
    int self = (int) ProcessHandle.current().pid();
    String gpu2 = gpus.uuid(2);
    try (TestShim shim = TestShim.connect(coordinator.socket(), "w-2", GIB, gpu2)) {
      // tracked: nothing; NVML: 200 MiB over the limit, beyond the 64 MiB tolerance
      gpus.setProcesses(2, Map.of(self, GIB + 200 * MIB));
      await()
          .atMost(Duration.ofSeconds(5))
          .untilAsserted(
              () ->
                  assertThat(status().getUnmanagedProcessesList())
                      .anySatisfy(
                          p -> {
                            assertThat(p.getPid()).isEqualTo(self);
                            assertThat(p.getGpuUuid()).isEqualTo(gpu2);
                            assertThat(p.getJobId()).isEqualTo("w-2");
                            assertThat(p.getReason()).isEqualTo("over limit");
                            assertThat(p.getKilled()).isTrue();
                          }));
      assertThat(killAttempts).contains(self); // the test's killer only pretends for this pid
    }
  }

  static String scrape() throws Exception {
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + coordinator.metricsPort() + "/metrics"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return r.body();
  }
}
