package org.softmig.coordinator.os;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link UserDirectory} over libc's name service ({@code getpwuid_r}, {@code getpwnam_r}, {@code
 * getgrnam_r}, {@code getgrouplist}) through JNA, so users and groups from LDAP or SSSD count as
 * those of the local files do. Nothing is cached here ({@link CachedUserDirectory} does that).
 * Thread-safe: every call has its own buffers. A lookup that fails (a directory server down) is
 * logged and answers "unknown".
 */
public final class NssUserDirectory implements UserDirectory {

  private static final Logger log = LoggerFactory.getLogger(NssUserDirectory.class);

  /** First buffer for one entry's strings; doubled on ERANGE up to the maximum. */
  private static final int FIRST_BUFFER = 4096;

  private static final int MAX_BUFFER = 1 << 20;
  private static final int FIRST_GROUPS = 64;
  private static final int MAX_GROUPS = 1 << 16;

  private final LibC libc;

  private NssUserDirectory(LibC libc) {
    this.libc = libc;
  }

  /**
   * Loads libc.
   *
   * @throws IllegalStateException when libc cannot be loaded through JNA
   */
  public static NssUserDirectory open() {
    try {
      return new NssUserDirectory(Native.load("c", LibC.class));
    } catch (UnsatisfiedLinkError e) {
      throw new IllegalStateException("cannot load libc for user and group lookups: " + e.getMessage(), e);
    }
  }

  @Override
  public Optional<Account> byUid(int uid) {
    if (uid == -1) {
      return Optional.empty(); // (uid_t) -1: no user
    }
    return passwd(
        "getpwuid_r(" + Integer.toUnsignedString(uid) + ")",
        (pwd, buf, len, result) -> libc.getpwuid_r(uid, pwd, buf, len, result));
  }

  @Override
  public Optional<Account> byName(String name) {
    if (!usableName(name)) {
      return Optional.empty();
    }
    return passwd(
        "getpwnam_r(" + name + ")",
        (pwd, buf, len, result) -> libc.getpwnam_r(name, pwd, buf, len, result));
  }

  @Override
  public OptionalInt groupId(String group) {
    if (!usableName(group)) {
      return OptionalInt.empty();
    }
    for (int size = FIRST_BUFFER; size <= MAX_BUFFER; size *= 2) {
      LibC.Group grp = new LibC.Group();
      Memory buf = new Memory(size);
      PointerByReference result = new PointerByReference();
      int rc = libc.getgrnam_r(group, grp, buf, new NativeLong(size), result);
      if (rc == LibC.ERANGE) {
        continue;
      }
      if (rc != 0) {
        log.warn("Group lookup getgrnam_r([{}]) failed with errno [{}]", group, rc);
        return OptionalInt.empty();
      }
      return result.getValue() == null ? OptionalInt.empty() : OptionalInt.of(grp.gr_gid);
    }
    log.warn("Group [{}] has an entry over [{}] bytes; taken as unknown", group, MAX_BUFFER);
    return OptionalInt.empty();
  }

  @Override
  public Set<Integer> groups(Account account) {
    if (!usableName(account.name())) {
      return Set.of();
    }
    int capacity = FIRST_GROUPS;
    while (true) {
      int[] gids = new int[capacity];
      IntByReference count = new IntByReference(capacity);
      int n = libc.getgrouplist(account.name(), account.gid(), gids, count);
      if (n >= 0) {
        Set<Integer> out = new TreeSet<>();
        for (int i = 0; i < Math.min(n, capacity); i++) {
          out.add(gids[i]);
        }
        return Set.copyOf(out);
      }
      int needed = count.getValue();
      if (needed <= capacity || needed > MAX_GROUPS) {
        log.warn(
            "Group list of [{}] unavailable (getgrouplist wants [{}] entries)",
            account.name(),
            needed);
        return Set.of();
      }
      capacity = needed;
    }
  }

  /** One {@code getpw*_r} call. */
  private interface PasswdCall {
    int call(LibC.Passwd pwd, Pointer buf, NativeLong len, PointerByReference result);
  }

  private static Optional<Account> passwd(String what, PasswdCall call) {
    for (int size = FIRST_BUFFER; size <= MAX_BUFFER; size *= 2) {
      LibC.Passwd pwd = new LibC.Passwd();
      Memory buf = new Memory(size);
      PointerByReference result = new PointerByReference();
      int rc = call.call(pwd, buf, new NativeLong(size), result);
      if (rc == LibC.ERANGE) {
        continue;
      }
      if (rc != 0) {
        log.warn("User lookup [{}] failed with errno [{}]", what, rc);
        return Optional.empty();
      }
      if (result.getValue() == null || pwd.pw_name == null || pwd.pw_name.isEmpty()) {
        return Optional.empty();
      }
      return Optional.of(new Account(pwd.pw_name, pwd.pw_uid, pwd.pw_gid));
    }
    log.warn("User lookup [{}] has an entry over [{}] bytes; taken as unknown", what, MAX_BUFFER);
    return Optional.empty();
  }

  /** Names handed to libc: not empty, no NUL, not absurdly long. */
  private static boolean usableName(String name) {
    return name != null && !name.isEmpty() && name.length() <= 256 && name.indexOf('\0') < 0;
  }
}
