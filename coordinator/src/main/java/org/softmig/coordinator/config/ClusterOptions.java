package org.softmig.coordinator.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.softmig.coordinator.cluster.ClusterSettings;
import org.softmig.coordinator.cluster.TlsSettings;

/**
 * How a coordinator joins the cluster, beyond the port and seeds of {@link NodeSettings}: the
 * address other nodes reach it at, whether it is an observer (no GPUs), and mutual TLS.
 *
 * <p>Config file keys: {@code softmig.cluster.host}, {@code softmig.cluster.observer}, {@code
 * softmig.cluster.tls.key-store}, {@code key-store-password}, {@code trust-store}, {@code
 * trust-store-password} (all four or none), {@code softmig.cluster.insecure}, and the bounds
 * {@code softmig.cluster.max-connections}, {@code silent-timeout}, {@code idle-timeout}, {@code
 * forget-after}, {@code max-remembered-nodes}.
 *
 * <p>A configured cluster runs mutual TLS or does not start: {@link #toClusterSettings} refuses
 * a node with seeds or a cluster port and no TLS keys, naming the missing keys.
 * {@code insecure = true} lifts that for a demo on one host only: every address must be loopback.
 *
 * @param host the cluster host; null: 127.0.0.1 without seeds, else the node name
 * @param observer a node without GPUs (login or controller host)
 * @param tls mutual TLS between coordinators, or empty for plain TCP
 * @param insecure plain TCP between coordinators on one host, said in so many words
 * @param limits bounds on cluster connections and remembered nodes
 */
