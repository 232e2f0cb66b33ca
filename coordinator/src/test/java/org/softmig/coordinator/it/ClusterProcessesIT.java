package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.softmig.coordinator.cli.SoftmigCommand;

/**
 * Three real coordinator processes on loopback form one cluster; {@code status --cluster} from
 * every node lists all three; a node killed with SIGKILL is listed unreachable on the others
 * within 30 s while their jobs stay placed; started again, it is reachable again.
 *
 * <p>The processes run with {@code akka.cluster.split-brain-resolver.stable-after=5s} (default
 * 20 s) so that the dead incarnation is downed quickly; the failure detector keeps its defaults.
 */
class ClusterProcessesIT {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> NODES = List.of("n1", "n2", "n3");

  @TempDir Path dir;

  private final Map<String, Integer> ports = new LinkedHashMap<>();
  private final Map<String, Process> processes = new LinkedHashMap<>();

  @BeforeEach
  void ports() throws IOException {
    for (String node : NODES) {
      try (ServerSocket s = new ServerSocket(0)) {
        ports.put(node, s.getLocalPort());
      }
    }
    Files.createDirectories(dir.resolve("config"));
  }

  @AfterEach
  void stop() throws Exception {
    for (Process p : processes.values()) {
      p.destroyForcibly();
    }
    for (Process p : processes.values()) {
      p.waitFor();
    }
  }

  @Test
  void formsAClusterLosesAKilledNodeAndTakesItBack() throws Exception {
    for (String node : NODES) {
      start(node);
    }
    for (String node : NODES) {
      awaitSocket(node);
      cli("place", "--job", "job-" + node, "--mem", "1G", "--sm", "25", "--socket", socket(node));
    }
    for (String node : NODES) {
      await("all three reachable from " + node)
          .atMost(Duration.ofSeconds(60))
          .pollInterval(Duration.ofSeconds(1))
          .until(() -> reachable(node), r -> r.equals(Map.of("n1", true, "n2", true, "n3", true)));
    }
    await("job-n1's report from n3")
        .atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofSeconds(1))
        .until(() -> reportNodes("n3", "job-n1"), nodes -> nodes.contains("n1"));

    processes.get("n2").destroyForcibly(); // SIGKILL
    processes.get("n2").waitFor();
    for (String node : List.of("n1", "n3")) {
      await("n2 unreachable from " + node)
          .atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(500))
          .until(() -> reachable(node), r -> Boolean.FALSE.equals(r.get("n2")));
      assertThat(reachable(node)).containsEntry("n1", true).containsEntry("n3", true);
      assertThat(cli("status", "--cluster", "--socket", socket(node)))
          .contains("node n2  UNREACHABLE (");
      assertThat(localJobs(node)).containsExactly("job-" + node);
    }

    start("n2");
    for (String node : NODES) {
      await("n2 reachable again from " + node)
          .atMost(Duration.ofSeconds(60))
          .pollInterval(Duration.ofSeconds(1))
          .until(() -> reachable(node), r -> r.equals(Map.of("n1", true, "n2", true, "n3", true)));
    }
    assertThat(localJobs("n1")).containsExactly("job-n1");
    assertThat(localJobs("n3")).containsExactly("job-n3");
  }

  private void start(String node) throws IOException {
    String classpath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<String> command =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx128m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Dakka.cluster.split-brain-resolver.stable-after=5s",
                "-cp",
                classpath,
                "org.softmig.coordinator.Main",
                "coordinator",
                "--simulate",
                "16G",
                "--node-name",
                node,
                "--socket",
                socket(node),
                "--config-dir",
                dir.resolve("config").toString(),
                "--cluster-host",
                "127.0.0.1",
                "--cluster-port",
                String.valueOf(ports.get(node))));
    for (int port : ports.values()) {
      command.add("--seed");
      command.add("127.0.0.1:" + port);
    }
    Files.deleteIfExists(Path.of(socket(node)));
    Process p =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve(node + ".log").toFile()))
            .start();
    processes.put(node, p);
  }

  private String socket(String node) {
    return dir.resolve(node + ".sock").toString();
  }

  private void awaitSocket(String node) {
    await(node + " listening")
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(200))
        .until(() -> Files.exists(Path.of(socket(node))));
  }

  /** Runs a CLI command in this JVM; fails on a non-zero exit. */
  private static String cli(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int rc =
        SoftmigCommand.commandLine(new PrintWriter(out, true), new PrintWriter(err, true))
            .execute(args);
    if (rc != 0) {
      throw new AssertionError(String.join(" ", args) + " exited " + rc + ": " + err);
    }
    return out.toString();
  }

  /** Node name to reachable, as {@code status --cluster --json} on {@code node} has it. */
  private Map<String, Boolean> reachable(String node) throws IOException {
    JsonNode status = JSON.readTree(cli("status", "--cluster", "--json", "--socket", socket(node)));
    Map<String, Boolean> reachable = new LinkedHashMap<>();
    for (JsonNode n : status.get("nodes")) {
      reachable.put(n.get("node").asText(), n.get("reachable").asBoolean());
    }
    return reachable;
  }

  /** The jobs of the node's own status (no cluster). */
  private List<String> localJobs(String node) throws IOException {
    JsonNode status = JSON.readTree(cli("status", "--json", "--socket", socket(node)));
    List<String> jobs = new ArrayList<>();
    for (JsonNode n : status.get("nodes")) {
      for (JsonNode g : n.get("gpus")) {
        for (JsonNode j : g.get("jobs")) {
          jobs.add(j.get("job_id").asText());
        }
      }
    }
    return jobs;
  }

  /** The nodes of the job's report parts, asked on {@code node}. */
  private List<String> reportNodes(String node, String job) throws IOException {
    JsonNode report = JSON.readTree(cli("report", job, "--json", "--socket", socket(node)));
    List<String> nodes = new ArrayList<>();
    for (JsonNode r : report.path("reports")) {
      nodes.add(r.path("node").asText());
    }
    return nodes;
  }
}
