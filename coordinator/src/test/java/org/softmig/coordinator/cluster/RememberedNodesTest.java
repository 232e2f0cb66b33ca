package org.softmig.coordinator.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class RememberedNodesTest {

  @Test
  void aDepartedNodeIsListedUntilItsTimeThenForgotten() {
    RememberedNodes nodes = new RememberedNodes(Duration.ofHours(24), 10);
    nodes.member("n1", false);
    nodes.member("n2", false);

    nodes.departed("n2", 1_000);

    assertThat(nodes.prune(1_000 + Duration.ofHours(24).toMillis() - 1)).isEmpty();
    assertThat(nodes.nodes()).containsOnlyKeys("n1", "n2");
    assertThat(nodes.prune(1_000 + Duration.ofHours(24).toMillis())).containsExactly("n2");
    assertThat(nodes.nodes()).containsOnlyKeys("n1");
  }

  @Test
  void aNodeThatComesBackIsNotForgotten() {
    RememberedNodes nodes = new RememberedNodes(Duration.ofMinutes(1), 10);
    nodes.member("n1", false);
    nodes.departed("n1", 0);
    nodes.member("n1", false);

    assertThat(nodes.prune(Duration.ofHours(1).toMillis())).isEmpty();
    assertThat(nodes.nodes()).containsOnlyKeys("n1");
  }

  @Test
  void atMostSoManyDepartedNodesAreKeptTheLongestGoneFirstOut() {
    RememberedNodes nodes = new RememberedNodes(Duration.ofDays(1), 2);
    for (int i = 0; i < 5; i++) {
      nodes.member("gone" + i, false);
      nodes.departed("gone" + i, i);
    }
    nodes.member("here", true);

    assertThat(nodes.prune(10)).containsExactlyInAnyOrder("gone0", "gone1", "gone2");
    assertThat(nodes.nodes()).containsOnlyKeys("gone3", "gone4", "here");
  }

  @Test
  void aNodeNeverSeenCannotDepart() {
    RememberedNodes nodes = new RememberedNodes(Duration.ofDays(1), 2);
    nodes.departed("ghost", 0);

    assertThat(nodes.nodes()).isEmpty();
    assertThat(nodes.prune(0)).isEmpty();
  }
}
