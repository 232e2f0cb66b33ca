package org.softmig.coordinator.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.ReportReply;
import org.softmig.proto.v1.StatusReply;

/** What another node or a job says reaches an admin's terminal only as plain text. */
class StatusPrinterTest {

  @Test
  void escapeSequencesAndBidiOverridesAreNotPrinted() {
    StatusReply reply =
        StatusReply.newBuilder()
            .addNodes(
                NodeStatus.newBuilder()
                    .setNode("n1\u001b]0;owned\u0007")
                    .setReachable(false)
                    .setHealth("down\r\nnode n9  fine")
                    .addGpus(
                        GpuStatus.newBuilder()
                            .setUuid("GPU-\u202eevil")
                            .setName("L40S\u009b31m")
                            .addJobs(JobStatus.newBuilder().setJobId("7\u0000").setUser("\u001b[2J"))))
            .build();

    String table = StatusPrinter.table(reply);

    assertThat(table).doesNotContain("\u001b", "\u0007", "\r", "\u202e", "\u009b", "\u0000");
    assertThat(table).startsWith("node n1?]0;owned?  UNREACHABLE (down??node n9  fine)\n");
    assertThat(table.lines()).noneMatch(l -> l.startsWith("node n9"));
  }

  @Test
  void aJobOverItsLimitIsMarkedInTheTableAndTheJson() throws Exception {
    StatusReply reply =
        StatusReply.newBuilder()
            .addNodes(
                NodeStatus.newBuilder()
                    .setNode("n1")
                    .setReachable(true)
                    .addGpus(
                        GpuStatus.newBuilder()
                            .setUuid("GPU-1")
                            .addJobs(
                                JobStatus.newBuilder()
                                    .setJobId("over")
                                    .setMemoryUsedBytes(2400L << 20)
                                    .setMemoryLimitBytes(1L << 30)
                                    .setMemoryOverLimit(true))
                            .addJobs(JobStatus.newBuilder().setJobId("fine"))))
            .build();

    String table = StatusPrinter.table(reply);
    JsonNode jobs =
        new ObjectMapper().readTree(StatusPrinter.json(reply)).at("/nodes/0/gpus/0/jobs");

    assertThat(table.lines().filter(l -> l.contains(" over ")).findFirst().orElseThrow())
        .contains("2.3 GiB!");
    assertThat(table).contains("over its memory limit");
    assertThat(jobs.get(0).path("memory_over_limit").asBoolean()).isTrue();
    assertThat(jobs.get(1).path("memory_over_limit").asBoolean()).isFalse();
  }

  @Test
  void longFieldsAreCut() {
    String shown = StatusPrinter.shown("x".repeat(10_000));

    assertThat(shown).hasSize(StatusPrinter.MAX_SHOWN + 3).endsWith("...");
    assertThat(StatusPrinter.shown("gpu-s01 ünïcode")).isEqualTo("gpu-s01 ünïcode");
  }

  @Test
  void aReplyWithOthersHiddenSaysSoInTheTableAndTheJson() {
    StatusReply reply =
        StatusReply.newBuilder()
            .setOthersHidden(true)
            .addNodes(
                NodeStatus.newBuilder()
                    .setNode("n1")
                    .setReachable(true)
                    .addGpus(GpuStatus.newBuilder().setUuid("GPU-a")))
            .build();

    assertThat(StatusPrinter.table(reply))
        .contains("(no jobs of yours)")
        .endsWith("(other users' jobs are not shown on this node)\n");
    assertThat(StatusPrinter.json(reply)).contains("\"others_hidden\" : true");
    assertThat(StatusPrinter.onlyUser(reply, "alice").getOthersHidden()).isTrue();
    assertThat(StatusPrinter.json(reply.toBuilder().setOthersHidden(false).build()))
        .doesNotContain("others_hidden");
  }

  private static final long GIB = 1L << 30;
  private static final long MIB = 1L << 20;

  @Test
  void summaryLineGivesTheAccountingFiguresInReadableUnits() {
    ReportReply reply =
        ReportReply.newBuilder()
            .addReports(
                JobReport.newBuilder()
                    .setJobId("123")
                    .setGpuUuid("GPU-51dc187a-af0f-2fa8-127c-46fedfac9019")
                    .setMemoryPeakBytes(10 * GIB + 205 * MIB)
                    .setMemoryLimitBytes(12 * GIB)
                    .setOomRefusals(3)
                    .setGpuTimeUs(125_000_000)
                    .setSmSharePercent(24.5)
                    .setSmLimitPercent(25))
            .build();

    assertThat(StatusPrinter.summaryLine(reply))
        .isEqualTo(
            "softmig: GPU-51dc187a memory peak 10.2 GiB of 12.0 GiB, 3 OOM refusals,"
                + " GPU time 2m05s, SM share 24.5 % of 25.0 %");
  }

  @Test
  void summaryLineNamesEachGpuAndJobsWithoutLimits() {
    ReportReply reply =
        ReportReply.newBuilder()
            .addReports(
                JobReport.newBuilder()
                    .setGpuUuid("GPU-aaaaaaaa-0000")
                    .setMemoryPeakBytes(512 * MIB)
                    .setOomRefusals(1)
                    .setGpuTimeUs(2_500_000)
                    .setSmSharePercent(80))
            .addReports(
                JobReport.newBuilder()
                    .setGpuUuid("GPU-bbbbbbbb-\u001b[2J")
                    .setMemoryPeakBytes(0)
                    .setMemoryLimitBytes(24 * GIB)
                    .setGpuTimeUs(3_725_000_000L)
                    .setSmSharePercent(50)
                    .setSmLimitPercent(50))
            .build();

    String line = StatusPrinter.summaryLine(reply);

    assertThat(line)
        .isEqualTo(
            "softmig: GPU-aaaaaaaa memory peak 512.0 MiB (no limit), 1 OOM refusal, GPU time 2.5 s,"
                + " SM share 80.0 %; GPU-bbbbbbbb memory peak 0 B of 24.0 GiB, 0 OOM refusals,"
                + " GPU time 1h02m05s, SM share 50.0 % of 50.0 %");
    assertThat(line).doesNotContain("\n", "\u001b");
  }
}
