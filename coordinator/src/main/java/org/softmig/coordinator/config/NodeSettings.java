package org.softmig.coordinator.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValue;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.softmig.gpu.domain.UnmanagedPolicy;

/**
 * The settings of one node's coordinator: from the node config file (HOCON, keys under {@code
 * softmig.}), then command-line flags on top.
 *
 * @param socket the Unix socket for shims and the CLI
 * @param simulate a simulated-GPU SPEC, or null to use NVML
 * @param smPolicy {@code cap} or {@code share}
 * @param leaseMillis the default lease length
 * @param configDir where admin job config files live
 * @param adminGroup the group (besides root) that may place and release; empty = root only
 * @param metricsPort the Prometheus port; 0 = off
 * @param clusterPort the Akka cluster port; 0 = any free port
 * @param seeds cluster seed nodes as HOST:PORT; empty = this node alone
 * @param procRoot usually {@code /proc}
 * @param requireGpus refuse to start unless NVML provides real GPUs
 * @param unmanagedPolicy what to do with processes on a sliced GPU without a session, or over
 *     their job's limit in NVML's eyes: report them, or kill them too
 */
public record NodeSettings(
    Path socket,
    String simulate,
    String nodeName,
    String smPolicy,
    long leaseMillis,
    Path configDir,
    String adminGroup,
    int metricsPort,
    int clusterPort,
    List<String> seeds,
    Path procRoot,
    boolean requireGpus,
    UnmanagedPolicy unmanagedPolicy) {

  public static final Path DEFAULT_SOCKET = Path.of("/run/softmig/softmig.sock");

  public NodeSettings {
    seeds = List.copyOf(seeds);
  }

  public static NodeSettings defaults() {
    return new NodeSettings(
        DEFAULT_SOCKET,
        null,
        hostName(),
        "cap",
        20,
        Path.of("/var/run/softmig"),
        "",
        0,
        25520,
        List.of(),
        Path.of("/proc"),
        false,
        UnmanagedPolicy.REPORT);
  }

  /**
   * Reads a node config file over the defaults.
   *
   * @throws IllegalArgumentException naming the file, key and value that are wrong
   */
  public static NodeSettings load(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("config file " + file + " does not exist");
    }
    Config config;
    try {
      config = ConfigFactory.parseFile(new File(file.toString())).resolve();
    } catch (ConfigException e) {
      throw new IllegalArgumentException("config file " + file + ": " + e.getMessage(), e);
    }
    return fromConfig(config, file.toString(), defaults());
  }

  static NodeSettings fromConfig(Config config, String name, NodeSettings base) {
    Reader r = new Reader(config, name);
    NodeSettings s = base;
    s = s.withSocket(r.path("softmig.socket", s.socket));
    s = s.withSimulate(r.string("softmig.simulate", s.simulate));
    s = s.withNodeName(r.string("softmig.node-name", s.nodeName));
    s = s.withSmPolicy(r.policy("softmig.sm-policy", s.smPolicy));
    s = s.withLeaseMillis(r.millis("softmig.lease", s.leaseMillis));
    s = s.withConfigDir(r.path("softmig.config-dir", s.configDir));
    s = s.withAdminGroup(r.string("softmig.admin-group", s.adminGroup));
    s = s.withMetricsPort(r.port("softmig.metrics-port", s.metricsPort));
    s = s.withClusterPort(r.port("softmig.cluster-port", s.clusterPort));
    s = s.withSeeds(r.strings("softmig.seeds", s.seeds));
    s = s.withProcRoot(r.path("softmig.proc-root", s.procRoot));
    s = s.withRequireGpus(r.bool("softmig.require-gpus", s.requireGpus));
    s = s.withUnmanagedPolicy(r.unmanagedPolicy("softmig.unmanaged-policy", s.unmanagedPolicy));
    return s;
  }

  /** Checks a policy name; returns it in lower case. */
  public static String checkPolicy(String policy) {
    String p = policy.toLowerCase(Locale.ROOT);
    if (!p.equals("cap") && !p.equals("share")) {
      throw new IllegalArgumentException("sm policy '" + policy + "' is not cap or share");
    }
    return p;
  }

  public NodeSettings withSocket(Path v) {
    return new NodeSettings(v, simulate, nodeName, smPolicy, leaseMillis, configDir, adminGroup, metricsPort, clusterPort, seeds, procRoot, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withSimulate(String v) {
    return new NodeSettings(socket, v, nodeName, smPolicy, leaseMillis, configDir, adminGroup, metricsPort, clusterPort, seeds, procRoot, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withNodeName(String v) {
    return new NodeSettings(socket, simulate, v, smPolicy, leaseMillis, configDir, adminGroup, metricsPort, clusterPort, seeds, procRoot, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withSmPolicy(String v) {
    return new NodeSettings(socket, simulate, nodeName, checkPolicy(v), leaseMillis, configDir, adminGroup, metricsPort, clusterPort, seeds, procRoot, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withLeaseMillis(long v) {
    if (v < 1 || v > 10_000) {
      throw new IllegalArgumentException("lease of " + v + " ms is not between 1 and 10000 ms");
    }
    return new NodeSettings(socket, simulate, nodeName, smPolicy, v, configDir, adminGroup, metricsPort, clusterPort, seeds, procRoot, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withConfigDir(Path v) {
    return new NodeSettings(socket, simulate, nodeName, smPolicy, leaseMillis, v, adminGroup, metricsPort, clusterPort, seeds, procRoot, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withAdminGroup(String v) {
    return new NodeSettings(socket, simulate, nodeName, smPolicy, leaseMillis, configDir, v, metricsPort, clusterPort, seeds, procRoot, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withMetricsPort(int v) {
    return new NodeSettings(socket, simulate, nodeName, smPolicy, leaseMillis, configDir, adminGroup, checkPort(v), clusterPort, seeds, procRoot, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withClusterPort(int v) {
    return new NodeSettings(socket, simulate, nodeName, smPolicy, leaseMillis, configDir, adminGroup, metricsPort, checkPort(v), seeds, procRoot, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withSeeds(List<String> v) {
    return new NodeSettings(socket, simulate, nodeName, smPolicy, leaseMillis, configDir, adminGroup, metricsPort, clusterPort, v, procRoot, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withProcRoot(Path v) {
    return new NodeSettings(socket, simulate, nodeName, smPolicy, leaseMillis, configDir, adminGroup, metricsPort, clusterPort, seeds, v, requireGpus, unmanagedPolicy);
  }

  public NodeSettings withRequireGpus(boolean v) {
    return new NodeSettings(socket, simulate, nodeName, smPolicy, leaseMillis, configDir, adminGroup, metricsPort, clusterPort, seeds, procRoot, v, unmanagedPolicy);
  }

  public NodeSettings withUnmanagedPolicy(UnmanagedPolicy v) {
    return new NodeSettings(socket, simulate, nodeName, smPolicy, leaseMillis, configDir, adminGroup, metricsPort, clusterPort, seeds, procRoot, requireGpus, Objects.requireNonNull(v, "unmanagedPolicy"));
  }

  /** Parses {@code report} or {@code kill}; the error names the key and the value. */
  public static UnmanagedPolicy parseUnmanagedPolicy(String value) {
    try {
      return UnmanagedPolicy.parse(value);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "unmanaged-policy '" + value + "' is not report or kill");
    }
  }

  private static int checkPort(int port) {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port " + port + " is not between 0 and 65535");
    }
    return port;
  }

  private static String hostName() {
    String env = System.getenv("HOSTNAME");
    if (env != null && !env.isBlank()) {
      return env;
    }
    try {
      return Files.readString(Path.of("/etc/hostname")).strip();
    } catch (Exception e) {
      return "localhost";
    }
  }

  /** Reads keys, turning every problem into a message naming file, key and value. */
  private record Reader(Config config, String name) {

    private IllegalArgumentException bad(String key, String why) {
      ConfigValue value = config.getValue(key);
      return new IllegalArgumentException(
          "config file " + name + ": " + key + " = " + value.render() + ": " + why);
    }

    String string(String key, String fallback) {
      if (!config.hasPath(key)) {
        return fallback;
      }
      try {
        return config.getString(key);
      } catch (ConfigException e) {
        throw bad(key, "expected a string");
      }
    }

    Path path(String key, Path fallback) {
      String s = string(key, null);
      if (s == null) {
        return fallback;
      }
      if (s.isBlank()) {
        throw bad(key, "expected a path");
      }
      return Path.of(s);
    }

    String policy(String key, String fallback) {
      String s = string(key, fallback);
      try {
        return checkPolicy(s);
      } catch (IllegalArgumentException e) {
        throw bad(key, "expected cap or share");
      }
    }

    long millis(String key, long fallback) {
      if (!config.hasPath(key)) {
        return fallback;
      }
      long ms;
      try {
        ms = config.getDuration(key).toMillis();
      } catch (ConfigException e) {
        try {
          ms = config.getLong(key);
        } catch (ConfigException e2) {
          throw bad(key, "expected a duration such as 20ms");
        }
      }
      if (ms < 1 || ms > Duration.ofSeconds(10).toMillis()) {
        throw bad(key, "expected between 1 ms and 10 s");
      }
      return ms;
    }

    int port(String key, int fallback) {
      if (!config.hasPath(key)) {
        return fallback;
      }
      try {
        int port = config.getInt(key);
        return checkPort(port);
      } catch (ConfigException | IllegalArgumentException e) {
        throw bad(key, "expected a port between 0 and 65535");
      }
    }

    boolean bool(String key, boolean fallback) {
      if (!config.hasPath(key)) {
        return fallback;
      }
      try {
        return config.getBoolean(key);
      } catch (ConfigException e) {
        throw bad(key, "expected true or false");
      }
    }

    UnmanagedPolicy unmanagedPolicy(String key, UnmanagedPolicy fallback) {
      String s = string(key, null);
      if (s == null) {
        return fallback;
      }
      try {
        return UnmanagedPolicy.parse(s);
      } catch (IllegalArgumentException e) {
        throw bad(key, "expected report or kill");
      }
    }

    List<String> strings(String key, List<String> fallback) {
      if (!config.hasPath(key)) {
        return fallback;
      }
      try {
        return new ArrayList<>(config.getStringList(key));
      } catch (ConfigException e) {
        throw bad(key, "expected a list of HOST:PORT strings");
      }
    }
  }
}