public record ClusterOptions(
    String host,
    boolean observer,
    Optional<TlsSettings> tls,
    boolean insecure,
    ClusterSettings.Limits limits) {

  private static final String TLS = "softmig.cluster.tls.";
  private static final String[] TLS_KEYS = {
    "key-store", "key-store-password", "trust-store", "trust-store-password"
  };

  public ClusterOptions {
    if (host != null && host.isBlank()) {
      throw new IllegalArgumentException("cluster host is empty");
    }
    tls = tls == null ? Optional.empty() : tls;
    limits = limits == null ? ClusterSettings.Limits.DEFAULTS : limits;
  }

  public static ClusterOptions defaults() {
    return new ClusterOptions(null, false, Optional.empty(), false, ClusterSettings.Limits.DEFAULTS);
  }

  /**
   * Reads the cluster keys of a node config file over {@code reference.conf}.
   *
   * @throws IllegalArgumentException naming the file, key and value that are wrong
   */
  public static ClusterOptions load(Path file) {
    return fromConfig(NodeConfig.load(file, Map.of()));
  }

  /**
   * The cluster options of a layered configuration ({@link NodeConfig#load}).
   *
   * @throws IllegalArgumentException naming where the wrong value came from, its key and value
   */
  public static ClusterOptions fromConfig(Config config) {
    NodeConfig.Reader r = new NodeConfig.Reader(config);
    String host = r.string("softmig.cluster.host");
    if (host != null && host.isBlank()) {
      throw r.bad("softmig.cluster.host", "expected a host name or address");
    }
    boolean observer = r.bool("softmig.cluster.observer");
    boolean insecure = r.bool("softmig.cluster.insecure");
    ClusterSettings.Limits limits;
    try {
      limits =
          new ClusterSettings.Limits(
              integer(r, "softmig.cluster.max-connections"),
              duration(r, "softmig.cluster.silent-timeout"),
              duration(r, "softmig.cluster.idle-timeout"),
              duration(r, "softmig.cluster.forget-after"),
              integer(r, "softmig.cluster.max-remembered-nodes"));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("softmig.cluster: " + e.getMessage(), e);
    }
    return new ClusterOptions(host, observer, tls(r), insecure, limits);
  }

  private static int integer(NodeConfig.Reader r, String key) {
    try {
      return r.config().getInt(key);
    } catch (ConfigException e) {
      throw r.bad(key, "expected a whole number");
    }
  }

  private static java.time.Duration duration(NodeConfig.Reader r, String key) {
    try {
      return r.config().getDuration(key);
    } catch (ConfigException e) {
      throw r.bad(key, "expected a duration such as 30s or 2m");
    }
  }

  private static Optional<TlsSettings> tls(NodeConfig.Reader r) {
    String[] keys = TLS_KEYS;
    String[] values = new String[keys.length];
    int present = 0;
    for (int i = 0; i < keys.length; i++) {
      values[i] = r.string(TLS + keys[i]);
      if (values[i] != null) {
        present++;
      }
    }
    if (present == 0) {
      return Optional.empty();
    }
    for (int i = 0; i < keys.length; i++) {
      if (values[i] == null) {
        throw new IllegalArgumentException(
            TLS + keys[i] + " is missing (TLS needs "
                + TLS + "{key-store,key-store-password,trust-store,trust-store-password})");
      }
    }
    for (int i : new int[] {0, 2}) {
      if (!Files.isReadable(Path.of(values[i]))) {
        throw r.bad(TLS + keys[i], "not a readable PKCS12 file");
      }
    }
    return Optional.of(
        TlsSettings.of(Path.of(values[0]), values[1], Path.of(values[2]), values[3]));
  }

  public ClusterOptions withHost(String v) {
    return new ClusterOptions(v, observer, tls, insecure, limits);
  }

  public ClusterOptions withObserver(boolean v) {
    return new ClusterOptions(host, v, tls, insecure, limits);
  }

  public ClusterOptions withTls(TlsSettings v) {
    return new ClusterOptions(host, observer, Optional.of(v), insecure, limits);
  }

  public ClusterOptions withInsecure(boolean v) {
    return new ClusterOptions(host, observer, tls, v, limits);
  }

  public ClusterOptions withLimits(ClusterSettings.Limits v) {
    return new ClusterOptions(host, observer, tls, insecure, v);
  }

  /** Whether this node binds a cluster port: it has seeds or an explicit cluster port. */
  public boolean clustered(NodeSettings node) {
    return node.clustered();
  }

  /** The host other nodes reach this one at: the given one, else loopback alone, else the name. */
  public String hostFor(NodeSettings node) {
    if (host != null) {
      return host;
    }
    return node.seeds().isEmpty() ? "127.0.0.1" : node.nodeName();
  }

  /**
   * The cluster settings of a node: its name, port and seeds, with these options.
   *
   * @throws IllegalArgumentException when a cluster is configured without TLS (naming the missing
   *     keys), or {@code insecure} is set for addresses that are not all loopback
   */
  public ClusterSettings toClusterSettings(NodeSettings node) {
    checkTransport(node);
    ClusterSettings cs =
        ClusterSettings.of(
            node.nodeName(),
            hostFor(node),
            node.clusterPort() != null ? node.clusterPort() : ClusterSettings.DEFAULT_PORT,
            node.seeds(),
            observer)
            .withLimits(limits);
    return tls.map(cs::withTls).orElse(cs);
  }

  private void checkTransport(NodeSettings node) {
    if (insecure && tls.isPresent()) {
      throw new IllegalArgumentException(
          "softmig.cluster.insecure = true and softmig.cluster.tls are both set: remove one");
    }
    if (tls.isPresent() || !clustered(node)) {
      return;
    }
    if (!insecure) {
      throw new IllegalArgumentException(
          "a cluster is configured (seeds "
              + node.seeds()
              + ", cluster host "
              + hostFor(node)
              + ") without mutual TLS: "
              + String.join(", ", java.util.Arrays.stream(TLS_KEYS).map(k -> TLS + k).toList())
              + " are missing. Make the node's certificate with deploy/softmig-cluster-certs.sh"
              + " (docs/CLUSTER.md), or, for a demo on one host only,"
              + " set softmig.cluster.insecure = true");
    }
    List<String> addresses = new ArrayList<>();
    addresses.add(hostFor(node));
    for (String seed : node.seeds()) {
      addresses.add(seed.substring(0, seed.lastIndexOf(':')));
    }
    for (String address : addresses) {
      if (!isLoopback(address)) {
        throw new IllegalArgumentException(
            "softmig.cluster.insecure = true is for a demo on one host only, and ["
                + address
                + "] is not a loopback address: configure softmig.cluster.tls instead");
      }
    }
  }

  /** 127.0.0.0/8, ::1 and localhost; no name lookup. */
  static boolean isLoopback(String host) {
    String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    return h.equals("localhost")
        || h.equals("::1")
        || h.equals("0:0:0:0:0:0:0:1")
        || h.matches("127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}");
  }
}
