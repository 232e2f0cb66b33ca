package org.softmig.coordinator.os;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A name service held in maps, for tests: accounts, groups with their members, as a directory
 * server would answer. Counts its lookups.
 */
public final class MapUserDirectory implements UserDirectory {

  private final List<Account> accounts = new ArrayList<>();
  private final Map<String, Integer> groupIds = new HashMap<>();
  private final Map<Integer, Set<String>> members = new HashMap<>();
  public int lookups;

  public MapUserDirectory user(String name, int uid, int gid) {
    accounts.add(new Account(name, uid, gid));
    return this;
  }

  public MapUserDirectory group(String name, int gid, String... memberNames) {
    groupIds.put(name, gid);
    members.computeIfAbsent(gid, g -> new HashSet<>()).addAll(List.of(memberNames));
    return this;
  }

  @Override
  public synchronized Optional<Account> byUid(int uid) {
    lookups++;
    return accounts.stream().filter(a -> a.uid() == uid).findFirst();
  }

  @Override
  public synchronized Optional<Account> byName(String name) {
    lookups++;
    return accounts.stream().filter(a -> a.name().equals(name)).findFirst();
  }

  @Override
  public synchronized OptionalInt groupId(String group) {
    lookups++;
    Integer gid = groupIds.get(group);
    return gid == null ? OptionalInt.empty() : OptionalInt.of(gid);
  }

  @Override
  public synchronized Set<Integer> groups(Account account) {
    lookups++;
    Set<Integer> out = new HashSet<>();
    out.add(account.gid());
    members.forEach(
        (gid, names) -> {
          if (names.contains(account.name())) {
            out.add(gid);
          }
        });
    return out;
  }
}
