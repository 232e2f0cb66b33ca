package org.softmig.coordinator.cluster;

import akka.cluster.ClusterEvent;
import akka.cluster.Member;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * One member of the cluster as membership sees it now.
 *
 * @param node the node name (from the member's {@code node:} role); its address when it has none
 * @param address the member's Akka address, {@code akka://softmig@host:port}
 * @param status Akka's member status: Joining, WeaklyUp, Up, Leaving, Exiting, Down, Removed
 * @param reachable false while the failure detector of some member has lost it
 * @param observer a node without GPUs
 */
public record ClusterMember(
    String node, String address, String status, boolean reachable, boolean observer) {

  /** Up or WeaklyUp, and reachable. */
  public boolean isUp() {
    return reachable && ("Up".equals(status) || "WeaklyUp".equals(status));
  }

  /** The members of a membership snapshot, ordered by node name. */
  public static List<ClusterMember> of(ClusterEvent.CurrentClusterState state) {
    Set<Member> unreachable = state.getUnreachable();
    List<ClusterMember> members = new ArrayList<>();
    for (Member m : state.getMembers()) {
      members.add(of(m, !unreachable.contains(m)));
    }
    members.sort(Comparator.comparing(ClusterMember::node).thenComparing(ClusterMember::address));
    return members;
  }

  static ClusterMember of(Member m, boolean reachable) {
    return new ClusterMember(
        nodeName(m).orElse(m.address().toString()),
        m.address().toString(),
        m.status().toString(),
        reachable,
        m.hasRole(ClusterSettings.ROLE_OBSERVER));
  }

  /** The softmig node name a member carries in its {@code node:} role. */
  static Optional<String> nodeName(Member m) {
    for (String role : m.getRoles()) {
      if (role.startsWith(ClusterSettings.ROLE_NODE_PREFIX)) {
        return Optional.of(role.substring(ClusterSettings.ROLE_NODE_PREFIX.length()));
      }
    }
    return Optional.empty();
  }
}
