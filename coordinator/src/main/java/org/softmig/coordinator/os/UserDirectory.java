package org.softmig.coordinator.os;

import java.time.Duration;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * Users and groups as the system's name service (NSS) knows them: {@code /etc/passwd} and {@code
 * /etc/group}, but also LDAP, SSSD or whatever {@code /etc/nsswitch.conf} names. Lookups may block
 * (a directory server): call them off the event loop and outside actor handlers.
 */
public interface UserDirectory {

  /** A user account: its name, uid and primary gid. */
  record Account(String name, int uid, int gid) {}

  /** The account of a uid, if the name service knows it. */
  Optional<Account> byUid(int uid);

  /** The account of a user name, if the name service knows it. */
  Optional<Account> byName(String name);

  /** The gid of a group name, if the name service knows it. */
  OptionalInt groupId(String group);

  /**
   * Every group the account belongs to, its primary group included (as {@code getgrouplist}
   * answers); empty when the name service cannot tell.
   */
  Set<Integer> groups(Account account);

  /** The user name of a uid, else the uid as text. */
  default String nameOf(int uid) {
    return byUid(uid).map(Account::name).orElse(Integer.toString(uid));
  }

  /** The system's name service through libc, each answer kept for 30 s (at most 4096 of each). */
  static UserDirectory system() {
    return new CachedUserDirectory(
        NssUserDirectory.open(), Duration.ofSeconds(30), 4096, System::nanoTime);
  }
}
