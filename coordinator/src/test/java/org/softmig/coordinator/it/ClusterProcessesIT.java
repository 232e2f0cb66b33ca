package org.softmig.coordinator.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.Socket;
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
import org.softmig.coordinator.cli.CoordinatorCommand;
import org.softmig.coordinator.cli.SoftmigCommand;

/**
 * Real coordinator processes on loopback, with mutual TLS from the site's CA made by {@code
 * deploy/softmig-cluster-certs.sh}. Three of them form one cluster; {@code status --cluster} from
 * every node lists all three; a node killed with SIGKILL is listed unreachable on the others
 * within 30 s while their jobs stay placed; started again, it is reachable again. Against
 * hostile members: one without a certificate never joins; one with a certificate cannot put
 * another node's GPUs, a node that does not exist, or another node's report part into the views;
 * silent connections to the cluster port are closed; a node downed by another member exits with
 * status 75, so that its service manager restarts it.
 *
 * <p>The processes run with {@code akka.cluster.split-brain-resolver.stable-after=5s} (default
 * 20 s) so that the dead incarnation is downed quickly; the failure detector keeps its defaults.
 */
class ClusterProcessesIT {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> NODES = List.of("n1", "n2", "n3");

  /** The site's CA and the certificates of n1, n2, n3 and of a member named intruder. */
  @TempDir static Path certs;

  @TempDir Path dir;

  @org.junit.jupiter.api.BeforeAll
  static void certificates() throws Exception {
    certsScript("ca", certs.toString());
    for (String node : List.of("n1", "n2", "n3", "intruder")) {
      certsScript("node", certs.toString(), node, "127.0.0.1");
    }
  }

  private static void certsScript(String... args) throws Exception {
    List<String> command = new ArrayList<>();
    command.add(Path.of("..", "deploy", "softmig-cluster-certs.sh").toAbsolutePath().toString());
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().put("KEYTOOL", Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    if (args.length > 2) {
      pb.environment().put("TLS_DIR", certs.resolve(args[2]).toString());
    }
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor()).as("softmig-cluster-certs.sh %s: %s", args[0], out).isZero();
  }

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

  @Test
  void aClusterWithoutCertificatesDoesNotStart() {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int rc =
        SoftmigCommand.commandLine(new PrintWriter(out, true), new PrintWriter(err, true))
            .execute(
                "coordinator",
                "--simulate",
                "1G",
                "--node-name",
                "lonely",
                "--socket",
                socket("lonely"),
                "--seed",
                "127.0.0.1:" + ports.get("n1"));

    assertThat(rc).isNotZero();
    assertThat(err.toString())
        .contains(
            "softmig.cluster.tls.key-store",
            "softmig.cluster.tls.key-store-password",
            "softmig.cluster.tls.trust-store",
            "softmig.cluster.tls.trust-store-password");
    assertThat(Path.of(socket("lonely"))).doesNotExist();
  }

  @Test
  void strangersStayOutForgeriesAreIgnoredSilentConnectionsCloseAndADownedNodeExits75()
      throws Exception {
    start("n1");
    start("n2");
    awaitSocket("n1");
    awaitSocket("n2");
    cli("place", "--job", "job-n1", "--mem", "1G", "--sm", "25", "--socket", socket("n1"));
    for (String node : List.of("n1", "n2")) {
      await("n1 and n2 reachable from " + node)
          .atMost(Duration.ofSeconds(60))
          .pollInterval(Duration.ofSeconds(1))
          .until(() -> reachable(node), r -> r.equals(Map.of("n1", true, "n2", true)));
    }
    await("job-n1's part from n1, read on n2")
        .atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofSeconds(1))
        .until(() -> reportGpus("n2", "job-n1"), gpus -> !gpus.isEmpty());

