package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.coordinator.os.NssUserDirectory;
import org.softmig.coordinator.shim.Peer;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.PlaceRequest;
import org.softmig.proto.v1.ReportReply;
import org.softmig.proto.v1.ReportRequest;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusReply;
import org.softmig.proto.v1.StatusRequest;

/**
 * A real coordinator whose site hides other users' jobs ({@code status.hide-other-users}), asked
 * by callers as the kernel would name them (uid and gid): root and the admin group see every job,
 * anyone else only their own. Users are the name service's ({@code nobody}, {@code daemon}).
 */
class HiddenJobsTest {

  static final long GIB = 1L << 30;
  static final Peer ROOT = new Peer(1, 0, 0);

  static Path dir;
  static Coordinator coordinator;
  static Peer nobody;
  static Peer daemon;

  @BeforeAll
  static void start() throws Exception {
    NssUserDirectory users = NssUserDirectory.open();
    var nobodyAccount = users.byName("nobody").orElseThrow();
    var daemonAccount = users.byName("daemon").orElseThrow();
    nobody = new Peer(2, nobodyAccount.uid(), nobodyAccount.gid());
    daemon = new Peer(3, daemonAccount.uid(), daemonAccount.gid());
    dir = Files.createTempDirectory(Path.of("/tmp"), "smh");
    Files.createDirectories(dir.resolve("proc"));
    Files.createDirectories(dir.resolve("conf"));
    coordinator =
        Coordinator.start(
            NodeSettings.of(
                Map.of(
                    "socket", dir.resolve("s.sock"),
                    "simulate", "48G",
                    "node-name", "hide-node",
                    "proc-root", dir.resolve("proc"),
                    "config-dir", dir.resolve("conf"),
                    "state-dir", dir.resolve("state"),
                    "admin-group", "root",
                    "status.hide-other-users", true)),
            SimulatedGpus.fromSpec("48G"));
    place("10", "nobody");
    place("11", "daemon");
    place("12", Integer.toString(2_000_000_017));
  }

  @AfterAll
  static void stop() throws Exception {
    coordinator.close();
    try (var files = Files.walk(dir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  static ServerFrame ask(ClientFrame.Builder request, Peer peer) throws Exception {
    return coordinator
        .requests()
        .handle(request.setRequestId(1).build(), peer)
        .toCompletableFuture()
        .get(10, TimeUnit.SECONDS);
  }

  static void place(String job, String user) throws Exception {
    ServerFrame reply =
        ask(
            ClientFrame.newBuilder()
                .setPlace(
                    PlaceRequest.newBuilder()
                        .setJobId(job)
                        .setUser(user)
                        .setMemoryBytes(4 * GIB)
                        .setSmPercent(25)),
            ROOT);
    assertThat(reply.hasPlace()).as(reply.toString()).isTrue();
  }

  static StatusReply status(Peer peer) throws Exception {
    return ask(ClientFrame.newBuilder().setStatus(StatusRequest.getDefaultInstance()), peer)
        .getStatus();
  }

  static java.util.List<String> jobs(StatusReply status) {
    return status.getNodesList().stream()
        .flatMap(n -> n.getGpusList().stream())
        .flatMap(g -> g.getJobsList().stream())
        .map(JobStatus::getJobId)
        .sorted()
        .toList();
  }

  static ReportReply report(String job, Peer peer) throws Exception {
    return ask(ClientFrame.newBuilder().setReport(ReportRequest.newBuilder().setJobId(job)), peer)
        .getReport();
  }

  @Test
  void rootSeesEveryJob() throws Exception {
    StatusReply all = status(ROOT);
    assertThat(jobs(all)).containsExactly("10", "11", "12");
    assertThat(all.getOthersHidden()).isFalse();
    assertThat(report("11", ROOT).getReportsList()).isNotEmpty();
  }

  @Test
  void aUserSeesOnlyTheirOwnJobsAndTheGpusTotals() throws Exception {
    StatusReply mine = status(nobody);
    assertThat(jobs(mine)).containsExactly("10");
    assertThat(mine.getOthersHidden()).isTrue();
    GpuStatus gpu = mine.getNodes(0).getGpus(0);
    assertThat(gpu.getMemoryTotalBytes()).isEqualTo(48 * GIB);
    assertThat(gpu.getMemoryCommittedBytes()).isEqualTo(12 * GIB);

    assertThat(jobs(status(daemon))).containsExactly("11");
    assertThat(jobs(status(new Peer(4, 2_000_000_017, 4)))).containsExactly("12");
    assertThat(jobs(status(new Peer(5, 2_000_000_018, 5)))).isEmpty();
    assertThat(jobs(status(Peer.UNKNOWN))).isEmpty();
  }

  @Test
  void aReportOfAnotherUsersJobAnswersAsOneNobodyKnows() throws Exception {
    ReportReply others = report("11", nobody);
    assertThat(others.getReportsList()).isEmpty();
    assertThat(others.getOthersHidden()).isTrue();
    ReportReply unknown = report("99", nobody);
    assertThat(unknown).isEqualTo(others);
    assertThat(report("10", nobody).getReportsList()).isNotEmpty();
  }

  @Test
  void theAdminGroupSeesEveryJob() throws Exception {
    // The admin group here is "root" (gid 0): a caller whose process runs with that group.
    Peer admin = new Peer(6, nobody.uid(), 0);
    StatusReply all = status(admin);
    assertThat(jobs(all)).containsExactly("10", "11", "12");
    assertThat(all.getOthersHidden()).isFalse();
    assertThat(report("11", admin).getReportsList()).isNotEmpty();
  }
}
