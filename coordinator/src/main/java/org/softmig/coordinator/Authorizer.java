package org.softmig.coordinator;

import java.util.OptionalInt;
import org.softmig.coordinator.os.UserDirectory;
import org.softmig.coordinator.shim.Peer;

/**
 * Who may change things (place, release): root, the user the coordinator runs as, and members of
 * the admin group. Membership is the name service's (NSS: local files, LDAP, SSSD): the peer's
 * group as the kernel reports it, or any group of the peer uid's user as {@code getgrouplist}
 * answers, its primary group included. Anyone may read status. Blocking (name-service lookups):
 * call it off the event loop.
 */
public final class Authorizer {

  private final String adminGroup;
  private final UserDirectory users;
  private final int ownUid;

  public Authorizer(String adminGroup, UserDirectory users, int ownUid) {
    this.adminGroup = adminGroup == null ? "" : adminGroup;
    this.users = users;
    this.ownUid = ownUid;
  }

  public boolean mayAdminister(Peer peer) {
    if (peer.uid() == 0 || (ownUid >= 0 && peer.uid() == ownUid)) {
      return true;
    }
    if (adminGroup.isEmpty() || peer.uid() < 0) {
      return false;
    }
    OptionalInt admins = users.groupId(adminGroup);
    if (admins.isEmpty()) {
      return false;
    }
    int gid = admins.getAsInt();
    if (peer.gid() == gid) {
      return true;
    }
    return users.byUid(peer.uid()).map(a -> users.groups(a).contains(gid)).orElse(false);
  }

  /** The user name of a peer, else its uid as text. Blocking, as {@link #mayAdminister}. */
  public String userName(Peer peer) {
    return users.nameOf(peer.uid());
  }
}
