package org.softmig.coordinator.cli;

import com.typesafe.config.Config;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.softmig.coordinator.Coordinator;
import org.softmig.coordinator.config.ClusterOptions;
import org.softmig.coordinator.config.MpsSettings;
import org.softmig.coordinator.config.NodeConfig;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.nvml.GpuInventories;
import org.softmig.coordinator.nvml.GpuInventory;
import org.softmig.coordinator.nvml.SimulatedGpus;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    mixinStandardHelpOptions = true,
    name = "coordinator",
    description = "Run the node's coordinator service (flags beat the --config file).")
public final class CoordinatorCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--config", description = "node config file (HOCON, keys under softmig.)")
  Path config;

  @Option(names = "--socket", description = "Unix socket (default /run/softmig/softmig.sock)")
  Path socket;

  @Option(names = "--simulate", paramLabel = "SPEC", description = "simulated GPUs, e.g. 48G,48G")
  String simulate;

  @Option(names = "--node-name", description = "this node's name (default: the host name)")
  String nodeName;

  @Option(names = "--sm-policy", description = "cap or share (default cap)")
  String smPolicy;

  @Option(names = "--lease-ms", description = "lease length in ms (default 20)")
  Long leaseMs;

  @Option(names = "--config-dir", description = "admin job config files (default /var/run/softmig)")
  Path configDir;

  @Option(
      names = "--state-dir",
      description = "where placements are kept across restarts (default /var/lib/softmig)")
  Path stateDir;

  @Option(names = "--admin-group", description = "group allowed to place and release")
  String adminGroup;

  @Option(names = "--metrics-port", description = "Prometheus port; 0 = off")
  Integer metricsPort;

  @Option(
      names = "--cluster-port",
      description =
          "Akka cluster port, 0 = any free one; without it and without --seed the node stands"
              + " alone and binds no TCP port (with seeds the default is 25520)")
  Integer clusterPort;

  @Option(names = "--seed", paramLabel = "HOST:PORT", description = "cluster seed node")
  List<String> seeds;

  @Option(names = "--require-gpus", description = "refuse to start without real GPUs from NVML")
  Boolean requireGpus;

  @Option(
      names = "--unmanaged-policy",
      paramLabel = "report|kill",
      description =
          "processes on a sliced GPU without a session, or over their job's limit: report"
              + " (default) or kill")
  String unmanagedPolicy;

  @Option(
      names = "--mps",
      paramLabel = "GPU",
      description =
          "share this GPU (an index or a UUID) through NVIDIA MPS: the coordinator runs its MPS"
              + " control daemon; repeatable (the file's softmig.gpus.\"<GPU>\".sharing = mps)")
  List<String> mpsGpus;

  @Option(names = "--cluster-host",
      description = "address other nodes reach this one at (default: 127.0.0.1 without seeds,"
          + " else the node name)")
  String clusterHost;

  @Option(names = "--observer",
      description = "join the cluster without GPUs (a login or controller host)")
  boolean observer;

  @Option(names = "--proc-root", hidden = true, description = "where /proc is (tests)")
  Path procRoot;

  /**
   * Exit status when the cluster stopped the coordinator (it was downed or removed): not 0, so
   * that the service manager restarts it and it rejoins (EX_TEMPFAIL).
   */
  public static final int EXIT_STOPPED_BY_CLUSTER = 75;

  @Override
  public Integer call() throws Exception {
    NodeSettings settings = settings();
    ClusterOptions cluster = clusterOptions();
    try {
      cluster.toClusterSettings(settings); // a configured cluster without TLS stops here
    } catch (IllegalArgumentException e) {
      throw new CliFailure(e.getMessage());
    }
    GpuInventory inventory;
    try {
      inventory = cluster.observer() ? NO_GPUS : inventory(settings);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--simulate: " + e.getMessage());
    }
    try (Coordinator coordinator = Coordinator.start(settings, cluster, inventory)) {
      // SIGTERM (systemd stop): remove the socket and leave the cluster cleanly
      Runtime.getRuntime().addShutdownHook(new Thread(coordinator::close, "softmig-shutdown"));
      spec.commandLine()
          .getErr()
          .println("softmig coordinator listening on " + coordinator.socket());
      coordinator.awaitTermination();
      java.util.Optional<String> reason = coordinator.stoppedWithoutClose();
      if (reason.isPresent()) {
        spec.commandLine()
            .getErr()
            .println(
                "softmig coordinator stopped by the cluster ("
                    + reason.get()
                    + "); exiting with status "
                    + EXIT_STOPPED_BY_CLUSTER
                    + " so that the service manager restarts it");
        return EXIT_STOPPED_BY_CLUSTER;
      }
    }
    return 0;
  }

  /** The file's settings with the flags on top. */
  NodeSettings settings() {
    try {
      return NodeSettings.fromConfig(layered());
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  /** The file's cluster keys with the flags on top. */
  ClusterOptions clusterOptions() {
    try {
      return ClusterOptions.fromConfig(layered());
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  /** reference.conf, the --config file over it, the flags given over that. */
  private Config layered() {
    Map<String, Object> flags = new HashMap<>();
    flags.put("socket", socket);
    flags.put("simulate", simulate);
    flags.put("node-name", nodeName);
    flags.put("sm-policy", smPolicy);
    flags.put("lease", leaseMs);
    flags.put("config-dir", configDir);
    flags.put("state-dir", stateDir);
    flags.put("admin-group", adminGroup);
    flags.put("metrics-port", metricsPort);
    flags.put("cluster-port", clusterPort);
    flags.put("seeds", seeds);
    flags.put("proc-root", procRoot);
    flags.put("require-gpus", requireGpus);
    flags.put("unmanaged-policy", unmanagedPolicy);
    flags.put("cluster.host", clusterHost);
    flags.put("cluster.observer", observer ? Boolean.TRUE : null);
    if (mpsGpus != null) {
      for (String gpu : mpsGpus) {
        flags.put("gpus." + MpsSettings.checkGpu(gpu) + ".sharing", "mps");
      }
    }
    return NodeConfig.load(config, flags);
  }

  /** An observer's inventory: no GPUs, so no GPU actors; the socket still answers the CLI. */
  private static final GpuInventory NO_GPUS =
      new GpuInventory() {
        @Override
        public List<org.softmig.coordinator.nvml.GpuInfo> gpus() {
          return List.of();
        }

        @Override
        public List<org.softmig.coordinator.nvml.ProcessUsage> processes(String uuid) {
          return List.of();
        }

        @Override
        public int utilizationPercent(String uuid) {
          return -1;
        }

        @Override
        public void close() {}
      };

  /**
   * Simulated GPUs with --simulate, else NVML's; without NVML a node with no GPUs, unless real
   * GPUs are required.
   */
  static GpuInventory inventory(NodeSettings settings) {
    try {
      return GpuInventories.open(
          settings.simulate(), settings.requireGpus(), SimulatedGpus::fromSpec);
    } catch (IllegalStateException e) {
      throw new CliFailure(e.getMessage());
    }
  }
}
