package org.softmig.coordinator;

import akka.actor.Cancellable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.concurrent.ConcurrentHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.softmig.coordinator.cluster.ClusterViews;
import org.softmig.gpu.actor.JobReportSnapshot;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobReport;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;

/**
 * Feeds the cluster views from this node: every {@code checkInterval} it reads the node's status
 * and publishes it when it changed or when a push interval passed without a push; it publishes
 * each job's part per GPU when the job appears and every push interval, and the final part
 * ({@code ended=true}) when the job is gone from the node (released, or its last session closed).
 */
final class ClusterPublishing implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(ClusterPublishing.class);

  private final LocalNode node;
  private final ClusterViews views;
  private final long pushIntervalMillis;
  private final AtomicBoolean busy = new AtomicBoolean();
  private final Cancellable task;

  // touched only by one tick at a time (busy); lastParts also by its job callbacks
  private NodeStatus lastPublished;
  private long lastPushMillis;
  private long lastJobPushMillis;
  private final Map<String, List<JobReport>> lastParts = new ConcurrentHashMap<>();

  ClusterPublishing(LocalNode node, ClusterViews views, Duration checkInterval) {
    this.node = node;
    this.views = views;
    this.pushIntervalMillis = views.settings().pushInterval().toMillis();
    var system = node.system();
    this.task =
        system
            .scheduler()
            .scheduleWithFixedDelay(
                Duration.ZERO, checkInterval, this::tick, system.executionContext());
  }

  private void tick() {
    if (!busy.compareAndSet(false, true)) {
      return;
    }
    node.status()
        .thenCompose(this::publish)
        .whenComplete(
            (done, failure) -> {
              if (failure != null) {
                log.warn("Could not publish this node to the cluster: {}", failure.toString());
              }
              busy.set(false);
            });
  }

  private CompletionStage<Void> publish(NodeStatus status) {
    long now = System.currentTimeMillis();
    NodeStatus comparable = status.toBuilder().clearUpdatedUnixMs().build();
    if (!comparable.equals(lastPublished) || now - lastPushMillis >= pushIntervalMillis) {
      views.publishNode(status);
      lastPublished = comparable;
      lastPushMillis = now;
    }
    Set<String> jobs = new LinkedHashSet<>();
    for (GpuStatus g : status.getGpusList()) {
      for (JobStatus j : g.getJobsList()) {
        jobs.add(j.getJobId());
      }
    }
    boolean periodic = now - lastJobPushMillis >= pushIntervalMillis;
    if (periodic) {
      lastJobPushMillis = now;
    }
    List<CompletableFuture<Void>> pushes = new ArrayList<>();
    for (String job : jobs) {
      if (periodic || !lastParts.containsKey(job)) {
        pushes.add(publishJob(job, false, now));
      }
    }
    for (String job : new ArrayList<>(lastParts.keySet())) {
      if (!jobs.contains(job)) {
        pushes.add(publishJob(job, true, now));
      }
    }
    return CompletableFuture.allOf(pushes.toArray(new CompletableFuture[0]));
  }

  /** Publishes the job's parts; a job that ended and left no report keeps its last parts. */
  private CompletableFuture<Void> publishJob(String job, boolean ended, long now) {
    return node.reports(job)
        .thenAccept(
            snapshots -> {
              List<JobReport> parts = new ArrayList<>();
              for (JobReportSnapshot s : snapshots) {
                parts.add(StatusMapping.jobReport(node.name(), s));
              }
              if (ended && parts.isEmpty()) {
                for (JobReport last : lastParts.getOrDefault(job, List.of())) {
                  parts.add(last.getEndedUnixMs() == 0 ? last.toBuilder().setEndedUnixMs(now).build() : last);
                }
              }
              parts.forEach(part -> views.publishJob(part, ended));
              if (ended) {
                lastParts.remove(job);
              } else {
                lastParts.put(job, parts);
              }
            })
        .toCompletableFuture();
  }

  @Override
  public void close() {
    task.cancel();
  }
}
