package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.softmig.coordinator.it.ShimRig.GIB;
import static org.softmig.coordinator.it.ShimRig.MIB;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.JobStatus;

/**
 * The ledger tells the truth through a stalled coordinator (SIGSTOP), a killed and restarted
 * one (SIGKILL), and processes that decided alone: it shows what the processes hold, even over
 * the limit, and a job over its limit gets nothing more until it is back under. Limits come
 * from admin job files (and the same in the environment, where the files do not count).
 */
class StallAndRestartIT {

  private ShimRig rig;

  @BeforeEach
  void rig() throws Exception {
    assumeTrue(ShimRig.nativeBuilt(), "native-shim/build is not built");
    assumeTrue(Files.isRegularFile(ShimRig.PROGRAMS.resolve("mem_race")), "no mem_race");
    rig = new ShimRig();
  }

  @AfterEach
  void stop() {
    if (rig != null) {
      rig.close();
    }
  }

  private Map<String, String> job(String id) throws Exception {
    Path file = rig.configDir().resolve(id + ".conf");
    Files.writeString(file, "CUDA_DEVICE_MEMORY_LIMIT=1G\n");
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
    return Map.of("SOFTMIG_JOB_ID", id, "CUDA_DEVICE_MEMORY_LIMIT", "1G");
  }

  private long used(String jobId) {
    return rig.job(jobId).map(JobStatus::getMemoryUsedBytes).orElse(-1L);
  }

