package org.softmig.coordinator.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.Config;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClusterSettingsTest {

  @Test
  void producesAClusterConfigWithSeedsRolesAndSplitBrainResolver() {
    Config c =
        ClusterSettings.of("gpu01", "10.0.0.1", 25520, List.of("10.0.0.2:25520", "[::1]:2551"), false)
            .toAkkaConfig();

    assertThat(c.getString("akka.actor.provider")).isEqualTo("cluster");
    assertThat(c.getBoolean("akka.actor.allow-java-serialization")).isFalse();
    assertThat(c.getString("akka.remote.artery.canonical.hostname")).isEqualTo("10.0.0.1");
    assertThat(c.getInt("akka.remote.artery.canonical.port")).isEqualTo(25520);
    assertThat(c.getString("akka.remote.artery.transport")).isEqualTo("tcp");
    assertThat(c.getStringList("akka.cluster.seed-nodes"))
        .containsExactly("akka://softmig@10.0.0.2:25520", "akka://softmig@[::1]:2551");
    assertThat(c.getStringList("akka.cluster.roles")).containsExactly("gpu-node", "node:gpu01");
    assertThat(c.getString("akka.cluster.downing-provider-class"))
        .isEqualTo("akka.cluster.sbr.SplitBrainResolverProvider");
    assertThat(c.getString("akka.cluster.split-brain-resolver.active-strategy"))
        .isEqualTo("keep-majority");
    assertThat(
            c.getString(
                "akka.actor.serialization-bindings.\"org.softmig.coordinator.cluster.ClusterMessage\""))
        .isEqualTo("softmig-cluster");
  }

  @Test
  void observerCarriesTheObserverRole() {
    Config c = ClusterSettings.of("login1", "10.0.0.9", 0, List.of(), true).toAkkaConfig();

    assertThat(c.getStringList("akka.cluster.roles")).containsExactly("observer", "node:login1");
    assertThat(c.getStringList("akka.cluster.seed-nodes")).isEmpty();
  }

  @Test
  void tlsTurnsOnMutuallyAuthenticatedTlsTcp() {
    Config c =
        ClusterSettings.of("gpu01", "10.0.0.1", 25520, List.of(), false)
            .withTls(TlsSettings.of(Path.of("/etc/softmig/node.p12"), "s3cret", Path.of("/etc/softmig/ca.p12"), "t"))
            .toAkkaConfig();

    String ssl = "akka.remote.artery.ssl.config-ssl-engine.";
    assertThat(c.getString("akka.remote.artery.transport")).isEqualTo("tls-tcp");
    assertThat(c.getString(ssl + "key-store")).isEqualTo("/etc/softmig/node.p12");
    assertThat(c.getString(ssl + "key-store-password")).isEqualTo("s3cret");
    assertThat(c.getString(ssl + "trust-store")).isEqualTo("/etc/softmig/ca.p12");
    assertThat(c.getBoolean(ssl + "require-mutual-authentication")).isTrue();
  }

  @Test
  void tlsSettingsDoNotPrintPasswords() {
    TlsSettings t = TlsSettings.of(Path.of("k"), "s3cret", Path.of("t"), "tru5t");

    assertThat(t.toString()).doesNotContain("s3cret").doesNotContain("tru5t");
  }

  @Test
  void rejectsBadSeedsNamingThem() {
    assertThatThrownBy(() -> ClusterSettings.of("n", "h", 1, List.of("gpu02"), false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[gpu02]");
    assertThatThrownBy(() -> ClusterSettings.seedAddress("gpu02:http"))
        .hasMessageContaining("no numeric port");
    assertThatThrownBy(() -> ClusterSettings.seedAddress("gpu02:70000"))
        .hasMessageContaining("1..65535");
    assertThatThrownBy(() -> ClusterSettings.seedAddress("::1:2551"))
        .hasMessageContaining("brackets");
  }

  @Test
  void rejectsBadSettings() {
    assertThatThrownBy(() -> ClusterSettings.of(" ", "h", 1, List.of(), false))
        .hasMessageContaining("node name");
    assertThatThrownBy(() -> ClusterSettings.of("n", "h", 70000, List.of(), false))
        .hasMessageContaining("[70000]");
    assertThatThrownBy(
            () ->
                ClusterSettings.of("n", "h", 1, List.of(), false)
                    .withIntervals(java.time.Duration.ZERO, java.time.Duration.ofSeconds(1)))
        .hasMessageContaining("push interval");
  }
}
