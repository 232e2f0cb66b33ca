package org.softmig.coordinator.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
 * 12 GiB limit that allocates until it is refused, then two jobs capped at 50 % and 20 % running
 * kernels under the shim on the same GPU with their shares shown live, then everything stops.
 */
@Command(
    mixinStandardHelpOptions = true,
    name = "demo",
    description = "Run a coordinator on simulated GPUs and show what it does.")
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
        NodeSettings.of(
            Map.of(
                "socket", socket,
                "simulate", SPEC,
                "node-name", "demo",
                "config-dir", dir.resolve("conf"),
                "state-dir", dir.resolve("state")));
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
      twoJobs(out, socket, gpus.gpus().get(1));
      out.println("Stopping the demo coordinator.");
      out.flush();
    } finally {
      Files.deleteIfExists(socket);
      Files.deleteIfExists(dir);
    }
    return 0;
  }

  /**
   * Two jobs with different slices run a kernel loop under libsoftmig.so on the fake CUDA driver,
   * on the same GPU, while the status table shows their limits and the shares they achieve. Needs
   * the built shim and its sample program ({@code SOFTMIG_HOME}, set by bin/softmig).
   */
  private static void twoJobs(PrintWriter out, Path socket, GpuInfo gpu) throws Exception {
    Path home = Path.of(System.getenv().getOrDefault("SOFTMIG_HOME", "."));
    Path shim = home.resolve("native-shim/build/libsoftmig.so");
    Path fakeCuda = home.resolve("native-shim/build/fake-cuda");
    Path probe = home.resolve("native-shim/build/test/launch_probe");
    if (!Files.isRegularFile(shim) || !Files.isExecutable(probe)) {
      out.println("(the two-job part needs " + shim + " and " + probe + "; build with mvn package)");
      return;
    }
    out.println(
        "Two jobs on " + gpu.uuid() + " run kernels under libsoftmig.so (fake CUDA driver, 1 ms"
            + " kernels), capped at 50 % and 20 % of the GPU:");
    out.flush();
    List<Process> jobs = new ArrayList<>();
    try {
      jobs.add(startJob("demo-2", "24G", 50, shim, fakeCuda, probe, socket, gpu));
      jobs.add(startJob("demo-3", "12G", 20, shim, fakeCuda, probe, socket, gpu));
      for (int second = 1; second <= 5; second++) {
        Thread.sleep(1000);
        ServerFrame status =
            SocketClient.request(
                socket,
                ClientFrame.newBuilder()
                    .setRequestId(1)
                    .setStatus(StatusRequest.getDefaultInstance())
                    .build());
        out.printf("%n$ softmig status   (after %d s)%n", second);
        out.print(StatusPrinter.table(status.getStatus()));
        out.flush();
      }
    } finally {
      for (Process p : jobs) {
        p.destroyForcibly().waitFor();
      }
    }
    out.println();
  }

  private static Process startJob(
      String job,
      String memory,
      int smPercent,
      Path shim,
      Path fakeCuda,
      Path probe,
      Path socket,
      GpuInfo gpu)
      throws java.io.IOException {
    ProcessBuilder pb = new ProcessBuilder(probe.toString(), "kernel", "30", "--sync-every", "8");
    pb.environment().put("LD_PRELOAD", shim.toString());
    pb.environment().put("LD_LIBRARY_PATH", fakeCuda.toString());
    pb.environment().put("SOFTMIG_FAKE_GPUS", SPEC);
    pb.environment().put("SOFTMIG_FAKE_KERNEL_US", "1000");
    pb.environment().put("CUDA_VISIBLE_DEVICES", gpu.uuid());
    pb.environment().put("SOFTMIG_SOCKET", socket.toString());
    pb.environment().put("SOFTMIG_JOB_ID", job);
    pb.environment().put("SOFTMIG_LOG_FILE", "/dev/null");
    pb.environment().put("CUDA_DEVICE_MEMORY_LIMIT", memory);
    pb.environment().put("CUDA_DEVICE_SM_LIMIT", Integer.toString(smPercent));
    pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.redirectError(ProcessBuilder.Redirect.DISCARD);
    return pb.start();
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
