package org.softmig.coordinator.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.config.Sizes;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.PlaceRequest;
import org.softmig.proto.v1.ServerFrame;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "place",
    description = "Reserve a slice for a job on the GPU that fits it best; prints the GPU UUID.")
public final class PlaceCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--job", required = true, description = "job id")
  String job;

  @Option(names = "--mem", required = true, description = "memory, e.g. 12G")
  String mem;

  @Option(names = "--sm", required = true, description = "compute share in percent")
  double sm;

  @Option(names = "--user", description = "the job's user, for status")
  String user = "";

  @Option(names = "--socket", description = "coordinator socket (default ${DEFAULT-VALUE})")
  Path socket = NodeSettings.DEFAULT_SOCKET;

  @Override
  public Integer call() throws Exception {
    long bytes;
    try {
      bytes = Sizes.parse(mem);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--mem: " + e.getMessage());
    }
    if (!(sm > 0 && sm <= 100)) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--sm: " + sm + " is not a percentage in (0, 100]");
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
                        .setSmPercent(sm)
                        .setUser(user))
                .build());
    spec.commandLine().getOut().println(reply.getPlace().getGpuUuid());
    return 0;
  }
}