  private void awaitLedger(String jobId, long bytes) {
    await()
        .atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofMillis(100))
        .ignoreExceptions()
        .untilAsserted(() -> assertThat(used(jobId)).as(jobId).isEqualTo(bytes));
  }

  @Test
  void fourProcessesStartingDuringA3sStallGetNoMoreThanTheLimitAndTheLedgerHasThem()
      throws Exception {
    rig.startCoordinatorProcess();
    Map<String, String> env = job("stall");

    rig.signalCoordinatorProcess("STOP");
    List<Process> started = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      started.add(rig.launch("mem_race", env, "--bytes", "" + 600 * MIB, "--hold"));
    }
    Thread.sleep(3000);
    rig.signalCoordinatorProcess("CONT");
    List<ShimRig.Held> held = new ArrayList<>();
    for (Process p : started) {
      held.add(rig.held(p));
    }

    long total = held.stream().mapToLong(h -> h.line().path("held").asLong()).sum();
    assertThat(held).allMatch(h -> h.line().path("errors").asInt() == 0);
    assertThat(total).as(rig.shimLog()).isEqualTo(600 * MIB);
    awaitLedger("stall", total);
    JobStatus job = rig.job("stall").orElseThrow();
    assertThat(job.getMemoryOverLimit()).isFalse();
    assertThat(job.getProcessesList()).hasSize(4);
    // the job gets nothing more than its limit
    ShimRig.Shell more = rig.shell(env);
    assertThat(more.alloc("alloc", 500 * MIB)).isEqualTo(2);
    assertThat(more.alloc("alloc", 400 * MIB)).isZero();
    awaitLedger("stall", 1000 * MIB);
  }

  @Test
  void processesThatDecidedAloneAreOnTheLedgerOverTheLimitAndTheJobGetsNothingUntilUnder()
      throws Exception {
    // no coordinator and no socket file: each process uses its configured limit alone
    Map<String, String> env = job("alone");
    ShimRig.Shell first = rig.shell(env);
    ShimRig.Shell second = rig.shell(env);
    assertThat(first.alloc("alloc", 600 * MIB)).isZero();
    assertThat(second.alloc("alloc", 600 * MIB)).isZero();

    rig.startCoordinator();
    awaitLedger("alone", 1200 * MIB);
    JobStatus job = rig.job("alone").orElseThrow();
    assertThat(job.getMemoryOverLimit()).isTrue();

    assertThat(first.alloc("alloc", MIB)).as("nothing while over").isEqualTo(2);
    assertThat(rig.shell(env).alloc("alloc", MIB)).as("not to a new process either").isEqualTo(2);
    assertThat(second.send("free 0").path("rc").asInt()).isZero();
    awaitLedger("alone", 600 * MIB);
    assertThat(rig.job("alone").orElseThrow().getMemoryOverLimit()).isFalse();
    assertThat(first.alloc("alloc", 400 * MIB)).as("back under").isZero();
    awaitLedger("alone", 1000 * MIB);
  }

  @Test
  void aProcessStartingWhileTheCoordinatorRestartsWaitsForItInsteadOfDecidingAlone()
      throws Exception {
    // the socket file of a coordinator that is gone (killed, restarting)
    try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      dead.bind(UnixDomainSocketAddress.of(rig.socket()));
    }
    assertThat(rig.socket()).exists();
    Map<String, String> env = job("waits");
    ShimRig.Shell first = rig.shell(env);
    ShimRig.Shell second = rig.shell(env);
    first.ask("alloc alloc " + 600 * MIB);
    second.ask("alloc alloc " + 600 * MIB);
    Thread.sleep(500);

    rig.startCoordinator();
    Set<Integer> answers = new HashSet<>();
    answers.add(first.next().path("rc").asInt());
    answers.add(second.next().path("rc").asInt());

    assertThat(answers).as(rig.shimLog()).containsExactlyInAnyOrder(0, 2);
    awaitLedger("waits", 600 * MIB);
  }

  private static Map<String, String> launcher(String id, String smLimit) {
    Map<String, String> env = new java.util.HashMap<>();
    env.put("SOFTMIG_JOB_ID", id);
    env.put("SOFTMIG_FAKE_KERNEL_US", "1000");
    if (smLimit != null) {
      env.put("CUDA_DEVICE_SM_LIMIT", smLimit);
    }
    return env;
  }

  @Test
  void launchesKeepTheJobsShareWhileTheCoordinatorIsAway() throws Exception {
    rig.startCoordinatorProcess();
    double uncapped =
        rig.hold("launch_probe", launcher("alone", null), "kernel", "2", "--sync-every", "8")
            .line()
            .path("rate")
            .asDouble();

    Process capped =
        rig.launch(
            "launch_probe", launcher("capped", "25"), "kernel", "4", "--sync-every", "8");
    Thread.sleep(1000);
    rig.killCoordinatorProcess();
    JsonNode r = rig.held(capped).line();

    // three of its four seconds without a coordinator, and still about a quarter of the rate
    double share = r.path("rate").asDouble() / uncapped;
    System.out.printf(
        "away: %.1f kernels/s, alone %.1f/s, %.1f %%%n", r.path("rate").asDouble(), uncapped, 100 * share);
    assertThat(uncapped).isGreaterThan(300);
    assertThat(share).as("%s vs %.1f/s alone; %s", r, uncapped, rig.shimLog()).isBetween(0.15, 0.35);
  }

  @Test
  void aProcessStartingWhileTheCoordinatorIsGoneKeepsItsConfiguredShare() throws Exception {
    try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      dead.bind(UnixDomainSocketAddress.of(rig.socket()));
    }
    double alone =
        rig.hold("launch_probe", launcher("gone-alone", null), "kernel", "2", "--sync-every", "8")
            .line()
            .path("rate")
            .asDouble();
    JsonNode r =
        rig.hold("launch_probe", launcher("gone-capped", "25"), "kernel", "3", "--sync-every", "8")
            .line();

    double share = r.path("rate").asDouble() / alone;
    System.out.printf(
        "never welcomed: %.1f kernels/s, alone %.1f/s, %.1f %%%n",
        r.path("rate").asDouble(), alone, 100 * share);
    assertThat(alone).isGreaterThan(300);
    assertThat(share).as("%s vs %.1f/s alone", r, alone).isBetween(0.15, 0.35);
  }

  @Test
  void afterSigkillAndRestartTheHoldersReconnectAndTheLedgerHasTheirHoldings() throws Exception {
    rig.startCoordinatorProcess();
    Map<String, String> env = job("restart");
    ShimRig.Shell a = rig.shell(env);
    ShimRig.Shell b = rig.shell(env);
    assertThat(a.alloc("alloc", 300 * MIB)).isZero();
    assertThat(b.alloc("vmm", 400 * MIB)).isZero();
    awaitLedger("restart", 700 * MIB);

    rig.killCoordinatorProcess();
    rig.startCoordinatorProcess();

    awaitLedger("restart", 700 * MIB);
    JobStatus job = rig.job("restart").orElseThrow();
    assertThat(job.getProcessesList()).containsExactlyInAnyOrder((int) a.pid(), (int) b.pid());
    assertThat(job.getMemoryLimitBytes()).isEqualTo(GIB);
    assertThat(job.getMemoryOverLimit()).isFalse();
    assertThat(a.alloc("alloc", 400 * MIB)).as(rig.shimLog()).isEqualTo(2);
    assertThat(b.alloc("alloc", 300 * MIB)).isZero();
    awaitLedger("restart", 1000 * MIB);
    // the process that allocated last was told the job's usage with its answer
    JsonNode info = b.send("info");
    assertThat(info.path("free").asLong()).isEqualTo(24 * MIB);
  }
}
