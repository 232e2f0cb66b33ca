package org.softmig.coordinator.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.gpu.domain.UnmanagedPolicy;
import picocli.CommandLine;

class CoordinatorCommandTest {

  @TempDir Path dir;

  NodeSettings parse(String... args) {
    CoordinatorCommand command = new CoordinatorCommand();
    CommandLine cl = new CommandLine(command);
    cl.parseArgs(args);
    command.spec = cl.getCommandSpec();
    return command.settings();
  }

  @Test
  void flagsBeatTheConfigFile() throws Exception {
    Path file =
        Files.writeString(
            dir.resolve("n.conf"), "softmig { sm-policy = share, lease = 40ms, node-name = a }\n");
    NodeSettings s = parse("--config", file.toString(), "--sm-policy", "cap", "--lease-ms", "10");
    assertThat(s.smPolicy()).isEqualTo("cap");
    assertThat(s.leaseMillis()).isEqualTo(10);
    assertThat(s.nodeName()).isEqualTo("a");
  }

  @Test
  void mpsFlagAddsGpusToTheFilesOnes() throws Exception {
    Path file = Files.writeString(dir.resolve("m.conf"), "softmig.gpus.\"1\".sharing = mps\n");
    NodeSettings s = parse("--config", file.toString(), "--mps", "0", "--mps", "GPU-1234");
    assertThat(s.mps().gpus()).containsExactlyInAnyOrder("0", "1", "GPU-1234");
    assertThatThrownBy(() -> parse("--mps", "all"))
        .isInstanceOf(CommandLine.ParameterException.class)
        .hasMessageContaining("all");
  }

  @Test
  void badFlagsAreUsageErrors() {
    StringWriter err = new StringWriter();
    int code =
        SoftmigCommand.commandLine(new PrintWriter(new StringWriter()), new PrintWriter(err))
            .execute("coordinator", "--sm-policy", "fair");
    assertThat(code).isEqualTo(2);
    assertThat(err.toString()).contains("fair");
  }

  @Test
  void aBogusUnmanagedPolicyIsRefusedNamingTheKeyAndValue() throws Exception {
    StringWriter err = new StringWriter();
    int code =
        SoftmigCommand.commandLine(new PrintWriter(new StringWriter()), new PrintWriter(err))
            .execute("coordinator", "--unmanaged-policy", "bogus");
    assertThat(code).isEqualTo(2);
    assertThat(err.toString()).contains("unmanaged-policy").contains("bogus");

    Path file = Files.writeString(dir.resolve("p.conf"), "softmig.unmanaged-policy = bogus\n");
    assertThatThrownBy(() -> parse("--config", file.toString()))
        .hasMessageContaining("softmig.unmanaged-policy")
        .hasMessageContaining("bogus");
  }

  @Test
  void unmanagedPolicyAndRequireGpusComeFromFileAndFlags() throws Exception {
    assertThat(parse().unmanagedPolicy()).isEqualTo(UnmanagedPolicy.REPORT);
    assertThat(parse().requireGpus()).isFalse();
    Path file =
        Files.writeString(
            dir.resolve("k.conf"),
            "softmig { unmanaged-policy = kill, require-gpus = true }\n");
    NodeSettings s = parse("--config", file.toString());
    assertThat(s.unmanagedPolicy()).isEqualTo(UnmanagedPolicy.KILL);
    assertThat(s.requireGpus()).isTrue();
    assertThat(parse("--config", file.toString(), "--unmanaged-policy", "REPORT").unmanagedPolicy())
        .isEqualTo(UnmanagedPolicy.REPORT);
    assertThat(parse("--require-gpus").requireGpus()).isTrue();
  }

  @Test
  void simulatedGpusAreRefusedWhenRealOnesAreRequired() {
    NodeSettings s = parse("--require-gpus", "--simulate", "48G");
    assertThatThrownBy(() -> CoordinatorCommand.inventory(s))
        .isInstanceOf(CliFailure.class)
        .hasMessageContaining("--simulate");
  }

  @Test
  void simulateGivesTheSimulatedGpus() {
    try (var inventory = CoordinatorCommand.inventory(parse("--simulate", "48G,24G"))) {
      assertThat(inventory.gpus()).hasSize(2);
      assertThat(inventory.gpus().get(0).simulated()).isTrue();
    }
  }

  @Test
  void statusWithoutACoordinatorSaysWhichSocketItTried() {
    StringWriter err = new StringWriter();
    int code =
        SoftmigCommand.commandLine(new PrintWriter(new StringWriter()), new PrintWriter(err))
            .execute("status", "--socket", dir.resolve("none.sock").toString());
    assertThat(code).isEqualTo(1);
    assertThat(err.toString()).contains("none.sock");
  }
}
