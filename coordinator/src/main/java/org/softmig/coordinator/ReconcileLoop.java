package org.softmig.coordinator;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.softmig.coordinator.metrics.NodeMetrics;
import org.softmig.coordinator.nvml.GpuInfo;
import org.softmig.coordinator.nvml.GpuSampler;
import org.softmig.coordinator.nvml.ProcessKiller;
import org.softmig.coordinator.nvml.ReconcileMapping;
import org.softmig.coordinator.slurm.JobIdentityResolver;
import org.softmig.gpu.actor.GpuActor;
import org.softmig.gpu.actor.GpuSnapshot;
import org.softmig.gpu.actor.NodeGuardian;
import org.softmig.gpu.domain.ByteSizes;
import org.softmig.gpu.domain.Reconciler;
import org.softmig.proto.v1.NodeStatus;
import org.softmig.proto.v1.UnmanagedProcess;

/**
 * Once a round (every 500 ms by default): NVML's processes against the ledger.
 *
 * <ol>
 *   <li>the GPU actors' snapshots (sessions: pid, job, user, tracked bytes; limits; placements)
 *       and an NVML sample ({@link GpuSampler}, on its own thread);
 *   <li>owners (user, job from the cgroup) of the pids NVML lists without a session, from
 *       {@code /proc};
 *   <li>{@link Reconciler}: discrepancies, each job's usage as NVML sees it, findings;
 *   <li>findings logged once, killed under the {@code kill} policy (one attempt each, none in the
 *       first seconds after start-up, while shims reconnect after a restart);
 *   <li>each job's overhead ({@link OverheadEstimates}) sent to its GPU actor ({@link
 *       GpuActor.SetOverhead}), which charges it against the job's limit;
 *   <li>the observation handed to {@link LocalNode} for status, and status to the metrics.
 * </ol>
 *
 * <p>Everything runs on one dedicated thread ({@code softmig-reconcile}), never in an actor: it
 * waits for the actors and NVML, reads {@code /proc} and sends signals. A failing round is logged
 * and the next one runs as usual.
 */
