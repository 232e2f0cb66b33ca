package org.softmig.coordinator.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The nodes a cluster status lists: every node in membership now, and the nodes that left,
 * each until {@code forgetAfter} has passed since it left and at most {@code maxDeparted} of
 * them (the longest gone are forgotten first). Time is passed in; not thread-safe.
 */
final class RememberedNodes {

  private final long forgetAfterMillis;
  private final int maxDeparted;
  /** Node name to its observer flag. */
  private final SortedMap<String, Boolean> nodes = new TreeMap<>();
  /** Node name to when it left membership (the node is not a member now). */
  private final Map<String, Long> departedAt = new HashMap<>();

  RememberedNodes(Duration forgetAfter, int maxDeparted) {
    this.forgetAfterMillis = forgetAfter.toMillis();
    this.maxDeparted = maxDeparted;
  }

  /** The node is a member (again). */
  void member(String node, boolean observer) {
    nodes.put(node, observer);
    departedAt.remove(node);
  }

  /** The node left membership at {@code nowMillis}; unknown nodes are ignored. */
  void departed(String node, long nowMillis) {
    if (nodes.containsKey(node)) {
      departedAt.putIfAbsent(node, nowMillis);
    }
  }

  /**
   * Forgets the departed nodes that are past their time or over the count.
   *
   * @return the nodes forgotten, so that their last known state can go too
   */
  List<String> prune(long nowMillis) {
    List<String> forgotten = new ArrayList<>();
    departedAt.forEach(
        (node, at) -> {
          if (nowMillis - at >= forgetAfterMillis) {
            forgotten.add(node);
          }
        });
    forgotten.forEach(this::forget);
    if (departedAt.size() > maxDeparted) {
      List<Map.Entry<String, Long>> byAge = new ArrayList<>(departedAt.entrySet());
      byAge.sort(Map.Entry.comparingByValue(Comparator.naturalOrder()));
      for (int i = 0; i < byAge.size() - maxDeparted; i++) {
        forgotten.add(byAge.get(i).getKey());
        forget(byAge.get(i).getKey());
      }
    }
    return forgotten;
  }

  private void forget(String node) {
    nodes.remove(node);
    departedAt.remove(node);
  }

  /** Node name to observer flag, in name order. */
  SortedMap<String, Boolean> nodes() {
    return nodes;
  }
}
