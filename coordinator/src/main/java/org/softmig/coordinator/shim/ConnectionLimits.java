package org.softmig.coordinator.shim;

import java.util.HashMap;
import java.util.Map;

/**
 * Bounds the open connections: per uid (as the kernel reports it) and in total, so that one user
 * cannot take all of the coordinator's memory or file descriptors. Root (uid 0) is never refused:
 * the administrator must always be able to reach a coordinator under attack. Thread-safe.
 *
 * @param perUid the most connections one uid may hold open
 * @param total the most connections of all non-root uids together
 */
public final class ConnectionLimits {

  /** What the coordinator uses: generous for a node's processes, small for its memory. */
  public static final int DEFAULT_PER_UID = 1024;

  public static final int DEFAULT_TOTAL = 8192;

  private final int perUid;
  private final int total;
  private final Map<Integer, Integer> open = new HashMap<>();
  private int openTotal;

  public ConnectionLimits(int perUid, int total) {
    if (perUid <= 0 || total <= 0) {
      throw new IllegalArgumentException("connection limits must be positive");
    }
    this.perUid = perUid;
    this.total = total;
  }

  public static ConnectionLimits defaults() {
    return new ConnectionLimits(DEFAULT_PER_UID, DEFAULT_TOTAL);
  }

  /**
   * Counts a new connection of {@code uid}; returns why it is refused (then nothing is counted),
   * or null. Every accepted connection must be closed with {@link #close(int)}.
   */
  public synchronized String open(int uid) {
    if (uid == 0) {
      return null;
    }
    int mine = open.getOrDefault(uid, 0);
    if (mine >= perUid) {
      return "uid " + uid + " already has " + mine + " connections open (the maximum)";
    }
    if (openTotal >= total) {
      return "the coordinator has " + openTotal + " connections open (the maximum)";
    }
    open.put(uid, mine + 1);
    openTotal++;
    return null;
  }

  /** A connection counted by {@link #open(int)} ended. */
  public synchronized void close(int uid) {
    if (uid == 0) {
      return;
    }
    Integer mine = open.get(uid);
    if (mine == null) {
      return;
    }
    if (mine <= 1) {
      open.remove(uid);
    } else {
      open.put(uid, mine - 1);
    }
    openTotal--;
  }

  /** Connections {@code uid} has open (root's are not counted). */
  public synchronized int openBy(int uid) {
    return open.getOrDefault(uid, 0);
  }
}
