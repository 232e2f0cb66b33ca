package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.EOFException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.softmig.coordinator.cli.SocketClient;
import org.softmig.coordinator.cli.SoftmigCommand;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Error;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.MemReply;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusRequest;

/** A real coordinator on a real socket, driven by clients that speak the wire protocol. */
class CoordinatorSocketTest {

  static final long GIB = 1L << 30;
  static final String GPU0 = "GPU-51dc187a-af0f-2fa8-127c-46fedfac9019";
  static final String GPU1 = "GPU-cae8b510-42c5-392f-81d1-aa5a0543af22";

  static Path dir;
  static Path socket;
  static Coordinator coordinator;

  @BeforeAll
  static void start() throws Exception {
    dir = Files.createTempDirectory(Path.of("/tmp"), "smt");
    Files.createDirectories(dir.resolve("proc"));
    Files.createDirectories(dir.resolve("conf"));
    socket = dir.resolve("s.sock");
    NodeSettings settings =
        NodeSettings.of(
            Map.of(
                "socket", socket,
                "simulate", "48G,48G",
                "node-name", "test-node",
                "proc-root", dir.resolve("proc"),
                "config-dir", dir.resolve("conf"),
                "state-dir", dir.resolve("state")));
    coordinator = Coordinator.start(settings, SimulatedGpus.fromSpec("48G,48G"));
  }

