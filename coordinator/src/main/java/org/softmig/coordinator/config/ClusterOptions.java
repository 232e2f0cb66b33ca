package org.softmig.coordinator.config;

import com.typesafe.config.Config;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.softmig.coordinator.cluster.ClusterSettings;
import org.softmig.coordinator.cluster.TlsSettings;

/**
 * How a coordinator joins the cluster, beyond the port and seeds of {@link NodeSettings}: the
 * address other nodes reach it at, whether it is an observer (no GPUs), and mutual TLS.
 *
 * <p>Config file keys: {@code softmig.cluster.host}, {@code softmig.cluster.observer}, {@code
 * softmig.cluster.tls.key-store}, {@code key-store-password}, {@code trust-store}, {@code
 * trust-store-password} (all four or none).
 *
 * @param host the cluster host; null: 127.0.0.1 without seeds, else the node name
 * @param observer a node without GPUs (login or controller host)
 * @param tls mutual TLS between coordinators, or empty for plain TCP
 */
public record ClusterOptions(String host, boolean observer, Optional<TlsSettings> tls) {

  private static final String TLS = "softmig.cluster.tls.";

  public ClusterOptions {
    if (host != null && host.isBlank()) {
      throw new IllegalArgumentException("cluster host is empty");
    }
    tls = tls == null ? Optional.empty() : tls;
  }

  public static ClusterOptions defaults() {
    return new ClusterOptions(null, false, Optional.empty());
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
    return new ClusterOptions(host, observer, tls(r));
  }

  private static Optional<TlsSettings> tls(NodeConfig.Reader r) {
    String[] keys = {"key-store", "key-store-password", "trust-store", "trust-store-password"};
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
    return new ClusterOptions(v, observer, tls);
  }

  public ClusterOptions withObserver(boolean v) {
    return new ClusterOptions(host, v, tls);
  }

  /** The host other nodes reach this one at: the given one, else loopback alone, else the name. */
  public String hostFor(NodeSettings node) {
    if (host != null) {
      return host;
    }
    return node.seeds().isEmpty() ? "127.0.0.1" : node.nodeName();
  }

  /** The cluster settings of a node: its name, port and seeds, with these options. */
  public ClusterSettings toClusterSettings(NodeSettings node) {
    ClusterSettings cs =
        ClusterSettings.of(
            node.nodeName(),
            hostFor(node),
            node.clusterPort() != null ? node.clusterPort() : ClusterSettings.DEFAULT_PORT,
            node.seeds(),
            observer);
    return tls.map(cs::withTls).orElse(cs);
  }
}
