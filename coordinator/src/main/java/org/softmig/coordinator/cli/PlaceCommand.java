package org.softmig.coordinator.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.config.Percentages;
import org.softmig.coordinator.config.Sizes;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.PlaceRequest;
import org.softmig.proto.v1.ServerFrame;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    mixinStandardHelpOptions = true,
    name = "place",
    description = "Reserve a slice for a job on the GPU that fits it best; prints the GPU UUID.")
public final class PlaceCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--job", required = true, description = "job id")
  String job;

  @Option(
      names = "--mem",
      required = true,
      paramLabel = "SIZE",
      description = "GPU memory with a unit: 12G, 1.5GiB, 512M (12B: bytes)")
  String mem;

  @Option(
      names = "--sm",
      required = true,
      paramLabel = "PCT",
      description = "compute share in percent, e.g. 25")
  String sm;

  @Option(
      names = "--mps",
      description = "an MPS slice: only on a GPU shared through MPS (others never go there)")
  boolean mps;

  @Option(
      names = "--user",
      description = "the job's user, shown by status (a re-place without it keeps the user)")
  String user = "";

  @Option(names = "--socket", description = "coordinator socket (default ${DEFAULT-VALUE})")
  Path socket = NodeSettings.DEFAULT_SOCKET;

  @Override
  public Integer call() throws Exception {
    long bytes;
    try {
      bytes = Sizes.parseWithUnit(mem);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--mem: " + e.getMessage());
    }
    if (bytes == 0) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--mem: a slice needs memory");
    }
    double percent;
    try {
      percent = Percentages.parse(sm);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--sm: '" + sm + "' is not a percentage in (0, 100], e.g. 25");
    }
    if (percent == 0) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--sm: '" + sm + "' is not a percentage in (0, 100], e.g. 25");
    }
    ServerFrame reply =
        Requests.call(
            socket,
            ClientFrame.newBuilder()
                .setRequestId(1)
                .setPlace(
                    PlaceRequest.newBuilder()
                        .setJobId(job)
                        .setMemoryBytes(bytes)
                        .setSmPercent(percent)
                        .setUser(user)
                        .setMps(mps))
                .build());
    spec.commandLine().getOut().println(reply.getPlace().getGpuUuid());
    return 0;
  }
}
