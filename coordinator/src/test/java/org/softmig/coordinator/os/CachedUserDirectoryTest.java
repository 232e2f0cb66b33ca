package org.softmig.coordinator.os;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class CachedUserDirectoryTest {

  final AtomicLong now = new AtomicLong(1_000);
  final MapUserDirectory source =
      new MapUserDirectory().user("alice", 1000, 100).group("hpcadmin", 900, "alice");

  CachedUserDirectory cache(int maxEntries) {
    return new CachedUserDirectory(source, Duration.ofSeconds(30), maxEntries, now::get);
  }

  @Test
  void answersAreKeptForTheTimeToLiveThenAskedAgain() {
    CachedUserDirectory users = cache(16);
    assertThat(users.nameOf(1000)).isEqualTo("alice");
    assertThat(users.nameOf(1000)).isEqualTo("alice");
    assertThat(users.groupId("hpcadmin")).hasValue(900);
    assertThat(users.groupId("hpcadmin")).hasValue(900);
    UserDirectory.Account alice = users.byUid(1000).orElseThrow();
    assertThat(users.groups(alice)).containsExactlyInAnyOrder(100, 900);
    assertThat(users.groups(alice)).containsExactlyInAnyOrder(100, 900);
    assertThat(source.lookups).isEqualTo(3);

    now.addAndGet(Duration.ofSeconds(30).toNanos());
    source.group("gpu", 901, "alice");
    assertThat(users.groups(alice)).containsExactlyInAnyOrder(100, 900, 901);
    assertThat(source.lookups).isEqualTo(4);
  }

  @Test
  void unknownIsKeptTooSoAFloodDoesNotReachTheDirectory() {
    CachedUserDirectory users = cache(16);
    for (int i = 0; i < 100; i++) {
      assertThat(users.byUid(4242)).isEmpty();
      assertThat(users.nameOf(4242)).isEqualTo("4242");
      assertThat(users.byName("mallory")).isEqualTo(Optional.empty());
    }
    assertThat(source.lookups).isEqualTo(2);
  }

  @Test
  void theLeastRecentlyUsedAnswerGoesWhenFull() {
    CachedUserDirectory users = cache(2);
    users.byUid(1);
    users.byUid(2);
    users.byUid(1); // 2 is now the least recently used
    users.byUid(3);
    assertThat(source.lookups).isEqualTo(3);
    users.byUid(1);
    assertThat(source.lookups).isEqualTo(3);
    users.byUid(2);
    assertThat(source.lookups).isEqualTo(4);
  }
}
