package org.softmig.coordinator.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.MpsStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.UnmanagedProcess;

/**
 * deploy/monitoring (the Grafana dashboard and the Prometheus alert rules) against what the
 * coordinator really exports: both files parse, and every softmig metric their queries name is
 * a series of a scrape of {@link NodeMetrics} with every kind of metric present.
 */
class MonitoringFilesTest {
  private static final Path MONITORING = Path.of("..", "deploy", "monitoring");
  private static final Pattern METRIC = Pattern.compile("\\bsoftmig_[a-z0-9_]+");
  private static final String GPU = "GPU-51dc187a-af0f-2fa8-127c-46fedfac9019";
  private static final long GIB = 1L << 30;

  /** The series names of one scrape, as Prometheus stores them (counters with _total, ...). */
  private static Set<String> exportedNames() throws Exception {
    NodeMetrics metrics = new NodeMetrics("n1");
    metrics.update(
        NodeStatus.newBuilder()
            .setNode("n1")
            .setReachable(true)
            .setUpdatedUnixMs(1_700_000_000_000L)
            .addGpus(
                GpuStatus.newBuilder()
                    .setUuid(GPU)
                    .setMemoryTotalBytes(80 * GIB)
                    .setMps(MpsStatus.newBuilder().setState("ready").addServerPids(7))
                    .addJobs(
                        JobStatus.newBuilder()
                            .setJobId("123")
                            .setUser("alice")
                            .setMemoryLimitBytes(12 * GIB)
                            .setOomRefusals(1)
                            .addProcesses(4242)))
            .addUnmanagedProcesses(
                UnmanagedProcess.newBuilder().setPid(1).setGpuUuid(GPU).setReason("no session"))
            .build());
    metrics.recordGrant(GPU, "123", "alice");
    metrics.recordHandoff(GPU, "123", "alice", 100_000);
    metrics.recordKill(GPU, "no session");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, metrics.registry().scrape());
    Set<String> names = new TreeSet<>();
    for (String line : out.toString(StandardCharsets.UTF_8).split("\n")) {
      Matcher m = METRIC.matcher(line);
      if (!line.startsWith("#") && m.lookingAt()) {
        names.add(m.group());
      }
    }
    return names;
  }

  private static Set<String> metricsIn(List<String> exprs) {
    Set<String> used = new TreeSet<>();
    for (String expr : exprs) {
      Matcher m = METRIC.matcher(expr);
      while (m.find()) {
        used.add(m.group());
      }
    }
    return used;
  }

  private static List<String> dashboardExprs(JsonNode dashboard) {
    List<String> exprs = new ArrayList<>();
    for (JsonNode panel : dashboard.path("panels")) {
      for (JsonNode target : panel.path("targets")) {
        exprs.add(target.path("expr").asText());
      }
    }
    for (JsonNode variable : dashboard.path("templating").path("list")) {
      if (variable.path("type").asText().equals("query")) {
        exprs.add(variable.path("query").path("query").asText());
      }
    }
    return exprs;
  }

  @Test
  void theDashboardParsesAndQueriesOnlyExportedMetrics() throws Exception {
    JsonNode dashboard =
        new ObjectMapper().readTree(Files.readString(MONITORING.resolve("softmig-dashboard.json")));
    List<String> exprs = dashboardExprs(dashboard);

    assertThat(dashboard.path("title").asText()).isNotBlank();
    assertThat(dashboard.path("panels")).hasSizeGreaterThanOrEqualTo(8);
    assertThat(exprs).allSatisfy(e -> assertThat(e).isNotBlank());
    Set<String> used = metricsIn(exprs);
    assertThat(used).hasSizeGreaterThanOrEqualTo(15);
    assertThat(exportedNames()).containsAll(used);
  }

  @Test
  void theAlertRulesParseCoverTheFourCasesAndUseOnlyExportedMetrics() throws Exception {
    JsonNode rules =
        new ObjectMapper(new YAMLFactory())
            .readTree(Files.readString(MONITORING.resolve("softmig-alerts.yml")));
    List<String> exprs = new ArrayList<>();
    Set<String> alerts = new TreeSet<>();
    for (JsonNode group : rules.path("groups")) {
      for (JsonNode rule : group.path("rules")) {
        alerts.add(rule.path("alert").asText());
        exprs.add(rule.path("expr").asText());
        assertThat(rule.path("annotations").path("summary").asText()).isNotBlank();
      }
    }

    assertThat(alerts)
        .contains(
            "SoftmigGpuOvercommitted",
            "SoftmigJobOverLimit",
            "SoftmigUnmanagedProcess",
            "SoftmigCoordinatorDown");
    assertThat(exprs).allSatisfy(e -> assertThat(e).isNotBlank());
    assertThat(exportedNames()).containsAll(metricsIn(exprs));
  }

  @Test
  void aMisspeltMetricWouldBeCaught() throws Exception {
    assertThat(exportedNames())
        .contains("softmig_job_oom_refusals_total", "softmig_grant_latency_seconds_bucket")
        .doesNotContain("softmig_job_oom_refusals", "softmig_job_memory_limit");
  }
}