    // a member without the site's certificate, and one with it that forges
    startIntruder("rogue", "none");
    startIntruder("intruder", certs.resolve("intruder").resolve("tls.conf").toString());
    await("the intruder, holding a certificate, joins")
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofSeconds(1))
        .until(() -> reachable("n1"), r -> Boolean.TRUE.equals(r.get("intruder")));
    // Each poll is a cluster query (up to the 2 s query timeout per node), seconds on a loaded
    // machine: these conditions must hold for 5 s, with room for the polls.
    await("forged parts never reach a report")
        .during(Duration.ofSeconds(5))
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofSeconds(1))
        .until(
            () -> reportGpus("n2", "job-n1"),
            gpus -> !gpus.isEmpty() && !gpus.contains("GPU-FORGED"));

    // silent connections to the cluster port are closed, and the node goes on answering
    List<Socket> silent = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      Socket s = new Socket("127.0.0.1", ports.get("n1"));
      s.setSoTimeout(60_000);
      silent.add(s);
    }
    for (Socket s : silent) {
      try (s) {
        assertThat(readOrClosed(s)).as("a silent connection is closed").isEqualTo(-1);
      }
    }
    assertThat(reachable("n1")).containsEntry("n1", true);

    // Down from another member: the downed coordinator exits with 75, not 0
    Process n2 = processes.get("n2");
    Process intruder = processes.get("intruder");
    intruder
        .getOutputStream()
        .write(("down akka://softmig@127.0.0.1:" + ports.get("n2") + "\n").getBytes());
    intruder.getOutputStream().flush();
    assertThat(n2.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(n2.exitValue()).isEqualTo(CoordinatorCommand.EXIT_STOPPED_BY_CLUSTER);

    // n2's view now has no holder: the forged GPU still does not show, nor the stranger
    await("n2 gone from n1's cluster")
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofSeconds(1))
        .until(() -> reachable("n1"), r -> Boolean.FALSE.equals(r.get("n2")));
    await("no forged GPU on n1's list")
        .during(Duration.ofSeconds(5))
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofSeconds(1))
        .until(
            () -> clusterGpus("n1"),
            gpus ->
                !gpus.toString().contains("GPU-FORGED")
                    && !gpus.containsKey("rogue")
                    && !gpus.containsKey("ghost"));
    assertThat(processes.get("rogue").isAlive()).as("the stranger kept trying").isTrue();
  }

  /** The next byte, or -1 when the peer closed; a reset counts as closed. */
  private static int readOrClosed(Socket s) throws IOException {
    try {
      return s.getInputStream().read();
    } catch (java.net.SocketException e) {
      return -1;
    }
  }

  private void startIntruder(String name, String tls) throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    Process p =
        new ProcessBuilder(
                java(),
                "-Xmx96m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                classpath(),
                "org.softmig.coordinator.cluster.ClusterIntruderMain",
                name,
                String.valueOf(port),
                "127.0.0.1:" + ports.get("n1"),
                tls,
                "n2",
                "n1",
                "job-n1")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve(name + ".log").toFile()))
            .start();
    processes.put(name, p);
  }

  /** A coordinator with its node's certificate; silent connections are closed after 2 s. */
  private void start(String node) throws IOException {
    Path config =
        Files.writeString(
            dir.resolve(node + ".conf"),
            "include file(\"" + certs.resolve(node).resolve("tls.conf") + "\")\n"
                + "softmig.cluster { silent-timeout = 2s, idle-timeout = 20s }\n");
    List<String> command =
        new ArrayList<>(
            List.of(
                java(),
                "-Xmx128m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Dakka.cluster.split-brain-resolver.stable-after=5s",
                "-cp",
                classpath(),
                "org.softmig.coordinator.Main",
                "coordinator",
                "--config",
                config.toString(),
                "--simulate",
                "16G",
                "--node-name",
                node,
                "--socket",
                socket(node),
                "--config-dir",
                dir.resolve("config").toString(),
                "--state-dir",
                dir.resolve("state-" + node).toString(),
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

  private static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  private static String classpath() {
    return System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
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

  /**
   * The GPUs of the job's report parts, asked on {@code node}; none while the node knows no
   * report of the job yet (its parts travel through the cluster).
   */
  private List<String> reportGpus(String node, String job) throws IOException {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int rc =
        SoftmigCommand.commandLine(new PrintWriter(out, true), new PrintWriter(err, true))
            .execute("report", job, "--json", "--socket", socket(node));
    if (rc == 1 && err.toString().contains("no report for job")) {
      return List.of();
    }
    if (rc != 0) {
      throw new AssertionError("report " + job + " on " + node + " exited " + rc + ": " + err);
    }
    JsonNode report = JSON.readTree(out.toString());
    List<String> gpus = new ArrayList<>();
    for (JsonNode r : report.path("reports")) {
      gpus.add(r.path("gpu_uuid").asText());
    }
    return gpus;
  }

  /** Node name to its GPUs' UUIDs, as {@code status --cluster --json} on {@code node} has it. */
  private Map<String, List<String>> clusterGpus(String node) throws IOException {
    JsonNode status = JSON.readTree(cli("status", "--cluster", "--json", "--socket", socket(node)));
    Map<String, List<String>> gpus = new LinkedHashMap<>();
    for (JsonNode n : status.get("nodes")) {
      List<String> uuids = new ArrayList<>();
      for (JsonNode g : n.path("gpus")) {
        uuids.add(g.path("uuid").asText());
      }
      gpus.put(n.get("node").asText(), uuids);
    }
    return gpus;
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
