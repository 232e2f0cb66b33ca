package org.softmig.coordinator.config;

import com.typesafe.config.Config;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import org.softmig.gpu.domain.UnmanagedPolicy;

/**
 * The settings of one node's coordinator, read from its layered configuration ({@link
 * NodeConfig}: {@code reference.conf}, the node file, the flags). Every key lives under {@code
 * softmig.}; {@code reference.conf} documents each and holds its default.
 *
 * @param socket the Unix socket for shims and the CLI
 * @param simulate a simulated-GPU SPEC, or null to use NVML
 * @param smPolicy {@code cap} or {@code share}
 * @param leaseMillis the default lease length
 * @param configDir where admin job config files live
 * @param adminGroup the group (besides root) that may place and release; empty = root only
 * @param hideOtherUsers status and reports show callers who are not administrators only their own
 *     jobs
 * @param metricsPort the Prometheus port; 0 = off
 * @param clusterPort the Akka cluster port; 0 = any free port; null = none given
 * @param seeds cluster seed nodes as HOST:PORT; empty = this node alone
 * @param procRoot usually {@code /proc}
 * @param requireGpus refuse to start unless NVML provides real GPUs
 * @param unmanagedPolicy what to do with processes on a sliced GPU without a session, or over
 *     their job's limit in NVML's eyes: report them, or kill them too
 * @param unmanagedExemptUsers users whose processes are reported but never killed
 * @param mps the GPUs shared through MPS and how MPS runs on them
 * @param stateDir where the coordinator keeps what must survive a restart (its placements)
 */
public record NodeSettings(
    Path socket,
    String simulate,
    String nodeName,
    String smPolicy,
    long leaseMillis,
    Path configDir,
    String adminGroup,
    boolean hideOtherUsers,
    int metricsPort,
    Integer clusterPort,
    List<String> seeds,
    Path procRoot,
    boolean requireGpus,
    UnmanagedPolicy unmanagedPolicy,
    List<String> unmanagedExemptUsers,
    MpsSettings mps,
    Path stateDir) {

  public static final Path DEFAULT_SOCKET = Path.of("/run/softmig/softmig.sock");

  /** A user name as useradd and NSS accept it. */
  private static final Pattern USER_NAME =
      Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\\$?");

  public NodeSettings {
    seeds = List.copyOf(seeds);
    unmanagedExemptUsers = List.copyOf(unmanagedExemptUsers);
    Objects.requireNonNull(unmanagedPolicy, "unmanagedPolicy");
    Objects.requireNonNull(mps, "mps");
    Objects.requireNonNull(stateDir, "stateDir");
  }

  /** {@code reference.conf}'s settings. */
  public static NodeSettings defaults() {
    return of(Map.of());
  }

  /**
   * {@code reference.conf} with {@code overrides} over it (keys relative to {@code softmig.}, e.g.
   * {@code socket}), checked as the command line's flags are.
   */
  public static NodeSettings of(Map<String, ?> overrides) {
    return fromConfig(NodeConfig.load(null, overrides));
  }

  /**
   * Reads a node config file over {@code reference.conf}.
   *
   * @throws IllegalArgumentException naming the file, key and value that are wrong
   */
  public static NodeSettings load(Path file) {
    return fromConfig(NodeConfig.load(file, Map.of()));
  }

  /**
   * The settings of a layered configuration ({@link NodeConfig#load}).
   *
   * @throws IllegalArgumentException naming where the wrong value came from, its key and value
   */
  public static NodeSettings fromConfig(Config config) {
    NodeConfig.Reader r = new NodeConfig.Reader(config);
    String nodeName = r.string("softmig.node-name");
    if (nodeName != null && nodeName.isBlank()) {
      throw r.bad("softmig.node-name", "expected a name");
    }
    String policy = r.string("softmig.sm-policy");
    try {
      policy = checkPolicy(policy);
    } catch (IllegalArgumentException e) {
      throw r.bad("softmig.sm-policy", "expected cap or share");
    }
    UnmanagedPolicy unmanaged;
    try {
      unmanaged = UnmanagedPolicy.parse(r.string("softmig.unmanaged-policy"));
    } catch (IllegalArgumentException e) {
      throw r.bad("softmig.unmanaged-policy", "expected report or kill");
    }
    List<String> exempt = r.strings("softmig.unmanaged-exempt-users");
    for (String user : exempt) {
      if (!USER_NAME.matcher(user).matches()) {
        throw r.bad("softmig.unmanaged-exempt-users", "'" + user + "' is not a user name");
      }
    }
    List<String> seeds = r.strings("softmig.seeds");
    for (String seed : seeds) {
      if (seed.isBlank() || seed.lastIndexOf(':') <= 0) {
        throw r.bad("softmig.seeds", "expected HOST:PORT strings");
      }
    }
    return new NodeSettings(
        r.path("softmig.socket"),
        r.string("softmig.simulate"),
        nodeName != null ? nodeName : hostName(),
        policy,
        r.millis("softmig.lease", 1, 10_000),
        r.path("softmig.config-dir"),
        Objects.requireNonNullElse(r.string("softmig.admin-group"), ""),
        r.bool("softmig.status.hide-other-users"),
        Objects.requireNonNullElse(r.port("softmig.metrics-port"), 0),
        r.port("softmig.cluster-port"),
        seeds,
        r.path("softmig.proc-root"),
        r.bool("softmig.require-gpus"),
        unmanaged,
        exempt,
        MpsSettings.fromConfig(r),
        stateDir(r));
  }

  private static Path stateDir(NodeConfig.Reader r) {
    Path dir = r.path("softmig.state-dir");
    if (dir == null || !dir.isAbsolute()) {
      throw r.bad("softmig.state-dir", "expected an absolute path");
    }
    return dir;
  }

  /** Checks a policy name; returns it in lower case. */
  public static String checkPolicy(String policy) {
    String p = policy == null ? "" : policy.toLowerCase(Locale.ROOT);
    if (!p.equals("cap") && !p.equals("share")) {
      throw new IllegalArgumentException("sm policy '" + policy + "' is not cap or share");
    }
    return p;
  }

  /** Whether a cluster is configured: seeds or an explicit cluster port. */
  public boolean clustered() {
    return clusterPort != null || !seeds.isEmpty();
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
}
