package org.softmig.coordinator.metrics;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.softmig.gpu.actor.GrantListener;
import org.softmig.proto.v1.GpuStatus;
import org.softmig.proto.v1.JobStatus;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.UnmanagedProcess;

/**
 * The node's Prometheus metrics.
 *
 * <p>Most values come from the node's status snapshot (the same {@link NodeStatus} that {@code
 * softmig status} shows): {@link #update} swaps in the latest one and every gauge and counter is
 * read from it at scrape time, so a scrape always sees one consistent snapshot and jobs that are
 * gone disappear with it. Totals in the snapshot (GPU time, throttled time, OOM refusals) are
 * exposed as counters. Two things are events rather than state and are recorded as they happen:
 * lease grants ({@link #recordGrant}) with their hand-off latency ({@link #recordHandoff}) and kills of unmanaged processes ({@link
 * #recordKill}).
 *
 * <p>Labels: {@code node}, {@code gpu} (the GPU's UUID), {@code job}, {@code user}, and {@code
 * reason} for unmanaged processes. Ratios are 0..1 (a 25 % SM limit is 0.25); times are seconds.
 */
public final class NodeMetrics {
  private static final String[] GPU_LABELS = {"node", "gpu"};
  private static final String[] JOB_LABELS = {"node", "gpu", "job", "user"};

