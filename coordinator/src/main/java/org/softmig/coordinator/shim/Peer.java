package org.softmig.coordinator.shim;

/** The process at the other end of a connection, as the kernel reports it (SO_PEERCRED). */
public record Peer(int pid, int uid, int gid) {

  public static final Peer UNKNOWN = new Peer(0, -1, -1);
}
