package org.softmig.coordinator.cluster;

import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.StatusReply;

/**
 * Builds the cluster status from what membership says and what the NodeViews answered. Every
 * node asked is in the result: a node that did not answer, is unreachable, has left, or has gone
 * silent is listed with {@code reachable=false}, its last known state, and the reason as its
 * health. Plain logic; {@link StatusFanOut} gathers the inputs.
 */
final class ClusterStatusAssembly {

  /** What cluster membership says about a node. */
  enum Membership {
    UP,
    JOINING,
    UNREACHABLE,
    LEFT
  }

  /**
   * A node to ask.
   *
   * @param address the member's address while it is joining or up: its own publisher is asked
   *     too, so a live node answers even while the member hosting its view is gone
   */
  record Target(String node, boolean observer, Membership membership, Optional<String> address) {
    Target(String node, boolean observer, Membership membership) {
      this(node, observer, membership, Optional.empty());
    }
  }

  private ClusterStatusAssembly() {}

  /**
   * How membership sees {@code node}. A restarted node can appear twice for a while (the old
   * incarnation leaving, the new joining): the best state wins.
   */
  static Membership membership(List<ClusterMember> members, String node) {
    Membership best = Membership.LEFT;
    for (ClusterMember m : members) {
      if (!m.node().equals(node)) {
        continue;
      }
      Membership state;
      if ("Up".equals(m.status()) || "WeaklyUp".equals(m.status())) {
        state = m.reachable() ? Membership.UP : Membership.UNREACHABLE;
      } else if ("Joining".equals(m.status())) {
        state = m.reachable() ? Membership.JOINING : Membership.UNREACHABLE;
      } else {
        state = Membership.LEFT;
      }
      if (state.ordinal() < best.ordinal()) {
        best = state;
      }
    }
    return best;
  }

  /** The address of the live incarnation of {@code node}, if membership has one. */
  static Optional<String> liveAddress(List<ClusterMember> members, String node) {
    return members.stream()
        .filter(m -> m.node().equals(node) && m.reachable())
        .filter(m -> List.of("Up", "WeaklyUp", "Joining").contains(m.status()))
        .map(ClusterMember::address)
        .findFirst();
  }

  /**
   * @param answers the NodeViews' answers by node; a node missing here did not answer in time
   * @param lastKnown the last state seen of each node in earlier queries
   * @param staleAfter a snapshot older than this means the node stopped reporting
   * @param timeout how long each node was given, for the reason text
   */
  static StatusReply assemble(
      List<Target> targets,
      Map<String, NodeView.Snapshot> answers,
      Map<String, NodeStatus> lastKnown,
      Duration staleAfter,
      Duration timeout) {
    StatusReply.Builder reply = StatusReply.newBuilder();
    targets.stream()
        .sorted(Comparator.comparing(Target::node))
        .forEach(t -> reply.addNodes(entry(t, answers.get(t.node()), lastKnown, staleAfter, timeout)));
    return reply.build();
  }

  private static NodeStatus entry(
      Target target,
      NodeView.Snapshot answer,
      Map<String, NodeStatus> lastKnown,
      Duration staleAfter,
      Duration timeout) {
    Optional<NodeStatus> fresh = answer == null ? Optional.empty() : answer.status();
    NodeStatus base =
        fresh
            .or(() -> Optional.ofNullable(lastKnown.get(target.node())))
            .orElse(NodeStatus.getDefaultInstance());
    String problem = problem(target, answer, staleAfter, timeout);
    NodeStatus.Builder b =
        base.toBuilder()
            .setNode(target.node())
            .setObserver(target.observer() || base.getObserver())
            .setReachable(problem == null);
    if (problem != null) {
      b.setHealth(problem);
    }
    return b.build();
  }

  private static String problem(
      Target target, NodeView.Snapshot answer, Duration staleAfter, Duration timeout) {
    switch (target.membership()) {
      case LEFT:
        return "not a cluster member";
      case UNREACHABLE:
        return "unreachable: the cluster lost contact";
      default:
        break;
    }
    if (answer == null) {
      return "no answer within " + timeout.toMillis() + " ms";
    }
    if (answer.status().isEmpty()) {
      return "no report received yet";
    }
    if (answer.ageMillis() > staleAfter.toMillis()) {
      return "last report " + answer.ageMillis() + " ms ago";
    }
    return null;
  }
}
