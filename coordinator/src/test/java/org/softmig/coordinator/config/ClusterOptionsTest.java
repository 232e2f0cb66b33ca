package org.softmig.coordinator.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.softmig.coordinator.cluster.ClusterSettings;

class ClusterOptionsTest {

  @TempDir Path dir;

  private Path conf(String text) throws Exception {
    return Files.writeString(dir.resolve("node.conf"), text);
  }

  @Test
  void hostDefaultsToLoopbackAloneAndToTheNodeNameWithSeeds() {
    NodeSettings alone = NodeSettings.of(Map.of("node-name", "gpu07"));
    NodeSettings seeded =
        NodeSettings.of(Map.of("node-name", "gpu07", "seeds", List.of("gpu01:25520")));

    assertThat(ClusterOptions.defaults().hostFor(alone)).isEqualTo("127.0.0.1");
    assertThat(ClusterOptions.defaults().hostFor(seeded)).isEqualTo("gpu07");
    assertThat(ClusterOptions.defaults().withHost("10.0.0.7").hostFor(seeded)).isEqualTo("10.0.0.7");
  }

  @Test
  void clusterSettingsCarryNamePortSeedsAndRole() {
    NodeSettings node =
        NodeSettings.of(
            Map.of(
                "node-name", "login1",
                "cluster-port", 0,
                "seeds", List.of("gpu01:25520")));

    ClusterSettings cs =
        ClusterOptions.defaults()
            .withObserver(true)
            .withTls(org.softmig.coordinator.cluster.TlsSettings.of(
                Path.of("/etc/softmig/node.p12"), "p", Path.of("/etc/softmig/trust.p12"), "t"))
            .toClusterSettings(node);

    assertThat(cs.nodeName()).isEqualTo("login1");
    assertThat(cs.host()).isEqualTo("login1");
    assertThat(cs.port()).isZero();
    assertThat(cs.seeds()).containsExactly("gpu01:25520");
    assertThat(cs.roles()).contains(ClusterSettings.ROLE_OBSERVER);
    assertThat(cs.tls()).isPresent();
  }

  @Test
  void aConfiguredClusterWithoutTlsDoesNotStartAndNamesTheMissingKeys() {
    NodeSettings seeded =
        NodeSettings.of(Map.of("node-name", "gpu07", "seeds", List.of("gpu01:25520")));

    assertThatThrownBy(() -> ClusterOptions.defaults().toClusterSettings(seeded))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("softmig.cluster.tls.key-store")
        .hasMessageContaining("softmig.cluster.tls.key-store-password")
        .hasMessageContaining("softmig.cluster.tls.trust-store")
        .hasMessageContaining("softmig.cluster.tls.trust-store-password")
        .hasMessageContaining("softmig-cluster-certs.sh");
    // a cluster port alone binds TCP: others could join
    NodeSettings port = NodeSettings.of(Map.of("node-name", "gpu07", "cluster-port", 25520));
    assertThatThrownBy(() -> ClusterOptions.defaults().toClusterSettings(port))
        .hasMessageContaining("softmig.cluster.tls.key-store");
    // standing alone: no TCP port, nothing to secure
    NodeSettings alone = NodeSettings.of(Map.of("node-name", "gpu07"));
    assertThat(ClusterOptions.defaults().toClusterSettings(alone).tls()).isEmpty();
  }

  @Test
  void insecureIsForOneHostOnly() throws Exception {
    List<String> localSeeds = List.of("127.0.0.1:25531", "[::1]:25532", "localhost:25533");
    NodeSettings local = NodeSettings.of(Map.of("node-name", "n1", "seeds", localSeeds));
    ClusterOptions insecure = ClusterOptions.load(conf("softmig.cluster.insecure = true\n"));

    assertThat(insecure.withHost("127.0.0.1").toClusterSettings(local).tls()).isEmpty();
    assertThatThrownBy(
            () ->
                insecure
                    .withHost("127.0.0.1")
                    .toClusterSettings(
                        NodeSettings.of(
                            Map.of("node-name", "n1", "seeds", List.of("gpu01:25520")))))
        .hasMessageContaining("[gpu01] is not a loopback address");
    assertThatThrownBy(() -> insecure.toClusterSettings(local))
        .hasMessageContaining("[n1] is not a loopback address");
    assertThatThrownBy(
            () ->
                insecure
                    .withTls(org.softmig.coordinator.cluster.TlsSettings.of(
                        Path.of("/n.p12"), "p", Path.of("/t.p12"), "t"))
                    .toClusterSettings(local))
        .hasMessageContaining("remove one");
  }

