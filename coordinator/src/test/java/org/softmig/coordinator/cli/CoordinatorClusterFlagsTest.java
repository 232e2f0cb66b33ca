package org.softmig.coordinator.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.softmig.coordinator.cluster.ClusterSettings;
import org.softmig.coordinator.config.ClusterOptions;
import picocli.CommandLine;

class CoordinatorClusterFlagsTest {

  @TempDir Path dir;

  private CoordinatorCommand parse(String... args) {
    CoordinatorCommand command = new CoordinatorCommand();
    CommandLine cl = new CommandLine(command);
    cl.parseArgs(args);
    command.spec = cl.getCommandSpec();
    return command;
  }

  @Test
  void clusterFlagsBeatTheConfigFile() throws Exception {
    Path file =
        Files.writeString(
            dir.resolve("n.conf"),
            "softmig { node-name = login1, cluster.host = a.example, cluster-port = 2600 }\n");
    CoordinatorCommand command =
        parse(
            "--config", file.toString(),
            "--cluster-host", "10.1.2.3",
            "--observer",
            "--seed", "gpu01:25520",
            "--seed", "gpu02:25520");

    ClusterOptions options = command.clusterOptions();
    ClusterSettings cs =
        options
            .withTls(
                org.softmig.coordinator.cluster.TlsSettings.of(
                    Path.of("/etc/softmig/tls/node.p12"), "p", Path.of("/etc/softmig/tls/trust.p12"), "t"))
            .toClusterSettings(command.settings());

    assertThat(cs.nodeName()).isEqualTo("login1");
    assertThat(cs.host()).isEqualTo("10.1.2.3");
    assertThat(cs.port()).isEqualTo(2600);
    assertThat(cs.seeds()).containsExactly("gpu01:25520", "gpu02:25520");
    assertThat(cs.observer()).isTrue();
  }

  @Test
  void theConfigFileHostIsUsedWithoutAFlag() throws Exception {
    Path file = Files.writeString(dir.resolve("n.conf"), "softmig.cluster.host = a.example\n");

    assertThat(parse("--config", file.toString()).clusterOptions().host()).isEqualTo("a.example");
    assertThat(parse().clusterOptions()).isEqualTo(ClusterOptions.defaults());
  }
}
