package org.softmig.coordinator.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Help, usage mistakes and exit codes: the same for every subcommand, one line per error. */
class CliUsageTest {

  @TempDir Path dir;

  record Result(int code, String out, String err) {}

  static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code =
        SoftmigCommand.commandLine(new PrintWriter(out), new PrintWriter(err)).execute(args);
    return new Result(code, out.toString(), err.toString());
  }

  @ParameterizedTest
  @ValueSource(strings = {"coordinator", "status", "place", "release", "report", "demo"})
  void everySubcommandHasHelp(String sub) {
    Result r = run(sub, "--help");
    assertThat(r.code()).isZero();
    assertThat(r.out()).startsWith("Usage: softmig " + sub);
    assertThat(r.err()).isEmpty();
    assertThat(run(sub, "-h").code()).isZero();
  }

  @Test
  void topLevelHelpAndVersion() {
    assertThat(run("--help").code()).isZero();
    Result v = run("status", "--version");
    assertThat(v.code()).isZero();
    assertThat(v.out()).contains("softmig");
  }

  private static void usageError(Result r, String... contains) {
    assertThat(r.code()).as("exit code of %s", r.err()).isEqualTo(2);
    assertThat(r.out()).isEmpty();
    assertThat(r.err().strip()).doesNotContain("\n").contains(contains);
  }

  @Test
  void usageMistakesAreOneLineAndExitTwo() {
    usageError(run("place", "--job", "1", "--mem", "1G", "--sm", "5", "--bogus"), "softmig place:", "--bogus", "softmig place --help");
    usageError(run("place", "--job", "1", "--sm", "25"), "--mem");
    usageError(run("report"), "JOBID");
    usageError(run("frobnicate"), "frobnicate");
    usageError(run("coordinator", "--sm-policy", "fair"), "fair");
    usageError(run("coordinator", "--simulate", "lots"), "--simulate", "lots");
    usageError(run("coordinator", "--lease-ms", "soon"), "soon");
  }

  @Test
  void sizesNeedAUnit() {
    usageError(
        run("place", "--job", "1", "--mem", "12", "--sm", "25"),
        "--mem",
        "'12' has no unit",
        "12G",
        "12B for bytes");
    usageError(run("place", "--job", "1", "--mem", "12 parsecs", "--sm", "25"), "--mem");
    usageError(run("place", "--job", "1", "--mem", "0G", "--sm", "25"), "--mem");
  }

  @Test
  void sharesArePercentages() {
    usageError(
        run("place", "--job", "1", "--mem", "12G", "--sm", "abc"),
        "--sm",
        "'abc' is not a percentage");
    usageError(run("place", "--job", "1", "--mem", "12G", "--sm", "0"), "--sm");
    usageError(run("place", "--job", "1", "--mem", "12G", "--sm", "101"), "--sm");
  }

  @Test
  void aRequestNobodyAnswersExitsOne() {
    String sock = dir.resolve("none.sock").toString();
    for (String[] args :
        new String[][] {
          {"status", "--socket", sock},
          {"place", "--job", "1", "--mem", "12G", "--sm", "25", "--socket", sock},
          {"place", "--job", "1", "--mem", "12B", "--sm", "25%", "--socket", sock},
          {"release", "--job", "1", "--socket", sock},
          {"report", "1", "--json", "--socket", sock}
        }) {
      Result r = run(args);
      assertThat(r.code()).as("%s", String.join(" ", args)).isEqualTo(1);
      assertThat(r.err().strip()).doesNotContain("\n").contains("none.sock");
    }
  }
}
