package org.softmig.coordinator.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusRequest;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "status", description = "Show GPUs, jobs, memory and compute shares.")
public final class StatusCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--socket", description = "coordinator socket (default ${DEFAULT-VALUE})")
  Path socket = NodeSettings.DEFAULT_SOCKET;

  @Option(names = "--cluster", description = "every node of the cluster, not only this one")
  boolean cluster;

  @Option(names = "--json", description = "print JSON")
  boolean json;

  @Override
  public Integer call() throws Exception {
    ServerFrame reply =
        Requests.call(
            socket,
            ClientFrame.newBuilder()
                .setRequestId(1)
                .setStatus(StatusRequest.newBuilder().setCluster(cluster))
                .build());
    if (!reply.hasStatus()) {
      throw new CliFailure("unexpected reply: " + reply.getBodyCase());
    }
    spec.commandLine()
        .getOut()
        .print(json ? StatusPrinter.json(reply.getStatus()) + "\n" : StatusPrinter.table(reply.getStatus()));
    spec.commandLine().getOut().flush();
    return 0;
  }
}
