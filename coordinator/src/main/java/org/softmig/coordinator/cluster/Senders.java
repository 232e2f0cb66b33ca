package org.softmig.coordinator.cluster;

import akka.actor.Address;
import akka.actor.typed.ActorRef;
import akka.cluster.Member;
import akka.cluster.MemberStatus;
import akka.cluster.typed.Cluster;
import java.util.Optional;

/**
 * Who may speak for a node in the views: only the {@link NodePublisher} of the member that
 * carries the node's name (its {@code node:} role). When several members claim one name, the
 * oldest one holds it; a member that is down or removed holds none.
 */
final class Senders {

  private Senders() {}

  /** The address of the member that holds {@code node}, if any. */
  static Optional<Address> holderOf(Cluster cluster, String node) {
    Member holder = null;
    for (Member m : cluster.state().getMembers()) {
      if (m.status() == MemberStatus.down() || m.status() == MemberStatus.removed()) {
        continue;
      }
      if (!ClusterMember.nodeName(m).map(node::equals).orElse(false)) {
        continue;
      }
      if (holder == null || m.isOlderThan(holder)) {
        holder = m;
      }
    }
    return Optional.ofNullable(holder).map(Member::address);
  }

  /** Whether {@code from} is the publisher of the member that holds {@code node}. */
  static boolean isPublisherOf(Cluster cluster, ActorRef<?> from, String node) {
    if (from == null || node.isEmpty()) {
      return false;
    }
    if (!from.path().toStringWithoutAddress().equals("/system/" + NodePublisher.NAME)) {
      return false;
    }
    Address address = from.path().address();
    if (address.hasLocalScope()) {
      address = cluster.selfMember().address();
    }
    return holderOf(cluster, node).map(address::equals).orElse(false);
  }
}
