package org.softmig.coordinator.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.ReleaseRequest;
import org.softmig.proto.v1.ServerFrame;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    mixinStandardHelpOptions = true,
    name = "release",
    description = "End a job's placement.")
public final class ReleaseCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--job", required = true, description = "job id")
  String job;

  @Option(names = "--socket", description = "coordinator socket (default ${DEFAULT-VALUE})")
  Path socket = NodeSettings.DEFAULT_SOCKET;

  @Override
  public Integer call() throws Exception {
    ServerFrame reply =
        Requests.call(
            socket,
            ClientFrame.newBuilder()
                .setRequestId(1)
                .setRelease(ReleaseRequest.newBuilder().setJobId(job))
                .build());
    spec.commandLine()
        .getOut()
        .println(reply.getRelease().getReleased() ? "released " + job : "nothing placed for " + job);
    return 0;
  }
}
