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

    ClusterSettings cs = ClusterOptions.defaults().withObserver(true).toClusterSettings(node);

    assertThat(cs.nodeName()).isEqualTo("login1");
    assertThat(cs.host()).isEqualTo("login1");
    assertThat(cs.port()).isZero();
    assertThat(cs.seeds()).containsExactly("gpu01:25520");
    assertThat(cs.roles()).contains(ClusterSettings.ROLE_OBSERVER);
    assertThat(cs.tls()).isEmpty();
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
}
