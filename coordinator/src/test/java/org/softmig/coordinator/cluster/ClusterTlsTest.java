package org.softmig.coordinator.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.StatusReply;

/** Mutual TLS between members: a node whose certificate comes from another CA cannot join. */
class ClusterTlsTest {

  @TempDir Path dir;

  private final List<ClusterTestNode> started = new java.util.ArrayList<>();

  @AfterEach
  void stopNodes() {
    ClusterTestNode.closeAll(started);
  }

  private ClusterTestNode start(String node, List<String> seeds, Path keyStore, Path trustStore) {
    TlsSettings tls =
        TlsSettings.of(
            keyStore, ClusterTestCertificates.PASSWORD, trustStore, ClusterTestCertificates.PASSWORD);
    ClusterTestNode n = ClusterTestNode.start(ClusterTestNode.settings(node, 0, seeds, false).withTls(tls));
    started.add(n);
    return n;
  }

  @Test
  void nodesOfTheSiteCaJoinAndANodeOfAnotherCaCannot() throws Exception {
    ClusterTestCertificates certs = new ClusterTestCertificates(dir);
    CompletableFuture<Path> rogueStore =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                certs.createCa("other-ca");
                return certs.nodeKeyStore("rogue-node", "other-ca");
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
            });
    certs.createCa("site-ca");
    Path trust = certs.trustStore("trust", "site-ca");
    Path good = certs.nodeKeyStore("gpu-node", "site-ca");
    Path rogue = rogueStore.get(60, TimeUnit.SECONDS);

    ClusterTestNode n1 = start("n1", List.of(), good, trust);
    List<String> seeds = List.of(n1.seed());
    // The intruder even trusts the site CA: it is the members that turn it away.
    ClusterTestNode intruder = start("intruder", seeds, rogue, trust);
    ClusterTestNode n2 = start("n2", seeds, good, trust);

    n1.awaitMembersUp(2);
    n2.awaitMembersUp(2);
    StatusReply reply =
        n2.views.clusterStatus(Duration.ofSeconds(1)).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(reply.getNodesList()).extracting(NodeStatus::getNode).containsExactly("n1", "n2");

    await()
        .during(Duration.ofSeconds(3))
        .atMost(Duration.ofSeconds(6))
        .until(
            () ->
                n1.views.members().stream().noneMatch(m -> m.node().equals("intruder"))
                    && intruder.views.members().stream().noneMatch(ClusterMember::isUp));
  }
}
