package org.softmig.coordinator.shim;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.softmig.coordinator.Coordinator;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Error;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.PlaceRequest;
import org.softmig.proto.v1.ReleaseRequest;
import org.softmig.proto.v1.ReportRequest;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusRequest;

/**
 * CLI requests with hostile values (place, release, report, status), from root or from a user,
 * answered by a real coordinator's request handling and actors (simulated GPUs): every request
 * gets an answer, never an internal error; a placement exists only for a usable job id, a
 * positive size and a share in (0, 100], and only for root; the node's status never shows a job
 * with a limit outside those bounds.
 */
class CliRequestFuzzTest {

  private static final Peer ROOT = new Peer(1, 0, 0);
  private static final Peer USER = new Peer(2, 1000, 1000);
  private static final Pattern JOB_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
  private static final double[] PERCENTS = {
    0, 25, 100, 100.0000001, -1, Double.NaN, Double.POSITIVE_INFINITY, 1e308, Double.MIN_VALUE
  };
  private static final long[] SIZES = {0, 1, 1L << 30, 48L << 30, 49L << 30, -1, Long.MIN_VALUE};
  private static final String[] JOB_IDS = {"", "123", "job-1", "../x", "1 2", "a\nb", "x".repeat(65)};

  private static Coordinator coordinator;
  private static Path dir;

  @BeforeAll
  static void start() throws Exception {
    dir = Files.createTempDirectory("softmig-fuzz-cli");
    String spec = "FUZZ:48G,FUZZ:48G";
    coordinator =
        Coordinator.start(
            NodeSettings.of(
                Map.of(
                    "socket", dir.resolve("c.sock"),
                    "simulate", spec,
                    "node-name", "fuzz",
                    "config-dir", Files.createDirectories(dir.resolve("conf")),
                    "state-dir", dir.resolve("state"))),
            SimulatedGpus.fromSpec(spec));
    ask(ClientFrame.newBuilder().setStatus(StatusRequest.getDefaultInstance()).build(), ROOT);
  }

  @AfterAll
  static void stop() {
    if (coordinator != null) {
      coordinator.close();
    }
  }

  @FuzzTest(maxDuration = "10s")
  void everyRequestIsAnsweredAndNoInvalidJobIsPlaced(FuzzedDataProvider data) throws Exception {
    Peer peer = data.consumeBoolean() ? ROOT : USER;
    ClientFrame.Builder f = ClientFrame.newBuilder().setRequestId(data.consumeLong());
    PlaceRequest place = null;
    switch (data.consumeInt(0, 3)) {
      case 0 -> {
        place =
            PlaceRequest.newBuilder()
                .setJobId(string(data))
                .setMemoryBytes(data.consumeBoolean() ? data.pickValue(SIZES) : data.consumeLong())
                .setSmPercent(data.consumeBoolean() ? data.pickValue(PERCENTS) : data.consumeDouble())
                .setUser(data.consumeString(20))
                .build();
        f.setPlace(place);
      }
      case 1 -> f.setRelease(ReleaseRequest.newBuilder().setJobId(string(data)));
      case 2 -> f.setReport(ReportRequest.newBuilder().setJobId(string(data)));
      default -> f.setStatus(StatusRequest.newBuilder().setCluster(data.consumeBoolean()));
    }
    ClientFrame request = f.build();
    ServerFrame reply = ask(request, peer);

    assertThat(reply.getError().getCode()).as("%s -> %s", request, reply).isNotEqualTo(Error.Code.INTERNAL);
    if (request.hasPlace() && reply.hasPlace()) {
      assertThat(peer).isEqualTo(ROOT);
      assertThat(place.getJobId()).matches(JOB_ID);
      assertThat(place.getMemoryBytes()).isPositive();
      assertThat(place.getSmPercent()).isGreaterThan(0).isLessThanOrEqualTo(100);
      ServerFrame released =
          ask(
              ClientFrame.newBuilder()
                  .setRelease(ReleaseRequest.newBuilder().setJobId(place.getJobId()))
                  .build(),
              ROOT);
      assertThat(released.getRelease().getReleased()).isTrue();
    }
    if ((request.hasPlace() || request.hasRelease()) && peer.equals(USER)) {
      assertThat(reply.hasError()).isTrue();
    }
    ServerFrame status =
        ask(ClientFrame.newBuilder().setStatus(StatusRequest.getDefaultInstance()).build(), ROOT);
    for (GpuStatus gpu : status.getStatus().getNodes(0).getGpusList()) {
      for (JobStatus job : gpu.getJobsList()) {
        assertThat(job.getJobId()).matches(JOB_ID);
        assertThat(job.getMemoryLimitBytes()).isNotNegative().isLessThanOrEqualTo(gpu.getMemoryTotalBytes());
        assertThat(job.getSmLimitPercent()).isBetween(0.0, 100.0);
      }
    }
  }

  private static ServerFrame ask(ClientFrame request, Peer peer) throws Exception {
    return coordinator.requests().handle(request, peer).toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static String string(FuzzedDataProvider data) {
    return data.consumeBoolean() ? data.pickValue(JOB_IDS) : data.consumeString(70);
  }
}
