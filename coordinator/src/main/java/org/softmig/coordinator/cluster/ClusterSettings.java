package org.softmig.coordinator.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * How this coordinator takes part in the softmig cluster.
 *
 * <p>{@link #toAkkaConfig()} gives the Akka settings that make the actor system a cluster member:
 * Artery on {@code host:port}, the seed nodes, the roles, the Split Brain Resolver (keep-majority),
 * protobuf serialization for everything that crosses nodes, and mutual TLS when {@code tls} is
 * set. The actor system must be named {@value #SYSTEM_NAME}.
 *
 * @param nodeName the node's name as SLURM knows it; the key of its NodeView
 * @param host the address other nodes reach this one at
 * @param port the cluster port; 0 picks a free one (tests)
 * @param seeds {@code host:port} of the seed nodes; empty: this node forms a cluster of its own
 * @param observer a node without GPUs (login or controller host)
 * @param pushInterval how often the node's snapshot is pushed when nothing changed
 * @param queryTimeout how long a cluster query waits for each node
 * @param limits bounds on inbound cluster connections and on remembered nodes
 */
public record ClusterSettings(
    String nodeName,
    String host,
    int port,
    List<String> seeds,
    boolean observer,
    Optional<TlsSettings> tls,
    Duration pushInterval,
    Duration queryTimeout,
    Limits limits) {

  public static final String SYSTEM_NAME = "softmig";
  public static final int DEFAULT_PORT = 25520;
  public static final String ROLE_GPU_NODE = "gpu-node";
  public static final String ROLE_OBSERVER = "observer";
  /** Every member also carries the role {@code node:<nodeName>}, so members map to node names. */
  public static final String ROLE_NODE_PREFIX = "node:";

  public static final Duration DEFAULT_PUSH_INTERVAL = Duration.ofSeconds(5);
  public static final Duration DEFAULT_QUERY_TIMEOUT = Duration.ofSeconds(2);

  public ClusterSettings {
    Objects.requireNonNull(nodeName, "nodeName");
    Objects.requireNonNull(host, "host");
    Objects.requireNonNull(tls, "tls");
    Objects.requireNonNull(pushInterval, "pushInterval");
    Objects.requireNonNull(queryTimeout, "queryTimeout");
    Objects.requireNonNull(limits, "limits");
    if (nodeName.isBlank()) {
      throw new IllegalArgumentException("cluster node name is empty");
    }
    if (host.isBlank()) {
      throw new IllegalArgumentException("cluster host is empty");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("cluster port [" + port + "] is not in 0..65535");
    }
    seeds = List.copyOf(seeds);
    seeds.forEach(ClusterSettings::seedAddress); // fails early on a bad seed
    if (pushInterval.isNegative() || pushInterval.isZero()) {
      throw new IllegalArgumentException("push interval [" + pushInterval + "] must be positive");
    }
    if (queryTimeout.isNegative() || queryTimeout.isZero()) {
      throw new IllegalArgumentException("query timeout [" + queryTimeout + "] must be positive");
    }
  }

  /** Default intervals and no TLS: the usual start for a test or a single node. */
  public static ClusterSettings of(
      String nodeName, String host, int port, List<String> seeds, boolean observer) {
    return new ClusterSettings(
        nodeName,
        host,
        port,
        seeds,
        observer,
        Optional.empty(),
        DEFAULT_PUSH_INTERVAL,
        DEFAULT_QUERY_TIMEOUT,
        Limits.DEFAULTS);
  }

  /**
   * What one peer, or anyone who can reach the cluster port, can make this node hold.
   *
   * @param maxConnections open TCP connections of the cluster transport, inbound and outbound
   *     together ({@code akka.io.tcp.max-channels}); past it, new connections wait in the kernel's
   *     backlog until one closes
   * @param silentTimeout an inbound connection that has sent nothing for this long after it was
   *     accepted is closed (a TLS handshake comes within milliseconds)
   * @param idleTimeout an inbound connection that has received nothing for this long is closed;
   *     members close their own idle outbound connections after half of it
   * @param forgetAfter a node that left membership is dropped from cluster status after this long
   * @param maxRemembered at most this many departed nodes are remembered (the oldest go first)
   */
  public record Limits(
      int maxConnections,
      Duration silentTimeout,
      Duration idleTimeout,
      Duration forgetAfter,
      int maxRemembered) {

    public static final Limits DEFAULTS =
        new Limits(4096, Duration.ofSeconds(10), Duration.ofMinutes(2), Duration.ofHours(24), 1024);

    public Limits {
      Objects.requireNonNull(silentTimeout, "silentTimeout");
      Objects.requireNonNull(idleTimeout, "idleTimeout");
      Objects.requireNonNull(forgetAfter, "forgetAfter");
      if (maxConnections < 16) {
        throw new IllegalArgumentException(
            "max cluster connections [" + maxConnections + "] must be at least 16");
      }
      if (silentTimeout.toMillis() < 1000) {
        throw new IllegalArgumentException(
            "silent connection timeout [" + silentTimeout + "] must be at least 1 s");
      }
      if (idleTimeout.compareTo(silentTimeout) < 0 || idleTimeout.toMillis() < 2000) {
        throw new IllegalArgumentException(
            "idle connection timeout ["
                + idleTimeout
                + "] must be at least 2 s and not below the silent timeout");
      }
      if (forgetAfter.isNegative() || forgetAfter.isZero()) {
        throw new IllegalArgumentException("forget-after [" + forgetAfter + "] must be positive");
      }
      if (maxRemembered < 1) {
        throw new IllegalArgumentException("max remembered nodes must be at least 1");
      }
    }
  }

  public ClusterSettings withTls(TlsSettings settings) {
    return new ClusterSettings(
        nodeName,
        host,
        port,
        seeds,
        observer,
        Optional.of(settings),
        pushInterval,
        queryTimeout,
        limits);
  }

  public ClusterSettings withIntervals(Duration push, Duration query) {
    return new ClusterSettings(nodeName, host, port, seeds, observer, tls, push, query, limits);
  }

  public ClusterSettings withLimits(Limits v) {
    return new ClusterSettings(
        nodeName, host, port, seeds, observer, tls, pushInterval, queryTimeout, v);
  }

  /** A snapshot older than this means its node is no longer reporting. */
  public Duration staleAfter() {
    return pushInterval.multipliedBy(3);
  }

  public List<String> roles() {
    return List.of(observer ? ROLE_OBSERVER : ROLE_GPU_NODE, ROLE_NODE_PREFIX + nodeName);
  }

  /**
   * The Akka address of a seed given as {@code host:port} ({@code [v6addr]:port} for IPv6).
   *
   * @throws IllegalArgumentException naming the seed when it is not of that form
   */
  public static String seedAddress(String seed) {
    Objects.requireNonNull(seed, "seed");
    int colon = seed.lastIndexOf(':');
    if (colon <= 0 || colon == seed.length() - 1) {
      throw new IllegalArgumentException("seed [" + seed + "] is not host:port");
    }
    String host = seed.substring(0, colon);
    String portText = seed.substring(colon + 1);
    if (host.contains(":") && !(host.startsWith("[") && host.endsWith("]"))) {
      throw new IllegalArgumentException(
          "seed [" + seed + "]: write an IPv6 address in brackets, e.g. [::1]:" + portText);
    }
    int port;
    try {
      port = Integer.parseInt(portText);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("seed [" + seed + "] has no numeric port", e);
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("seed [" + seed + "]: port is not in 1..65535");
    }
    return "akka://" + SYSTEM_NAME + "@" + host + ":" + port;
  }

  /** The Akka settings of this node; put the site's own settings behind with withFallback. */
  public Config toAkkaConfig() {
    List<String> seedAddresses = new ArrayList<>();
    seeds.forEach(seed -> seedAddresses.add(seedAddress(seed)));
    Config config =
        ConfigFactory.parseString(STATIC_CONFIG)
            .withValue("akka.remote.artery.canonical.hostname", value(host))
            .withValue("akka.remote.artery.canonical.port", value(port))
            .withValue("akka.cluster.seed-nodes", ConfigValueFactory.fromIterable(seedAddresses))
            .withValue("akka.cluster.roles", ConfigValueFactory.fromIterable(roles()))
            .withValue("akka.io.tcp.max-channels", value(limits.maxConnections()))
            .withValue(
                "akka.remote.artery.advanced.stop-idle-outbound-after",
                value(limits.idleTimeout().dividedBy(2).toMillis() + "ms"));
    if (tls.isPresent()) {
      TlsSettings t = tls.get();
      String ssl = "akka.remote.artery.ssl.config-ssl-engine.";
      config =
          config
              .withValue("akka.remote.artery.transport", value("tls-tcp"))
              .withValue(
                  "akka.remote.artery.ssl.ssl-engine-provider",
                  value("akka.remote.artery.tcp.ConfigSSLEngineProvider"))
              .withValue(ssl + "key-store", value(t.keyStore().toString()))
              .withValue(ssl + "key-store-password", value(t.keyStorePassword()))
              .withValue(ssl + "key-password", value(t.keyPassword()))
              .withValue(ssl + "trust-store", value(t.trustStore().toString()))
              .withValue(ssl + "trust-store-password", value(t.trustStorePassword()))
              .withValue(ssl + "protocol", value(t.protocol()))
              .withValue(ssl + "enabled-algorithms", ConfigValueFactory.fromIterable(t.cipherSuites()))
              .withValue(ssl + "require-mutual-authentication", value(true))
              // the member at an address must hold a certificate for that address's host
              .withValue(ssl + "hostname-verification", value(true));
    }
    return config;
  }

  private static com.typesafe.config.ConfigValue value(Object v) {
    return ConfigValueFactory.fromAnyRef(v, "softmig cluster settings");
  }

  private static final String STATIC_CONFIG =
      String.join(
          "\n",
          "akka.actor.provider = cluster",
          "akka.actor.allow-java-serialization = off",
          "akka.actor.warn-about-java-serializer-usage = on",
          "akka.actor.serializers.softmig-cluster = "
              + "\"org.softmig.coordinator.cluster.ClusterMessageSerializer\"",
          "akka.actor.serialization-bindings {",
          "  \"org.softmig.coordinator.cluster.ClusterMessage\" = softmig-cluster",
          "  \"com.google.protobuf.GeneratedMessage\" = proto",
          "}",
          "akka.remote.artery.transport = tcp",
          "akka.cluster.downing-provider-class = "
              + "\"akka.cluster.sbr.SplitBrainResolverProvider\"",
          "akka.cluster.split-brain-resolver.active-strategy = keep-majority",
          // The views passivate themselves (receive timeout); no automatic idle passivation.
          "akka.cluster.sharding.passivation.strategy = none",
          "");
}