  /** Grant latency buckets, seconds: from an idle hand-off (~100 µs) to a starved job. */
  private static final double[] GRANT_LATENCY_BUCKETS = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
    2.5
  };

  private final String node;
  private final PrometheusRegistry registry;
  private final AtomicReference<NodeStatus> snapshot =
      new AtomicReference<>(NodeStatus.getDefaultInstance());
  private final Counter grants;
  private final Histogram grantLatency;
  private final Counter kills;

  /** Registers the metrics in a new registry. */
  public NodeMetrics(String node) {
    this(node, new PrometheusRegistry());
  }

  /** Registers the metrics in {@code registry}; a registry takes one NodeMetrics. */
  public NodeMetrics(String node, PrometheusRegistry registry) {
    this.node = Objects.requireNonNull(node, "node");
    this.registry = Objects.requireNonNull(registry, "registry");

    gpuGauge(
        "softmig_gpu_memory_total_bytes",
        "Device memory of the GPU.",
        g -> (double) g.getMemoryTotalBytes());
    gpuGauge(
        "softmig_gpu_memory_committed_bytes",
        "Memory reserved on the GPU by placements and job limits.",
        g -> (double) g.getMemoryCommittedBytes());
    gpuGauge(
        "softmig_gpu_memory_used_bytes",
        "Memory in use on the GPU as NVML sees it (the ledger on simulated GPUs).",
        g -> (double) g.getMemoryUsedBytes());
    gpuGauge(
        "softmig_gpu_sm_committed_ratio",
        "SM time promised to the jobs on the GPU, as a fraction of the GPU.",
        g -> g.getSmCommittedPercent() / 100.0);
    gpuGauge(
        "softmig_gpu_sessions",
        "Processes with a shim session on the GPU.",
        g -> (double) g.getJobsList().stream().mapToInt(JobStatus::getProcessesCount).sum());

    jobGauge(
        "softmig_job_memory_limit_bytes",
        "Memory limit of the job on the GPU; 0 = none.",
        j -> (double) j.getMemoryLimitBytes());
    jobGauge(
        "softmig_job_memory_used_bytes",
        "Memory the job uses on the GPU.",
        j -> (double) j.getMemoryUsedBytes());
    jobGauge(
        "softmig_job_memory_peak_bytes",
        "Highest memory use of the job on the GPU.",
        j -> (double) j.getMemoryPeakBytes());
    jobGauge(
        "softmig_job_memory_over_limit",
        "1 while the job holds more than its memory limit on the GPU (it is refused every"
            + " allocation until under), else 0.",
        j -> j.getMemoryOverLimit() ? 1.0 : 0.0);
    jobGauge(
        "softmig_job_memory_clamped_bytes",
        "Bytes of the job's reconnect claims that could not be verified: they count against the"
            + " job's own limit, not the card.",
        j -> (double) j.getMemoryClampedBytes());
    jobGauge(
        "softmig_job_sm_limit_ratio",
        "SM time limit of the job, as a fraction of the GPU; 0 = none.",
        j -> j.getSmLimitPercent() / 100.0);
    jobGauge(
        "softmig_job_sm_share_ratio",
        "SM time the job got over the last 10 s, as a fraction of the GPU.",
        j -> j.getSmSharePercent() / 100.0);
    jobCounter(
        "softmig_job_gpu_seconds",
        "GPU time charged to the job.",
        j -> j.getGpuTimeUs() / 1e6);
    jobCounter(
        "softmig_job_throttled_seconds",
        "Time the job's processes waited for a lease.",
        j -> j.getThrottledUs() / 1e6);
    jobCounter(
        "softmig_job_oom_refusals",
        "Allocations refused because the job was at its memory limit.",
        j -> (double) j.getOomRefusals());

    GaugeWithCallback.builder()
        .name("softmig_gpu_mps_state")
        .help("1 for a GPU shared through MPS, with the state of its control daemon and server.")
        .labelNames("node", "gpu", "state", "gated")
        .callback(
            cb ->
                forEachGpu(
                    g -> {
                      if (g.hasMps()) {
                        cb.call(
                            1, node, g.getUuid(), g.getMps().getState(),
                            Boolean.toString(g.getMps().getGated()));
                      }
                    }))
        .register(registry);
    GaugeWithCallback.builder()
        .name("softmig_gpu_mps_servers")
        .help("MPS servers running on the GPU (0 or 1; more while one of them ends).")
        .labelNames(GPU_LABELS)
        .callback(
            cb ->
                forEachGpu(
                    g -> {
                      if (g.hasMps()) {
                        cb.call(g.getMps().getServerPidsCount(), node, g.getUuid());
                      }
                    }))
        .register(registry);
    CounterWithCallback.builder()
        .name("softmig_gpu_mps_restarts")
        .help("MPS control daemon restarts and forced server shutdowns on the GPU.")
        .labelNames(GPU_LABELS)
        .callback(
            cb ->
                forEachGpu(
                    g -> {
                      if (g.hasMps()) {
                        cb.call(g.getMps().getRestarts(), node, g.getUuid());
                      }
                    }))
        .register(registry);

    GaugeWithCallback.builder()
        .name("softmig_unmanaged_processes")
        .help("Processes on the GPU that the node does not manage, by reason.")
        .labelNames("node", "gpu", "reason")
        .callback(this::collectUnmanaged)
        .register(registry);
    GaugeWithCallback.builder()
        .name("softmig_status_updated_timestamp_seconds")
        .help("When the status these metrics come from was taken.")
        .labelNames("node")
        .callback(
            cb -> {
              NodeStatus s = snapshot.get();
              if (s.getUpdatedUnixMs() > 0) {
                cb.call(s.getUpdatedUnixMs() / 1000.0, node);
              }
            })
        .register(registry);

    grants =
        Counter.builder()
            .name("softmig_grants_total")
            .help("SM time-slice leases granted.")
            .labelNames(JOB_LABELS)
            .register(registry);
    grantLatency =
        Histogram.builder()
            .name("softmig_grant_latency_seconds")
            .help(
                "Lease hand-off: from the GPU becoming free (the previous holder's release, or"
                    + " a request on an idle GPU) until the next holder received its grant.")
            .labelNames(JOB_LABELS)
            .classicOnly()
            .classicUpperBounds(GRANT_LATENCY_BUCKETS)
            .register(registry);
    kills =
        Counter.builder()
            .name("softmig_unmanaged_kills_total")
            .help("Processes killed because they used a sliced GPU without a session or over"
                + " their job's limit.")
            .labelNames("node", "gpu", "reason")
            .register(registry);
  }

  public PrometheusRegistry registry() {
    return registry;
  }

  /**
   * Takes the node's latest status. Grant series of jobs no longer in it are dropped, so ended
   * jobs do not pile up.
   */
  public void update(NodeStatus status) {
    snapshot.set(Objects.requireNonNull(status, "status"));
    Set<List<String>> current = new HashSet<>();
    forEachJob(status, (g, j) -> current.add(List.of(node, g.getUuid(), j.getJobId(), j.getUser())));
    grants.removeIf(labels -> !current.contains(labels));
    grantLatency.removeIf(labels -> !current.contains(labels));
  }

  /** A lease was granted to {@code jobId} on {@code gpuUuid}. */
  public void recordGrant(String gpuUuid, String jobId, String user) {
    grants.labelValues(node, gpuUuid, jobId, user).inc();
  }

  /** A holder of a lease of {@code jobId} reported the hand-off it saw. */
  public void recordHandoff(String gpuUuid, String jobId, String user, long handoffNanos) {
    grantLatency
        .labelValues(node, gpuUuid, jobId, user)
        .observe(Math.max(0, handoffNanos) / 1e9);
  }

  /** Feeds {@link #recordGrant} and {@link #recordHandoff} from the GPU actors. */
  public GrantListener grantListener() {
    return new GrantListener() {
      @Override
      public void granted(String gpuUuid, String jobId, String user, long latencyNanos) {
        recordGrant(gpuUuid, jobId, user);
      }

      @Override
      public void handedOff(String gpuUuid, String jobId, String user, long handoffNanos) {
        recordHandoff(gpuUuid, jobId, user, handoffNanos);
      }
    };
  }

  /** An unmanaged process was killed; {@code reason} is "no session" or "over limit". */
  public void recordKill(String gpuUuid, String reason) {
    kills.labelValues(node, gpuUuid, reason).inc();
  }

  private void gpuGauge(String name, String help, ToDouble<GpuStatus> value) {
    GaugeWithCallback.builder()
        .name(name)
        .help(help)
        .labelNames(GPU_LABELS)
        .callback(cb -> forEachGpu(g -> cb.call(value.of(g), node, g.getUuid())))
        .register(registry);
  }

  private void jobGauge(String name, String help, ToDouble<JobStatus> value) {
    GaugeWithCallback.builder()
        .name(name)
        .help(help)
        .labelNames(JOB_LABELS)
        .callback(
            cb ->
                forEachUniqueJob(
                    (g, j) -> cb.call(value.of(j), node, g.getUuid(), j.getJobId(), j.getUser())))
        .register(registry);
  }

  private void jobCounter(String name, String help, ToDouble<JobStatus> value) {
    CounterWithCallback.builder()
        .name(name)
        .help(help)
        .labelNames(JOB_LABELS)
        .callback(
            cb ->
                forEachUniqueJob(
                    (g, j) -> cb.call(value.of(j), node, g.getUuid(), j.getJobId(), j.getUser())))
        .register(registry);
  }

  private void collectUnmanaged(GaugeWithCallback.Callback cb) {
    Map<List<String>, Integer> counts = new TreeMap<>(NodeMetrics::compareLabels);
    for (UnmanagedProcess p : snapshot.get().getUnmanagedProcessesList()) {
      counts.merge(List.of(p.getGpuUuid(), p.getReason()), 1, Integer::sum);
    }
    counts.forEach((k, n) -> cb.call(n, node, k.get(0), k.get(1)));
  }

  private void forEachGpu(Consumer<GpuStatus> action) {
    Set<String> seen = new HashSet<>();
    for (GpuStatus g : snapshot.get().getGpusList()) {
      if (seen.add(g.getUuid())) {
        action.accept(g);
      }
    }
  }

  /** Each (GPU, job, user) once: Prometheus refuses duplicate series in one scrape. */
  private void forEachUniqueJob(BiConsumer<GpuStatus, JobStatus> action) {
    Set<List<String>> seen = new HashSet<>();
    forEachJob(
        snapshot.get(),
        (g, j) -> {
          if (seen.add(List.of(g.getUuid(), j.getJobId(), j.getUser()))) {
            action.accept(g, j);
          }
        });
  }

  private static void forEachJob(NodeStatus status, BiConsumer<GpuStatus, JobStatus> action) {
    Set<String> gpus = new HashSet<>();
    for (GpuStatus g : status.getGpusList()) {
      if (gpus.add(g.getUuid())) {
        for (JobStatus j : g.getJobsList()) {
          action.accept(g, j);
        }
      }
    }
  }

  private static int compareLabels(List<String> a, List<String> b) {
    int c = a.get(0).compareTo(b.get(0));
    return c != 0 ? c : a.get(1).compareTo(b.get(1));
  }

  @FunctionalInterface
  private interface ToDouble<T> {
    double of(T t);
  }
}
