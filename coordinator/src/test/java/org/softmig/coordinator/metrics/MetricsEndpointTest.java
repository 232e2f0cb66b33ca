package org.softmig.coordinator.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.UnmanagedProcess;

/** The Prometheus endpoint, read the way Prometheus reads it. */
class MetricsEndpointTest {
  private static final String GPU = "GPU-51dc187a-af0f-2fa8-127c-46fedfac9019";
  private static final long GIB = 1L << 30;

  private final NodeMetrics metrics = new NodeMetrics("n1");
  private MetricsServer server;

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
    }
  }

  private static NodeStatus status(JobStatus... jobs) {
    return NodeStatus.newBuilder()
        .setNode("n1")
        .setReachable(true)
        .setUpdatedUnixMs(1_700_000_000_000L)
        .addGpus(
            GpuStatus.newBuilder()
                .setUuid(GPU)
                .setIndex(0)
                .setName("NVIDIA H100 80GB HBM3")
                .setMemoryTotalBytes(80 * GIB)
                .setMemoryCommittedBytes(24 * GIB)
                .setMemoryUsedBytes(13 * GIB)
                .setSmCommittedPercent(75)
                .addAllJobs(Arrays.asList(jobs)))
        .addUnmanagedProcesses(
            UnmanagedProcess.newBuilder()
                .setPid(4343)
                .setUser("bob")
                .setGpuUuid(GPU)
                .setReason("no session")
                .setUsedBytes(GIB))
        .build();
  }

  private static JobStatus alice() {
    return JobStatus.newBuilder()
        .setJobId("123")
        .setUser("alice")
        .setMemoryUsedBytes(12 * GIB)
        .setMemoryLimitBytes(12 * GIB)
        .setSmLimitPercent(25)
        .setSmSharePercent(24.5)
        .setGpuTimeUs(2_500_000)
        .setThrottledUs(750_000)
        .setOomRefusals(3)
        .addProcesses(4242)
        .addProcesses(4244)
        .build();
  }

  private String scrape() throws Exception {
    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    HttpResponse<String> response =
        client.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                .timeout(Duration.ofSeconds(10))
                .GET()
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).isEqualTo(200);
    return response.body();
  }

  private static List<String> samples(String body) {
    return body.lines().filter(l -> !l.startsWith("#") && !l.isBlank()).toList();
  }

  @Test
  void servesGpuAndJobMetricsFromTheLatestStatus() throws Exception {
    server = MetricsServer.start(metrics.registry(), "127.0.0.1", 0);
    metrics.update(status(alice()));

    List<String> lines = samples(scrape());

    String gpu = "{gpu=\"" + GPU + "\",node=\"n1\"}";
    String job = "{gpu=\"" + GPU + "\",job=\"123\",node=\"n1\",user=\"alice\"}";
    assertThat(lines)
        .contains(
            "softmig_gpu_memory_total_bytes" + gpu + " 8.589934592E10",
            "softmig_gpu_memory_committed_bytes" + gpu + " 2.5769803776E10",
            "softmig_gpu_memory_used_bytes" + gpu + " 1.3958643712E10",
            "softmig_gpu_sm_committed_ratio" + gpu + " 0.75",
            "softmig_gpu_sessions" + gpu + " 2.0",
            "softmig_job_memory_limit_bytes" + job + " 1.2884901888E10",
            "softmig_job_memory_used_bytes" + job + " 1.2884901888E10",
            "softmig_job_sm_limit_ratio" + job + " 0.25",
            "softmig_job_sm_share_ratio" + job + " 0.245",
            "softmig_job_gpu_seconds_total" + job + " 2.5",
            "softmig_job_throttled_seconds_total" + job + " 0.75",
            "softmig_job_oom_refusals_total" + job + " 3.0",
            "softmig_unmanaged_processes{gpu=\"" + GPU + "\",node=\"n1\",reason=\"no session\"} 1.0",
            "softmig_status_updated_timestamp_seconds{node=\"n1\"} 1.7E9");
  }

  @Test
  void declaresCountersAndGaugesWithTheirTypes() throws Exception {
    server = MetricsServer.start(metrics.registry(), "127.0.0.1", 0);
    metrics.update(status(alice()));

    String body = scrape();

    assertThat(body)
        .contains("# TYPE softmig_job_gpu_seconds_total counter")
        .contains("# TYPE softmig_job_throttled_seconds_total counter")
        .contains("# TYPE softmig_job_memory_used_bytes gauge")
        .contains("# TYPE softmig_gpu_memory_total_bytes gauge");
  }

  @Test
  void countsGrantsAndTheirLatencyInAHistogram() throws Exception {
    server = MetricsServer.start(metrics.registry(), "127.0.0.1", 0);
    metrics.update(status(alice()));
    metrics.recordGrant(GPU, "123", "alice", 80_000); // 80 µs
    metrics.recordGrant(GPU, "123", "alice", 3_000_000); // 3 ms

    List<String> lines = samples(scrape());

    String job = "gpu=\"" + GPU + "\",job=\"123\",node=\"n1\",user=\"alice\"";
    assertThat(lines)
        .contains(
            "softmig_grants_total{" + job + "} 2.0",
            "softmig_grant_latency_seconds_bucket{" + job + ",le=\"1.0E-4\"} 1",
            "softmig_grant_latency_seconds_bucket{" + job + ",le=\"0.005\"} 2",
            "softmig_grant_latency_seconds_bucket{" + job + ",le=\"+Inf\"} 2",
            "softmig_grant_latency_seconds_count{" + job + "} 2");
  }

  @Test
  void dropsJobsThatAreGoneFromTheStatus() throws Exception {
    server = MetricsServer.start(metrics.registry(), "127.0.0.1", 0);
    metrics.update(status(alice()));
    metrics.recordGrant(GPU, "123", "alice", 1_000);

    metrics.update(status());
    String body = scrape();

    assertThat(body).doesNotContain("job=\"123\"");
    assertThat(samples(body)).anyMatch(l -> l.startsWith("softmig_gpu_memory_total_bytes{"));
  }

  @Test
  void exposesEachJobOnceEvenWhenTheStatusRepeatsIt() throws Exception {
    server = MetricsServer.start(metrics.registry(), "127.0.0.1", 0);
    metrics.update(status(alice(), alice()));

    List<String> lines = samples(scrape());

    assertThat(lines).filteredOn(l -> l.startsWith("softmig_job_memory_used_bytes{")).hasSize(1);
  }

  @Test
  void countsKills() throws Exception {
    server = MetricsServer.start(metrics.registry(), "127.0.0.1", 0);
    metrics.recordKill(GPU, "over limit");

    assertThat(samples(scrape()))
        .contains(
            "softmig_unmanaged_kills_total{gpu=\"" + GPU + "\",node=\"n1\",reason=\"over limit\"} 1.0");
  }

  @Test
  void servesNothingButHeadersBeforeTheFirstStatus() throws Exception {
    server = MetricsServer.start(metrics.registry(), "127.0.0.1", 0);

    assertThat(samples(scrape())).isEmpty();
  }

  @Test
  void refusesABadPort() {
    assertThatThrownBy(() -> MetricsServer.start(metrics.registry(), 70000))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("70000");
  }

  @Test
  void namesAPortThatIsTaken() {
    server = MetricsServer.start(metrics.registry(), "127.0.0.1", 0);

    assertThatThrownBy(() -> MetricsServer.start(metrics.registry(), "127.0.0.1", server.port()))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining(String.valueOf(server.port()));
  }
}
