package org.softmig.coordinator.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.softmig.coordinator.Coordinator;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.config.Sizes;
import org.softmig.coordinator.nvml.GpuInfo;
import org.softmig.coordinator.nvml.SimulatedGpus;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.Device;
import org.softmig.proto.v1.Hello;
import org.softmig.proto.v1.MemReply;
import org.softmig.proto.v1.MemReserve;
import org.softmig.proto.v1.ProtocolConstants;
import org.softmig.proto.v1.RequestedLimits;
import org.softmig.proto.v1.ServerFrame;
import org.softmig.proto.v1.StatusRequest;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The first-run experience: a coordinator on two simulated 48 GiB GPUs, a process of a job with a
 * 12 GiB limit that allocates until it is refused, the status table, then everything stops.
 */
@Command(name = "demo", description = "Run a coordinator on simulated GPUs and show what it does.")
public final class DemoCommand implements Callable<Integer> {

  static final String SPEC = "48G,48G";

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    quietLogs();
    Path dir = Files.createTempDirectory(Path.of("/tmp"), "softmig-demo-");
    Path socket = dir.resolve("softmig.sock");
    NodeSettings settings =
        NodeSettings.defaults()
            .withSocket(socket)
            .withSimulate(SPEC)
            .withNodeName("demo")
            .withClusterPort(0)
            .withConfigDir(dir.resolve("conf"));
    SimulatedGpus gpus = SimulatedGpus.fromSpec(SPEC);
    GpuInfo gpu = gpus.gpus().get(0);
    out.println("Starting a coordinator on simulated GPUs " + SPEC + " at " + socket);
    out.flush();
    try (Coordinator coordinator = Coordinator.start(settings, gpus);
        SocketClient process = SocketClient.connect(socket)) {
      long limit = Sizes.parse("12G");
      ServerFrame welcome =
          process.call(
              ClientFrame.newBuilder()
                  .setHello(
                      Hello.newBuilder()
                          .setProtocolVersion(ProtocolConstants.CURRENT_PROTOCOL_VERSION_VALUE)
                          .setPid((int) ProcessHandle.current().pid())
                          .addDevices(
                              Device.newBuilder()
                                  .setUuid(gpu.uuid())
                                  .setTotalMemoryBytes(gpu.memoryTotalBytes()))
                          .setRequested(
                              RequestedLimits.newBuilder()
                                  .setJobId("demo-1")
                                  .setMemoryLimitBytes(limit)
                                  .setSmLimitPercent(25)))
                  .build());
      out.printf(
          "A process of job %s connected: memory limit %s on %s%n",
          welcome.getWelcome().getJobId(), Sizes.format(limit), gpu.uuid());
      // A lone process of a job gets a credit for its whole limit; ask in exact steps anyway.
      for (int i = 1; i <= 4; i++) {
        ServerFrame reply = reserve(process, i, Sizes.parse("4G"));
        MemReply m = reply.getMemReply();
        out.printf(
            "  reserve 4 GiB -> %s (job uses %s of %s)%s%n",
            m.getGranted() ? "granted" : "refused",
            Sizes.format(m.getJobUsedBytes()),
            Sizes.format(m.getJobLimitBytes()),
            m.getGranted() ? "" : ": " + m.getReason());
      }
      out.println();
      out.println("$ softmig status");
      ServerFrame status =
          SocketClient.request(
              socket,
              ClientFrame.newBuilder()
                  .setRequestId(1)
                  .setStatus(StatusRequest.getDefaultInstance())
                  .build());
      out.print(StatusPrinter.table(status.getStatus()));
      out.println();
      out.println("Stopping the demo coordinator.");
      out.flush();
    } finally {
      Files.deleteIfExists(socket);
      Files.deleteIfExists(dir);
    }
    return 0;
  }

  /** The demo prints what matters itself; the service's INFO lines would bury it. */
  private static void quietLogs() {
    org.slf4j.Logger root = LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    if (root instanceof ch.qos.logback.classic.Logger logback) {
      logback.setLevel(ch.qos.logback.classic.Level.WARN);
    }
  }

  private static ServerFrame reserve(SocketClient process, long requestId, long bytes)
      throws java.io.IOException {
    process.send(
        ClientFrame.newBuilder()
            .setRequestId(requestId)
            .setMemReserve(MemReserve.newBuilder().setDeviceIndex(0).setBytes(bytes))
            .build());
    while (true) {
      ServerFrame frame = process.receive();
      if (frame.getRequestId() == requestId && frame.hasMemReply()) {
        return frame;
      }
    }
  }
}