  @Test
  void readsConnectionBounds() throws Exception {
    ClusterOptions c =
        ClusterOptions.load(
            conf(
                "softmig.cluster { max-connections = 64, silent-timeout = 3s, idle-timeout = 9s,"
                    + " forget-after = 1h, max-remembered-nodes = 5 }\n"));

    assertThat(c.limits())
        .isEqualTo(
            new ClusterSettings.Limits(
                64,
                java.time.Duration.ofSeconds(3),
                java.time.Duration.ofSeconds(9),
                java.time.Duration.ofHours(1),
                5));
    assertThatThrownBy(() -> ClusterOptions.load(conf("softmig.cluster.idle-timeout = 1s\n")))
        .hasMessageContaining("idle connection timeout");
    assertThatThrownBy(() -> ClusterOptions.load(conf("softmig.cluster.max-connections = lots\n")))
        .hasMessageContaining("softmig.cluster.max-connections");
  }

  @Test
  void readsHostObserverAndTls() throws Exception {
    Path ks = Files.writeString(dir.resolve("node.p12"), "x");
    Path ts = Files.writeString(dir.resolve("trust.p12"), "x");
    ClusterOptions c =
        ClusterOptions.load(
            conf(
                "softmig.cluster {\n  host = gpu07.ib\n  observer = true\n  tls {\n"
                    + "    key-store = \"" + ks + "\"\n    key-store-password = secret1\n"
                    + "    trust-store = \"" + ts + "\"\n    trust-store-password = secret2\n"
                    + "  }\n}\n"));

    assertThat(c.host()).isEqualTo("gpu07.ib");
    assertThat(c.observer()).isTrue();
    assertThat(c.tls()).hasValueSatisfying(t -> {
      assertThat(t.keyStore()).isEqualTo(ks);
      assertThat(t.keyStorePassword()).isEqualTo("secret1");
      assertThat(t.trustStore()).isEqualTo(ts);
      assertThat(t.trustStorePassword()).isEqualTo("secret2");
    });
  }

  @Test
  void badValuesNameFileKeyAndValue() throws Exception {
    assertThatThrownBy(() -> ClusterOptions.load(conf("softmig.cluster.observer = maybe\n")))
        .hasMessageContaining("node.conf")
        .hasMessageContaining("softmig.cluster.observer")
        .hasMessageContaining("maybe");
    assertThatThrownBy(
            () ->
                ClusterOptions.load(
                    conf(
                        "softmig.cluster.tls { key-store = /nonexistent/node.p12\n"
                            + " key-store-password = a\n trust-store = /nonexistent/t.p12\n"
                            + " trust-store-password = b }\n")))
        .hasMessageContaining("softmig.cluster.tls.key-store")
        .hasMessageContaining("/nonexistent/node.p12");
    assertThatThrownBy(
            () -> ClusterOptions.load(conf("softmig.cluster.tls.key-store = /x/node.p12\n")))
        .hasMessageContaining("softmig.cluster.tls.key-store-password is missing");
  }

  @Test
  void passwordsAreNotShownInErrors() throws Exception {
    assertThatThrownBy(
            () -> ClusterOptions.load(conf("softmig.cluster.tls.key-store-password = [s3cret]\n")))
        .hasMessageContaining("key-store-password")
        .hasMessageNotContaining("s3cret");
  }

  /**
   * The shipped node file with its cluster lines switched on, including a {@code tls.conf} as
   * softmig-cluster-certs writes it: a cluster with mutual TLS.
   */
  @Test
  void theShippedNodeFileWithTheCertificateScriptsTlsConfMakesATlsCluster() throws Exception {
    Path tlsDir = Files.createDirectories(dir.resolve("tls"));
    Path ks = Files.writeString(tlsDir.resolve("node.p12"), "x");
    Path ts = Files.writeString(tlsDir.resolve("trust.p12"), "x");
    Files.writeString(
        tlsDir.resolve("tls.conf"),
        "softmig.cluster.tls {\n  key-store = \"" + ks + "\"\n  key-store-password = \"p1\"\n"
            + "  trust-store = \"" + ts + "\"\n  trust-store-password = \"p2\"\n}\n");
    String shipped = Files.readString(Path.of("..", "deploy", "etc", "softmig.conf"));
    assertThat(shipped).contains("#include required(file(\"/etc/softmig/tls/tls.conf\"))");
    String enabled =
        shipped
            .replace("#cluster-port = ", "cluster-port = ")
            .replace("#seeds = ", "seeds = ")
            .replace(
                "#include required(file(\"/etc/softmig/tls/tls.conf\"))",
                "include required(file(\"" + tlsDir.resolve("tls.conf") + "\"))");
    Path node = Files.writeString(dir.resolve("softmig.conf"), enabled);

    NodeSettings settings = NodeSettings.load(node);
    ClusterOptions options = ClusterOptions.load(node);
    assertThat(settings.clustered()).isTrue();
    assertThat(options.tls()).hasValueSatisfying(t -> assertThat(t.keyStore()).isEqualTo(ks));
    assertThat(options.toClusterSettings(settings).tls()).isPresent();

    Files.delete(tlsDir.resolve("tls.conf"));
    assertThatThrownBy(() -> ClusterOptions.load(node)).hasMessageContaining("tls.conf");
  }
}