  @AfterAll
  static void stop() throws Exception {
    coordinator.close();
    try (var files = Files.walk(dir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  @Test
  void welcomesAProcessWithTheLimitsItAskedForWhenNoJobOrConfigIsKnown() throws Exception {
    try (TestShim shim = TestShim.connect(socket, "w-1", 8 * GIB, GPU0, "GPU-unknown")) {
      assertThat(shim.welcome.getJobId()).isEqualTo("w-1");
      assertThat(shim.welcome.getLimitsList()).hasSize(2);
      assertThat(shim.welcome.getLimits(0).getMemoryLimitBytes()).isEqualTo(8 * GIB);
      assertThat(shim.welcome.getLimits(1).getMemoryLimitBytes()).isZero();
      assertThat(shim.welcome.getNode()).isEqualTo("test-node");
      assertThat(shim.welcome.getSessionId()).isPositive();
    }
  }

  @Test
  void lendsALoneProcessItsWholeLimitAndRefusesBeyondItWithTheNumbers() throws Exception {
    try (TestShim shim = TestShim.connect(socket, "credit-1", 4 * GIB, GPU0)) {
      ServerFrame credit = shim.nextUnsolicited();
      assertThat(credit.hasCreditGrant()).isTrue();
      assertThat(credit.getCreditGrant().getCeilingBytes()).isEqualTo(4 * GIB);

      MemReply over = shim.reserve(0, 5 * GIB).getMemReply();
      assertThat(over.getGranted()).isFalse();
      assertThat(over.getJobLimitBytes()).isEqualTo(4 * GIB);
      assertThat(over.getReason()).contains("4.0 GiB").contains("credit-1");
    }
  }

  @Test
  void secondProcessOfAJobTurnsBothExactAndTheLimitHolds() throws Exception {
    try (TestShim first = TestShim.connect(socket, "pair-1", 10 * GIB, GPU1)) {
      long epoch = first.nextUnsolicited().getCreditGrant().getEpoch();
      try (TestShim second = TestShim.connect(socket, "pair-1", 10 * GIB, GPU1)) {
        ServerFrame revoke = first.nextUnsolicited();
        assertThat(revoke.hasCreditRevoke()).isTrue();
        assertThat(revoke.getCreditRevoke().getEpoch()).isEqualTo(epoch);

        long pending = second.sendReserve(0, 4 * GIB); // waits for the credit to come back
        first.creditReturn(0, epoch, 3 * GIB);
        MemReply granted = second.replyTo(pending).getMemReply();
        assertThat(granted.getGranted()).isTrue();
        assertThat(granted.getJobUsedBytes()).isEqualTo(7 * GIB);

        MemReply refused = first.reserve(0, 4 * GIB).getMemReply();
        assertThat(refused.getGranted()).isFalse();
        assertThat(refused.getJobUsedBytes()).isEqualTo(7 * GIB);
        assertThat(first.reserve(0, 3 * GIB).getMemReply().getGranted()).isTrue();
      }
    }
  }

  @Test
  void aClosedConnectionReleasesEverythingItHeld() throws Exception {
    TestShim a = TestShim.connect(socket, "gone-1", 0, GPU1);
    assertThat(a.reserve(0, 20 * GIB).getMemReply().getGranted()).isTrue();
    assertThat(jobOnGpu(1, "gone-1")).isNotNull();
    a.close();
    await().atMost(Duration.ofSeconds(10)).until(() -> jobOnGpu(1, "gone-1") == null);
  }

  @Test
  void refusesWhatDoesNotFitOnTheCard() throws Exception {
    try (TestShim a = TestShim.connect(socket, "big-1", 0, GPU0)) {
      MemReply m = a.reserve(0, 49 * GIB).getMemReply();
      assertThat(m.getGranted()).isFalse();
      assertThat(m.getReason()).contains("do not fit");
    }
  }

  @Test
  void refusesAnUnsupportedProtocolVersionAndCloses() throws Exception {
    try (SocketClient c = SocketClient.connect(socket)) {
      ServerFrame reply =
          c.call(
              ClientFrame.newBuilder()
                  .setHello(Hello.newBuilder().setProtocolVersion(99))
                  .build());
      assertThat(reply.getError().getCode()).isEqualTo(Error.Code.UNSUPPORTED_VERSION);
      assertThatThrownBy(c::receive).isInstanceOf(EOFException.class);
    }
  }

  @Test
  void statusJsonHasTheDocumentedShape() throws Exception {
    try (TestShim a = TestShim.connect(socket, "json-1", 2 * GIB, GPU1)) {
      StringWriter out = new StringWriter();
      int code =
          SoftmigCommand.commandLine(new PrintWriter(out), new PrintWriter(new StringWriter()))
              .execute("status", "--json", "--socket", socket.toString());
      assertThat(code).isZero();
      JsonNode root = new ObjectMapper().readTree(out.toString());
      JsonNode node = root.get("nodes").get(0);
      assertThat(node.get("node").asText()).isEqualTo("test-node");
      assertThat(node.get("reachable").asBoolean()).isTrue();
      assertThat(node.get("unmanaged_processes").isArray()).isTrue();
      JsonNode gpu = node.get("gpus").get(1);
      assertThat(gpu.get("uuid").asText()).isEqualTo(GPU1);
      assertThat(gpu.get("index").asInt()).isEqualTo(1);
      assertThat(gpu.get("name").asText()).isEqualTo("Simulated GPU");
      assertThat(gpu.get("memory_total_bytes").asLong()).isEqualTo(48 * GIB);
      JsonNode job = null;
      for (JsonNode j : gpu.get("jobs")) {
        if (j.get("job_id").asText().equals("json-1")) {
          job = j;
        }
      }
      assertThat(job).isNotNull();
      assertThat(job.get("user").isTextual()).isTrue();
      assertThat(job.get("memory_used_bytes").isNumber()).isTrue();
      assertThat(job.get("memory_limit_bytes").asLong()).isEqualTo(2 * GIB);
      assertThat(job.get("sm_limit_percent").isNumber()).isTrue();
      assertThat(job.get("sm_share_percent").isNumber()).isTrue();
      assertThat(job.get("processes").get(0).asLong()).isEqualTo(ProcessHandle.current().pid());
    }
  }

  @Test
  void answersStatusWhileHundredsOfConnectionsSitIdle() throws Exception {
    List<SocketChannel> idle = new ArrayList<>();
    try {
      for (int i = 0; i < 500; i++) {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        idle.add(ch);
      }
      ServerFrame reply = status();
      assertThat(reply.getStatus().getNodesList()).hasSize(1);
    } finally {
      for (SocketChannel ch : idle) {
        ch.close();
      }
    }
  }

  static String cli(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    String[] all = java.util.Arrays.copyOf(args, args.length + 2);
    all[args.length] = "--socket";
    all[args.length + 1] = socket.toString();
    int code =
        SoftmigCommand.commandLine(new PrintWriter(out), new PrintWriter(err)).execute(all);
    assertThat(code).as("exit code, stderr: %s", err).isZero();
    return out.toString();
  }

  @Test
  void placedJobsShowInStatusBeforeAnyProcessAndTheirProcessesGetTheSlice() throws Exception {
    String uuid = cli("place", "--job", "placed-1", "--mem", "12G", "--sm", "25").strip();
    assertThat(uuid).startsWith("GPU-");
    int index = uuid.equals(GPU0) ? 0 : 1;
    JobStatus job = jobOnGpu(index, "placed-1");
    assertThat(job.getPlaced()).isTrue();
    assertThat(job.getMemoryLimitBytes()).isEqualTo(12 * GIB);
    assertThat(job.getSmLimitPercent()).isEqualTo(25.0);
    assertThat(job.getProcessesList()).isEmpty();

    try (TestShim shim = TestShim.connect(socket, "placed-1", 0, uuid)) {
      assertThat(shim.welcome.getSource()).isEqualTo(org.softmig.proto.v1.Welcome.Source.PLACEMENT);
      assertThat(shim.welcome.getLimits(0).getMemoryLimitBytes()).isEqualTo(12 * GIB);
      assertThat(shim.welcome.getLimits(0).getSmLimitPercent()).isEqualTo(25.0);
    }
    assertThat(cli("release", "--job", "placed-1")).contains("released placed-1");
    assertThat(cli("release", "--job", "placed-1")).contains("nothing placed");
    await().atMost(Duration.ofSeconds(10)).until(() -> jobOnGpu(index, "placed-1") == null);
  }

  @Test
  void aPlacedJobWithAConfigFileGetsTheFilesLimitOnItsGpuAndNothingOnTheOther() throws Exception {
    String uuid = cli("place", "--job", "8801", "--mem", "4G", "--sm", "25").strip();
    int index = uuid.equals(GPU0) ? 0 : 1;
    String other = index == 0 ? GPU1 : GPU0;
    Path file = Files.writeString(dir.resolve("conf").resolve("8801.conf"),
        "CUDA_DEVICE_MEMORY_LIMIT=1G\n");
    try (TestShim shim = TestShim.connect(socket, "8801", 40 * GIB, uuid, other)) {
      assertThat(shim.welcome.getSource()).isEqualTo(org.softmig.proto.v1.Welcome.Source.ADMIN_CONFIG);
      assertThat(shim.welcome.getLimits(0).getDenied()).isFalse();
      assertThat(shim.welcome.getLimits(0).getMemoryLimitBytes()).isEqualTo(GIB);
      var denied = shim.welcome.getLimits(1);
      assertThat(denied.getDenied()).isTrue();
      assertThat(denied.getDeniedReason()).contains("is placed on");
      assertThat(denied.getMemoryLimitBytes()).isEqualTo(1); // a shim that ignores the flag
      assertThat(denied.getGated()).isFalse();
      MemReply refused = shim.reserve(1, 1).getMemReply();
      assertThat(refused.getGranted()).isFalse();
      assertThat(shim.reserve(0, GIB / 2).getMemReply().getGranted()).isTrue();
      assertThat(jobOnGpu(index == 0 ? 1 : 0, "8801")).isNull();
    } finally {
      Files.delete(file);
      cli("release", "--job", "8801");
    }
  }

  @Test
  void reportsAJobAfterItsProcessesEnded() throws Exception {
    try (TestShim shim = TestShim.connect(socket, "rep-1", 0, GPU1)) {
      assertThat(shim.reserve(0, 3 * GIB).getMemReply().getGranted()).isTrue();
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> jobOnGpu(1, "rep-1") == null);
    JsonNode report = new ObjectMapper().readTree(cli("report", "rep-1", "--json"));
    JsonNode r = report.get("reports").get(0);
    assertThat(r.get("job_id").asText()).isEqualTo("rep-1");
    assertThat(r.get("gpu_uuid").asText()).isEqualTo(GPU1);
    assertThat(r.get("memory_peak_bytes").asLong()).isEqualTo(3 * GIB);
    assertThat(r.get("ended_unix_ms").asLong()).isPositive();
    assertThat(cli("report", "rep-1")).contains("rep-1");
  }

  /** Runs the CLI against this coordinator; returns the exit code and stdout, stderr. */
  static String[] cliExit(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    String[] all = java.util.Arrays.copyOf(args, args.length + 2);
    all[args.length] = "--socket";
    all[args.length + 1] = socket.toString();
    int code =
        SoftmigCommand.commandLine(new PrintWriter(out), new PrintWriter(err)).execute(all);
    return new String[] {Integer.toString(code), out.toString(), err.toString()};
  }

  @Test
  void anUnknownJobsReportExitsOneWithAndWithoutJson() {
    String[] plain = cliExit("report", "no-such-job");
    String[] json = cliExit("report", "no-such-job", "--json");
    assertThat(plain[0]).isEqualTo("1");
    assertThat(json[0]).isEqualTo("1");
    assertThat(json[1]).isEmpty();
    assertThat(json[2].strip()).doesNotContain("\n").contains("no-such-job");
  }

  @Test
  void aRePlaceWithoutAUserKeepsTheJobsUser() throws Exception {
    String uuid = cli("place", "--job", "keep-1", "--mem", "2G", "--sm", "10", "--user", "alice");
    int index = uuid.strip().equals(GPU0) ? 0 : 1;
    assertThat(jobOnGpu(index, "keep-1").getUser()).isEqualTo("alice");
    cli("place", "--job", "keep-1", "--mem", "2G", "--sm", "10");
    assertThat(jobOnGpu(index, "keep-1").getUser()).isEqualTo("alice");
    cli("place", "--job", "keep-1", "--mem", "2G", "--sm", "10", "--user", "bob");
    assertThat(jobOnGpu(index, "keep-1").getUser()).isEqualTo("bob");

    // status --user shows only that user's jobs
    JsonNode bobs = new ObjectMapper().readTree(cli("status", "--user", "bob", "--json"));
    JsonNode gpus = bobs.get("nodes").get(0).get("gpus");
    assertThat(gpus).hasSize(1);
    assertThat(gpus.get(0).get("jobs")).hasSize(1);
    assertThat(gpus.get(0).get("jobs").get(0).get("job_id").asText()).isEqualTo("keep-1");
    assertThat(cli("status", "--user", "nobody-here")).contains("(no jobs of nobody-here)");
    assertThat(cliExit("status", "--mine", "--user", "bob")[0]).isEqualTo("2");
    cli("release", "--job", "keep-1");
  }

  @Test
  void statusMarksTheCallersJobs() throws Exception {
    String me = System.getProperty("user.name");
    cli("place", "--job", "mine-1", "--mem", "1G", "--sm", "5", "--user", me);
    cli("place", "--job", "theirs-1", "--mem", "1G", "--sm", "5", "--user", "someone-else");
    String table = cli("status");
    assertThat(table.lines().filter(l -> l.contains("mine-1*"))).allMatch(l -> l.startsWith("  > "));
    assertThat(table.lines().filter(l -> l.contains("theirs-1*"))).allMatch(l -> l.startsWith("    "));
    String mine = cli("status", "--mine");
    assertThat(mine).contains("mine-1").doesNotContain("theirs-1");
    cli("release", "--job", "mine-1");
    cli("release", "--job", "theirs-1");
  }

  @Test
  void leasesMoveBetweenJobsOverTheSocket() throws Exception {
    try (TestShim a = TestShim.connect(socket, "lease-a", 0, GPU0);
        TestShim b = TestShim.connect(socket, "lease-b", 0, GPU0)) {
      assertThat(a.welcome.getLimits(0).getGated()).isTrue();
      a.client.send(
          ClientFrame.newBuilder()
              .setLeaseRequest(org.softmig.proto.v1.LeaseRequest.newBuilder())
              .build());
      ServerFrame grant = a.nextUnsolicited();
      assertThat(grant.hasLeaseGrant()).as("%s", grant).isTrue();
      b.client.send(
          ClientFrame.newBuilder()
              .setLeaseRequest(org.softmig.proto.v1.LeaseRequest.newBuilder())
              .build());
      if (grant.getLeaseGrant().getDurationUs() == 0) {
        ServerFrame revoke = a.nextUnsolicited();
        assertThat(revoke.hasLeaseRevoke()).as("%s", revoke).isTrue();
      }
      a.client.send(
          ClientFrame.newBuilder()
              .setLeaseRelease(
                  org.softmig.proto.v1.LeaseRelease.newBuilder()
                      .setLeaseId(grant.getLeaseGrant().getLeaseId())
                      .setGpuTimeUs(1000)
                      .setIdle(true))
              .build());
      ServerFrame bGrant = b.nextUnsolicited();
      assertThat(bGrant.hasLeaseGrant()).as("%s", bGrant).isTrue();
      assertThat(bGrant.getLeaseGrant().getLeaseId())
          .isGreaterThan(grant.getLeaseGrant().getLeaseId());
    }
  }

  static ServerFrame status() throws Exception {
    return SocketClient.request(
        socket,
        ClientFrame.newBuilder().setRequestId(7).setStatus(StatusRequest.getDefaultInstance()).build());
  }

  static JobStatus jobOnGpu(int index, String jobId) throws Exception {
    for (JobStatus j : status().getStatus().getNodes(0).getGpus(index).getJobsList()) {
      if (j.getJobId().equals(jobId)) {
        return j;
      }
    }
    return null;
  }
}
