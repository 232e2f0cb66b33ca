package org.softmig.coordinator.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.config.Sizes;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.ReportRequest;
import org.softmig.proto.v1.ServerFrame;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(
    mixinStandardHelpOptions = true,
    name = "report",
    description = "A job's usage: memory peak, compute share, refusals.")
public final class ReportCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Parameters(index = "0", paramLabel = "JOBID", description = "job id")
  String job;

  @Option(names = "--json", description = "print JSON")
  boolean json;

  @Option(
      names = "--summary",
      description =
          "print one line for accounting: memory peak and limit, OOM refusals, GPU time, SM"
              + " share (what the Epilog writes to the job's AdminComment)")
  boolean summary;

  @Option(names = "--socket", description = "coordinator socket (default ${DEFAULT-VALUE})")
  Path socket = NodeSettings.DEFAULT_SOCKET;

  @Override
  public Integer call() throws Exception {
    if (json && summary) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--json and --summary cannot be used together");
    }
    ServerFrame reply =
        Requests.call(
            socket,
            ClientFrame.newBuilder()
                .setRequestId(1)
                .setReport(ReportRequest.newBuilder().setJobId(job))
                .build());
    var out = spec.commandLine().getOut();
    if (reply.getReport().getReportsCount() == 0) {
      throw new CliFailure(
          "no report for job "
              + job
              + (reply.getReport().getOthersHidden()
                  ? " among your jobs (other users' jobs are not shown on this node)"
                  : ""));
    }
    if (json) {
      out.println(StatusPrinter.reportJson(reply.getReport()));
      return 0;
    }
    if (summary) {
      out.println(StatusPrinter.summaryLine(reply.getReport()));
      return 0;
    }
    for (JobReport r : reply.getReport().getReportsList()) {
      out.printf(
          Locale.ROOT,
          "job %s (%s) on %s %s: memory peak %s of %s, SM %.1f%% of %.1f%%, GPU time %.3f s,"
              + " waited %.3f s, %d refusals, pids %s%n",
          StatusPrinter.shown(r.getJobId()),
          StatusPrinter.shown(r.getUser()),
          StatusPrinter.shown(r.getNode()),
          StatusPrinter.shown(r.getGpuUuid()),
          Sizes.format(r.getMemoryPeakBytes()),
          r.getMemoryLimitBytes() == 0 ? "no limit" : Sizes.format(r.getMemoryLimitBytes()),
          r.getSmSharePercent(),
          r.getSmLimitPercent(),
          r.getGpuTimeUs() / 1e6,
          r.getThrottledUs() / 1e6,
          r.getOomRefusals(),
          r.getProcessesList());
      for (String incident : r.getIncidentsList()) {
        out.printf(Locale.ROOT, "  incident: %s%n", StatusPrinter.shown(incident));
      }
    }
    return 0;
  }
}
