package org.softmig.coordinator.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusReply;
import org.softmig.proto.v1.StatusRequest;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    mixinStandardHelpOptions = true,
    name = "status",
    description = "Show GPUs, jobs, memory and compute shares.")
public final class StatusCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--socket", description = "coordinator socket (default ${DEFAULT-VALUE})")
  Path socket = NodeSettings.DEFAULT_SOCKET;

  @Option(names = "--cluster", description = "every node of the cluster, not only this one")
  boolean cluster;

  @Option(names = "--json", description = "print JSON")
  boolean json;

  @CommandLine.ArgGroup(exclusive = true)
  Whose whose;

  /** Whose jobs to show; all by default, the caller's marked with '>'. */
  static final class Whose {
    @Option(names = "--mine", description = "only my jobs")
    boolean mine;

    @Option(names = "--user", paramLabel = "NAME", description = "only this user's jobs")
    String user;
  }

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
    String me = System.getProperty("user.name", "");
    StatusReply status = reply.getStatus();
    String only = whose == null ? null : whose.mine ? me : whose.user;
    if (only != null) {
      status = StatusPrinter.onlyUser(status, only);
    }
    spec.commandLine()
        .getOut()
        .print(json ? StatusPrinter.json(status) + "\n" : StatusPrinter.table(status, me, only));
    spec.commandLine().getOut().flush();
    return 0;
  }
}
