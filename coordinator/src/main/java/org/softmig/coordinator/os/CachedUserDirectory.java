package org.softmig.coordinator.os;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * Keeps the answers of another {@link UserDirectory} for a while, "unknown" included, so that a
 * connection flood does not become a flood of directory-server queries, while a user added to
 * (or removed from) a group counts within the time to live. Each kind of answer is bounded in
 * number; the least recently used goes first. Thread-safe; lookups run outside the lock, so one
 * slow directory query does not hold up answers already known.
 */
public final class CachedUserDirectory implements UserDirectory {

  private final UserDirectory source;
  private final Expiring<Integer, Optional<Account>> byUid;
  private final Expiring<String, Optional<Account>> byName;
  private final Expiring<String, OptionalInt> groupIds;
  private final Expiring<Account, Set<Integer>> groups;

  /**
   * @param ttl how long an answer is kept
   * @param maxEntries at most this many answers of each kind
   * @param clock nanoseconds, monotonic ({@code System::nanoTime})
   */
  public CachedUserDirectory(UserDirectory source, Duration ttl, int maxEntries, LongSupplier clock) {
    if (ttl.isNegative() || maxEntries < 1) {
      throw new IllegalArgumentException("ttl must not be negative and maxEntries positive");
    }
    this.source = source;
    long ttlNanos = ttl.toNanos();
    this.byUid = new Expiring<>(ttlNanos, maxEntries, clock);
    this.byName = new Expiring<>(ttlNanos, maxEntries, clock);
    this.groupIds = new Expiring<>(ttlNanos, maxEntries, clock);
    this.groups = new Expiring<>(ttlNanos, maxEntries, clock);
  }

  @Override
  public Optional<Account> byUid(int uid) {
    return byUid.get(uid, source::byUid);
  }

  @Override
  public Optional<Account> byName(String name) {
    return byName.get(name, source::byName);
  }

  @Override
  public OptionalInt groupId(String group) {
    return groupIds.get(group, source::groupId);
  }

  @Override
  public Set<Integer> groups(Account account) {
    return groups.get(account, source::groups);
  }

  /** A bounded map whose entries expire. */
  private static final class Expiring<K, V> {
    private record Entry<V>(V value, long expiresNanos) {}

    private final long ttlNanos;
    private final LongSupplier clock;
    private final LinkedHashMap<K, Entry<V>> map;

    Expiring(long ttlNanos, int maxEntries, LongSupplier clock) {
      this.ttlNanos = ttlNanos;
      this.clock = clock;
      this.map =
          new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<K, Entry<V>> eldest) {
              return size() > maxEntries;
            }
          };
    }

    V get(K key, Function<K, V> lookup) {
      long now = clock.getAsLong();
      synchronized (this) {
        Entry<V> e = map.get(key);
        if (e != null && now - e.expiresNanos() < 0) {
          return e.value();
        }
      }
      V value = lookup.apply(key);
      synchronized (this) {
        map.put(key, new Entry<>(value, clock.getAsLong() + ttlNanos));
      }
      return value;
    }
  }
}
