package org.softmig.coordinator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.softmig.coordinator.cli.SoftmigCommand;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.nvml.SimulatedGpus;

/** A coordinator with no cluster configured binds no TCP port; two run side by side. */
class StandaloneCoordinatorTest {

  @TempDir Path dir;

  private Coordinator start(String name) throws Exception {
    Path home = Files.createDirectories(dir.resolve(name));
    NodeSettings settings =
        NodeSettings.of(
            Map.of(
                "socket", home.resolve("s.sock"),
                "simulate", "48G",
                "node-name", name,
                "proc-root", home.resolve("proc"),
                "config-dir", home.resolve("conf"),
                "state-dir", home.resolve("state")));
    assertThat(settings.clustered()).isFalse();
    return Coordinator.start(settings, SimulatedGpus.fromSpec("48G"));
  }

  @Test
  void twoStandaloneCoordinatorsRunOnOneHostWithoutATcpPort() throws Exception {
    Set<String> before = listeningTcpSockets();
    try (Coordinator a = start("alone-a");
        Coordinator b = start("alone-b")) {
      assertThat(a.cluster().clustered()).isFalse();
      Set<String> after = listeningTcpSockets();
      after.removeAll(before);
      assertThat(after).isEmpty();

      // status --cluster on a node alone answers with that node
      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(
              () -> {
                JsonNode nodes = statusCluster(b.socket()).get("nodes");
                assertThat(nodes).hasSize(1);
                assertThat(nodes.get(0).get("node").asText()).isEqualTo("alone-b");
                assertThat(nodes.get(0).get("reachable").asBoolean()).isTrue();
              });
    }
  }

  private static JsonNode statusCluster(Path socket) throws Exception {
    StringWriter out = new StringWriter();
    int code =
        SoftmigCommand.commandLine(new PrintWriter(out), new PrintWriter(new StringWriter()))
            .execute("status", "--cluster", "--json", "--socket", socket.toString());
    assertThat(code).isZero();
    return new ObjectMapper().readTree(out.toString());
  }

  /** The inodes of this process's sockets that listen on TCP (IPv4 or IPv6). */
  private static Set<String> listeningTcpSockets() throws Exception {
    Set<String> mine = new HashSet<>();
    try (var fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : (Iterable<Path>) fds::iterator) {
        try {
          String target = Files.readSymbolicLink(fd).toString();
          if (target.startsWith("socket:[")) {
            mine.add(target.substring(8, target.length() - 1));
          }
        } catch (Exception e) {
          // closed meanwhile
        }
      }
    }
    Set<String> listening = new HashSet<>();
    for (String table : List.of("/proc/self/net/tcp", "/proc/self/net/tcp6")) {
      Path p = Path.of(table);
      if (!Files.exists(p)) {
        continue;
      }
      for (String line : Files.readAllLines(p)) {
        String[] f = line.trim().split("\\s+");
        if (f.length > 9 && f[3].equals("0A") && mine.contains(f[9])) {
          listening.add(f[9]);
        }
      }
    }
    return listening;
  }
}