public final class ReconcileLoop implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(ReconcileLoop.class);
  private static final long WAIT_SECONDS = 5;

  /**
   * @param interval time between rounds
   * @param graceNanos how long a condition must last before it is a finding; shorter than the
   *     interval means "seen in two rounds in a row"
   * @param killHoldOff no kills this long after start-up (shims reconnecting after a restart)
   * @param toleranceBytes a job is over its limit when NVML sees more than limit + this
   */
  public record Settings(
      Duration interval, long graceNanos, Duration killHoldOff, long toleranceBytes) {
    public static Settings defaults() {
      return new Settings(
          Duration.ofMillis(500),
          TimeUnit.MILLISECONDS.toNanos(400),
          Duration.ofSeconds(10),
          Reconciler.DEFAULT_TOLERANCE_BYTES);
    }
  }

  private record Key(String uuid, int pid, Reconciler.Reason reason) {}

  private final LocalNode node;
  private final GpuSampler sampler;
  private final Reconciler reconciler;
  private final JobIdentityResolver identities;
  private final Path procRoot;
  private final ProcessKiller killer;
  private final NodeMetrics metrics;
  private final Settings settings;
  private final LongSupplier clock;
  private final long startedNanos;
  private final ScheduledExecutorService executor;
  private final OverheadEstimates overheads = new OverheadEstimates();
  private final Map<String, GpuInfo> infos = new HashMap<>();
  private final Map<String, String> lastErrors = new HashMap<>();
  private Set<Key> killAttempted = new HashSet<>();
  private Set<Key> killed = new HashSet<>();
  private boolean lastRoundFailed;
  private volatile Supplier<Set<Integer>> ownPids = Set::of;

  private ReconcileLoop(
      LocalNode node,
      GpuSampler sampler,
      Reconciler reconciler,
      JobIdentityResolver identities,
      Path procRoot,
      ProcessKiller killer,
      NodeMetrics metrics,
      Settings settings,
      LongSupplier clock) {
    this.node = node;
    this.sampler = sampler;
    this.reconciler = reconciler;
    this.identities = identities;
    this.procRoot = procRoot;
    this.killer = killer;
    this.metrics = metrics;
    this.settings = settings;
    this.clock = clock;
    this.startedNanos = clock.getAsLong();
    node.gpuInfos().forEach(i -> infos.put(i.uuid(), i));
    this.executor =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "softmig-reconcile");
              t.setDaemon(true);
              return t;
            });
  }

  /**
   * Starts the rounds.
   *
   * @param metrics updated with the node's status after every round; null when metrics are off
   */
  public static ReconcileLoop start(
      LocalNode node,
      GpuSampler sampler,
      Reconciler reconciler,
      JobIdentityResolver identities,
      Path procRoot,
      ProcessKiller killer,
      NodeMetrics metrics,
      Settings settings) {
    ReconcileLoop loop =
        new ReconcileLoop(
            node, sampler, reconciler, identities, procRoot, killer, metrics, settings,
            System::nanoTime);
    long period = settings.interval().toMillis();
    loop.executor.scheduleAtFixedRate(loop::safeRound, period, period, TimeUnit.MILLISECONDS);
    return loop;
  }

  /**
   * Pids of processes the coordinator itself runs on the GPUs (MPS control daemons and servers):
   * taken out of NVML's process lists, so they are never unmanaged.
   */
  public void excludePids(Supplier<Set<Integer>> pids) {
    this.ownPids = pids;
  }

  private void safeRound() {
    try {
      round();
      if (lastRoundFailed) {
        log.info("Reconciliation works again");
        lastRoundFailed = false;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      if (!lastRoundFailed) {
        log.warn("Reconciliation round failed (logged once until it works again): {}", e.toString());
        lastRoundFailed = true;
      }
    }
  }

  private void round() throws Exception {
    List<GpuSnapshot> snapshots =
        node.snapshots().toCompletableFuture().get(WAIT_SECONDS, TimeUnit.SECONDS);
    Map<String, GpuSampler.GpuSample> samples = new HashMap<>();
    Set<Integer> own = ownPids.get();
    for (GpuSampler.GpuSample s : sampler.sample().get(WAIT_SECONDS, TimeUnit.SECONDS)) {
      samples.put(s.uuid(), withoutPids(s, own));
      noteError(s);
    }

    List<Reconciler.GpuInput> inputs = new ArrayList<>();
    List<String> measured = new ArrayList<>();
    for (GpuSnapshot snapshot : snapshots) {
      String uuid = snapshot.gpu().uuid();
      GpuInfo info = infos.get(uuid);
      GpuSampler.GpuSample sample = samples.get(uuid);
      if (info == null || info.simulated() || sample == null || !sample.ok()) {
        continue; // nothing NVML could tell about this GPU this round
      }
      inputs.add(input(snapshot, sample, info.migEnabled()));
      measured.add(uuid);
    }
    Map<Integer, Reconciler.ProcessOwner> owners = new HashMap<>();
    for (int pid : Reconciler.pidsWithoutSession(inputs)) {
      owner(pid).ifPresent(o -> owners.put(pid, o));
    }
    long now = clock.getAsLong();
    Reconciler.Result result = reconciler.reconcile(inputs, owners, now);

    List<UnmanagedProcess> unmanaged = act(result.findings(), now);
    sendOverheads(overheads.update(result.jobs(), measured), measured, samples);
    node.observe(observation(measured, samples, unmanaged));
    if (metrics != null) {
      NodeStatus status = node.status().toCompletableFuture().get(WAIT_SECONDS, TimeUnit.SECONDS);
      metrics.update(status);
    }
  }

  /** The sample without the coordinator's own processes. */
  static GpuSampler.GpuSample withoutPids(GpuSampler.GpuSample s, Set<Integer> own) {
    if (own.isEmpty()) {
      return s;
    }
    return new GpuSampler.GpuSample(
        s.uuid(),
        s.processes().stream().filter(p -> !own.contains(p.pid())).toList(),
        s.memoryUsedBytes(),
        s.utilizationPercent(),
        s.error());
  }

  /** One GPU's reconciler input from its actor's snapshot and NVML's sample. */
  static Reconciler.GpuInput input(
      GpuSnapshot snapshot, GpuSampler.GpuSample sample, boolean migEnabled) {
    boolean holdsSlices = false;
    List<Reconciler.Session> sessions = new ArrayList<>();
    Map<String, Long> limits = new HashMap<>();
    for (GpuSnapshot.JobSnapshot j : snapshot.jobs()) {
      holdsSlices |= j.placed() || j.memoryLimitBytes() > 0 || j.smLimitPercent() > 0;
      limits.put(j.jobId(), j.memoryLimitBytes());
      for (GpuSnapshot.ProcessSnapshot p : j.processes()) {
        if (p.pid() > 0) {
          sessions.add(new Reconciler.Session(p.pid(), j.jobId(), j.user(), p.usedBytes()));
        }
      }
    }
    return new Reconciler.GpuInput(
        snapshot.gpu().uuid(),
        holdsSlices && !migEnabled,
        ReconcileMapping.observed(sample.processes()),
        sessions,
        limits);
  }

  /** Logs new findings, kills under the policy, and returns the findings as status lists them. */
  private List<UnmanagedProcess> act(List<Reconciler.Finding> findings, long now) {
    boolean mayKill = now - startedNanos >= settings.killHoldOff().toNanos();
    Set<Key> attempted = new HashSet<>();
    Set<Key> sent = new HashSet<>();
    List<UnmanagedProcess> out = new ArrayList<>();
    for (Reconciler.Finding f : findings) {
      Key key = new Key(f.uuid(), f.pid(), f.reason());
      if (f.newlyFound()) {
        log.warn(
            "Unmanaged process [{}] of user [{}] job [{}] on [{}] uses [{}]: {}",
            f.pid(),
            f.user(),
            f.jobId(),
            f.uuid(),
            ByteSizes.format(f.usedBytes()),
            f.reason().text());
      }
      if (killAttempted.contains(key)) {
        attempted.add(key);
        if (killed.contains(key)) {
          sent.add(key);
        }
      } else if (f.kill() && mayKill) {
        attempted.add(key);
        if (killer.kill(f.pid())) {
          sent.add(key);
          if (metrics != null) {
            metrics.recordKill(f.uuid(), f.reason().text());
          }
        }
      }
      out.add(ReconcileMapping.unmanaged(f, sent.contains(key)));
    }
    killAttempted = attempted;
    killed = sent;
    return out;
  }

  /** Each GPU's job overheads, with NVML's bytes per pid (reconnect claims are checked on it). */
  private void sendOverheads(
      Map<String, Map<String, Long>> byGpu,
      List<String> measured,
      Map<String, GpuSampler.GpuSample> samples) {
    for (NodeGuardian.GpuRef gpu : node.gpus()) {
      String uuid = gpu.gpu().uuid();
      Map<String, Long> jobs = byGpu.get(uuid);
      if (jobs != null) {
        Map<Integer, Long> pids = new HashMap<>();
        if (measured.contains(uuid)) {
          samples
              .get(uuid)
              .processes()
              .forEach(p -> pids.merge(p.pid(), Math.max(0, p.usedBytes()), Long::sum));
        }
        gpu.ref().tell(new GpuActor.SetOverhead(jobs, pids));
      }
    }
  }

  private static NvmlObservation observation(
      List<String> measured,
      Map<String, GpuSampler.GpuSample> samples,
      List<UnmanagedProcess> unmanaged) {
    Map<String, Long> used = new HashMap<>();
    Map<String, Map<Integer, Long>> processes = new HashMap<>();
    for (String uuid : measured) {
      GpuSampler.GpuSample s = samples.get(uuid);
      if (s.memoryUsedBytes() >= 0) {
        used.put(uuid, s.memoryUsedBytes());
      }
      Map<Integer, Long> bytes = new TreeMap<>();
      s.processes().forEach(p -> bytes.merge(p.pid(), Math.max(0, p.usedBytes()), Long::sum));
      processes.put(uuid, bytes);
    }
    return new NvmlObservation(used, processes, unmanaged);
  }

  /** User and job of a process without a session, or empty when /proc does not know it. */
  private Optional<Reconciler.ProcessOwner> owner(int pid) {
    try {
      Object uid = Files.getAttribute(procRoot.resolve(Integer.toString(pid)), "unix:uid");
      String user = identities.userName(((Number) uid).intValue());
      return Optional.of(
          new Reconciler.ProcessOwner(user, identities.kernelJob(pid).orElse("")));
    } catch (Exception e) {
      return Optional.empty();
    }
  }

  private void noteError(GpuSampler.GpuSample s) {
    String before = lastErrors.get(s.uuid());
    if (s.ok()) {
      if (before != null) {
        log.info("NVML reads GPU [{}] again", s.uuid());
        lastErrors.remove(s.uuid());
      }
    } else if (!s.error().equals(before)) {
      log.warn("NVML cannot read GPU [{}]: {}", s.uuid(), s.error());
      lastErrors.put(s.uuid(), s.error());
    }
  }

  @Override
  public void close() {
    executor.shutdownNow();
    try {
      executor.awaitTermination(WAIT_SECONDS, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
