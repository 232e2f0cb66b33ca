package org.softmig.coordinator;

import akka.actor.BootstrapSetup;
import akka.actor.setup.ActorSystemSetup;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.DispatcherSelector;
import akka.actor.typed.Props;
import akka.actor.typed.javadsl.AskPattern;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.softmig.coordinator.cluster.ClusterSettings;
import org.softmig.coordinator.cluster.ClusterViews;
import org.softmig.coordinator.config.ClusterOptions;
import org.softmig.coordinator.config.NodeSettings;
import org.softmig.coordinator.nvml.GpuInfo;
import org.softmig.coordinator.metrics.MetricsServer;
import org.softmig.coordinator.metrics.NodeMetrics;
import org.softmig.coordinator.mps.MpsSupervisor;
import org.softmig.coordinator.nvml.GpuInventory;
import org.softmig.coordinator.nvml.GpuSampler;
import org.softmig.coordinator.nvml.ProcessKiller;
import org.softmig.coordinator.shim.Peer;
import org.softmig.coordinator.shim.ShimLoop;
import org.softmig.coordinator.shim.ShimServer;
import org.softmig.coordinator.shim.ShimServices;
import org.softmig.coordinator.slurm.JobIdentityResolver;
import org.softmig.coordinator.os.UserDirectory;
import org.softmig.coordinator.state.StateFile;
import org.softmig.coordinator.state.StateStore;
import org.softmig.gpu.actor.GpuActor;
import org.softmig.gpu.actor.GpuDescriptor;
import org.softmig.gpu.actor.GrantListener;
import org.softmig.gpu.actor.NodeGuardian;
import org.softmig.gpu.domain.Reconciler;
import org.softmig.gpu.domain.TimeSliceScheduler;

/**
 * A running coordinator: the actor system (a cluster member when seeds or a cluster port are
 * configured, else a local one that binds no TCP port), one GPU actor
 * per GPU of the inventory, the Unix socket server, the once-a-second reconciliation with NVML
 * ({@link ReconcileLoop}) and, with a metrics port, the Prometheus endpoint. {@link #close()}
 * stops all of it.
 */
public final class Coordinator implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Coordinator.class);
  /** How often this node's status is compared with the last one published to the cluster. */
  private static final Duration PUBLISH_CHECK = Duration.ofSeconds(1);

  /**
   * Once the socket is open the GPU actors' ledgers only record for this long: the shims of running jobs
   * reconnect (their back-off is at most 1 s) with what they hold before any job's first session
   * back is given memory that its other sessions still hold.
   */
  static final Duration SETTLE_AFTER_START = Duration.ofSeconds(3);

  private final NodeSettings settings;
  private final GpuInventory inventory;
  private final ActorSystem<NodeGuardian.Command> system;
  private final LocalNode node;
  private final NodeRequests requests;
  private final ShimServer server;
  private final ClusterViews views;
  private final ClusterPublishing publishing;
  private final GpuSampler sampler;
  private final ReconcileLoop reconcile;
  private final MetricsServer metricsServer;
  private final MpsSupervisor mps; // null without MPS GPUs
  private final StateStore state;
  private final ShimLoop loop;
  private final java.util.concurrent.atomic.AtomicBoolean closed =
      new java.util.concurrent.atomic.AtomicBoolean();

  private Coordinator(
      NodeSettings settings,
      GpuInventory inventory,
      ActorSystem<NodeGuardian.Command> system,
      LocalNode node,
      NodeRequests requests,
      ShimServer server,
      GpuSampler sampler,
      ReconcileLoop reconcile,
      MetricsServer metricsServer,
      ClusterViews views,
      ClusterPublishing publishing,
      MpsSupervisor mps,
      StateStore state,
      ShimLoop loop) {
    this.mps = mps;
    this.state = state;
    this.loop = loop;
    this.views = views;
    this.publishing = publishing;
    this.settings = settings;
    this.inventory = inventory;
    this.system = system;
    this.node = node;
    this.requests = requests;
    this.server = server;
    this.sampler = sampler;
    this.reconcile = reconcile;
    this.metricsServer = metricsServer;
  }

  /** Starts a coordinator; the inventory is closed with it. Kills are real SIGKILLs. */
  public static Coordinator start(NodeSettings settings, GpuInventory inventory) throws Exception {
    return start(settings, ClusterOptions.defaults(), inventory);
  }

  /** As {@link #start(NodeSettings, GpuInventory)}, joining the cluster as {@code cluster} says. */
  public static Coordinator start(
      NodeSettings settings, ClusterOptions cluster, GpuInventory inventory) throws Exception {
    return start(
        settings, cluster, inventory, ProcessKiller.sigkill(), ReconcileLoop.Settings.defaults());
  }

  /** As {@link #start(NodeSettings, GpuInventory)}, with the killer and round timing given. */
  public static Coordinator start(
      NodeSettings settings,
      GpuInventory inventory,
      ProcessKiller killer,
      ReconcileLoop.Settings reconcileSettings)
      throws Exception {
    return start(settings, ClusterOptions.defaults(), inventory, killer, reconcileSettings);
  }

  /** Starts a coordinator with everything given; the inventory is closed with it. */
  public static Coordinator start(
      NodeSettings settings,
      ClusterOptions cluster,
      GpuInventory inventory,
      ProcessKiller killer,
      ReconcileLoop.Settings reconcileSettings)
      throws Exception {
    ClusterSettings clusterSettings = cluster.toClusterSettings(settings);
    List<GpuDescriptor> descriptors = new ArrayList<>();
    List<String> mpsGpus = new ArrayList<>();
    for (GpuInfo g : inventory.gpus()) {
      boolean mps = settings.mps().mps(g.uuid(), g.index());
      descriptors.add(
          new GpuDescriptor(
              g.uuid(), g.index(), g.name(), g.memoryTotalBytes(), mps, !g.simulated()));
      if (mps) {
        mpsGpus.add(g.uuid());
      }
    }
    for (String named : settings.mps().gpus()) {
      if (inventory.gpus().stream()
          .noneMatch(g -> g.uuid().equals(named) || Integer.toString(g.index()).equals(named))) {
        log.warn("GPU [{}] is to be shared through MPS but this node has no such GPU", named);
      }
    }
    NodeMetrics metrics =
        settings.metricsPort() > 0 ? new NodeMetrics(settings.nodeName()) : null;
    GpuActor.Settings gpuSettings =
        new GpuActor.Settings(
            true,
            new TimeSliceScheduler.Settings(
                settings.smPolicy().equals("share")
                    ? TimeSliceScheduler.Policy.SHARE
                    : TimeSliceScheduler.Policy.CAP,
                TimeUnit.MILLISECONDS.toNanos(settings.leaseMillis()),
                TimeSliceScheduler.Settings.DEFAULT_GRACE_NANOS),
            metrics == null ? GrantListener.NONE : metrics.grantListener(),
            0, // contexts are charged by the shims as measured (CONTEXT reserves), not guessed
            SETTLE_AFTER_START);
    // the placements saved before a restart, put back before the socket opens
    StateStore state = new StateStore(new StateFile(settings.stateDir()));
    Config akkaConfig =
        settings.clustered() ? akkaConfig(clusterSettings) : standaloneAkkaConfig();
    ShimLoop loop = ShimLoop.start();
    ActorSystem<NodeGuardian.Command> system;
    try {
      system =
          ActorSystem.create(
              // on an MPS GPU jobs co-run: no lease gate unless the site asks for time caps on top
              NodeGuardian.create(
                  descriptors,
                  d -> d.mps() && !settings.mps().timeCaps() ? gpuSettings.withGated(false) : gpuSettings,
                  state.load(),
                  state,
                  gpuProps(akkaConfig)),
              ClusterSettings.SYSTEM_NAME,
              ActorSystemSetup.create(BootstrapSetup.create(akkaConfig)).withSetup(loop.setup()));
    } catch (RuntimeException e) {
      loop.close();
      throw e;
    }
    ShimServer server = null;
    GpuSampler sampler = null;
    ReconcileLoop reconcile = null;
    MetricsServer metricsServer = null;
    MpsSupervisor mps = null;
    try {
      ClusterViews views =
          settings.clustered()
              ? ClusterViews.start(system, clusterSettings)
              : ClusterViews.standalone(system, clusterSettings);
      NodeGuardian.Gpus gpus =
          AskPattern.<NodeGuardian.Command, NodeGuardian.Gpus>ask(
                  system, NodeGuardian.GetGpus::new, Duration.ofSeconds(10), system.scheduler())
              .toCompletableFuture()
              .get(10, TimeUnit.SECONDS);
      LocalNode node =
          new LocalNode(settings.nodeName(), system, system, gpus.gpus(), inventory.gpus());
      if (!mpsGpus.isEmpty()) {
        mps =
            MpsSupervisor.start(
                settings.mps(),
                mpsGpus,
                (uuid, text) ->
                    gpus.gpus().stream()
                        .filter(g -> g.gpu().uuid().equals(uuid))
                        .forEach(g -> g.ref().tell(new GpuActor.RecordIncident(text))));
        node.setMps(mps::status);
      }
      Executor blocking =
          system.dispatchers().lookup(DispatcherSelector.fromConfig("softmig.blocking-dispatcher"));
      UserDirectory users = UserDirectory.system();
      NodeRequests requests =
          new NodeRequests(
              node,
              new Authorizer(settings.adminGroup(), users, (int) ownUid()),
              blocking,
              settings.hideOtherUsers());
      Duration queryTimeout = clusterSettings.queryTimeout();
      requests.setClusterStatus(() -> views.clusterStatus(queryTimeout));
      requests.setClusterReport(job -> views.report(job, queryTimeout));
      ClusterPublishing publishing = new ClusterPublishing(node, views, PUBLISH_CHECK);
      ShimServices services =
          new ShimServices(
              system,
              new JobIdentityResolver(settings.procRoot(), settings.configDir(), users, 0),
              blocking,
              requests,
              settings.nodeName(),
              TimeUnit.MILLISECONDS.toMicros(settings.leaseMillis()),
              new AtomicLong(),
              ch -> Peer.UNKNOWN);
      server = ShimServer.start(settings.socket(), loop.group(), services);
      // shims reconnect from now on: the ledgers settle for SETTLE_AFTER_START from here
      gpus.gpus().forEach(g -> g.ref().tell(GpuActor.SocketOpen.INSTANCE));
      if (metrics != null) {
        metricsServer = MetricsServer.start(metrics.registry(), settings.metricsPort());
      }
      sampler = new GpuSampler(inventory);
      reconcile =
          ReconcileLoop.start(
              node,
              sampler,
              new Reconciler(
                  new Reconciler.Settings(
                      settings.unmanagedPolicy(),
                      reconcileSettings.toleranceBytes(),
                      reconcileSettings.graceNanos(),
                      Set.copyOf(settings.unmanagedExemptUsers()))),
              new JobIdentityResolver(settings.procRoot(), settings.configDir(), users, 0),
              settings.procRoot(),
              killer,
              metrics,
              reconcileSettings);
      if (mps != null) {
        reconcile.excludePids(mps::ownPids);
      }
      log.info(
          "Coordinator [{}] up with [{}] GPU(s) on [{}], unmanaged processes: [{}],"
              + " MPS on [{}]",
          settings.nodeName(),
          descriptors.size(),
          settings.socket(),
          settings.unmanagedPolicy().configValue(),
          mpsGpus);
      return new Coordinator(
          settings, inventory, system, node, requests, server, sampler, reconcile, metricsServer,
          views,
          publishing,
          mps,
          state,
          loop);
    } catch (Exception e) {
      if (mps != null) {
        mps.close();
      }
      if (reconcile != null) {
        reconcile.close();
      }
      if (sampler != null) {
        sampler.close();
      }
      if (metricsServer != null) {
        metricsServer.close();
      }
      if (server != null) {
        server.close();
      }
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
      state.close();
      loop.close();
      inventory.close();
      throw e;
    }
  }

  private static long ownUid() {
    try {
      return ((Number) java.nio.file.Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
    } catch (Exception e) {
      return -1;
    }
  }

  /** The cluster member's Akka settings over application.conf (and -D system properties). */
  static Config akkaConfig(ClusterSettings cluster) {
    return cluster.toAkkaConfig().withFallback(ConfigFactory.load());
  }

  /**
   * The props of the GPU actors: the dispatcher {@code softmig.gpu-dispatcher} (reference.conf:
   * the shim loop, {@link ShimLoop}) when the configuration defines one, else the default
   * dispatcher.
   */
  static Props gpuProps(Config config) {
    return config.hasPath(GPU_DISPATCHER + ".type")
        ? DispatcherSelector.fromConfig(GPU_DISPATCHER)
        : Props.empty();
  }

  static final String GPU_DISPATCHER = "softmig.gpu-dispatcher";

  /**
   * A node that stands alone (no seeds, no cluster port): a local actor system, so that no TCP
   * port is bound and several coordinators can run on one host.
   */
  static Config standaloneAkkaConfig() {
    return ConfigFactory.parseString("akka.actor.provider = local").withFallback(ConfigFactory.load());
  }

  /** The cluster views of this node (membership, cluster status, job reports). */
  public ClusterViews cluster() {
    return views;
  }

  public NodeSettings settings() {
    return settings;
  }

  public LocalNode node() {
    return node;
  }

  /** The CLI request handler, e.g. to plug in the cluster-wide status. */
  public NodeRequests requests() {
    return requests;
  }

  public ActorSystem<NodeGuardian.Command> system() {
    return system;
  }

  public Path socket() {
    return server.socket();
  }

  /** The metrics endpoint's port, or 0 when metrics are off. */
  public int metricsPort() {
    return metricsServer == null ? 0 : metricsServer.port();
  }

  /** The MPS supervisor, when the node has MPS GPUs. */
  public java.util.Optional<MpsSupervisor> mps() {
    return java.util.Optional.ofNullable(mps);
  }

  /** Blocks until the actor system ends. */
  public void awaitTermination() throws Exception {
    system.getWhenTerminated().toCompletableFuture().get();
  }

  /**
   * Why the actor system stopped although nobody closed this coordinator: the cluster downed or
   * removed this node (another member's {@code Down}, the Split Brain Resolver), or Akka stopped
   * for another reason. Empty while it runs or after {@link #close()}.
   */
  public java.util.Optional<String> stoppedWithoutClose() {
    if (closed.get() || !system.getWhenTerminated().toCompletableFuture().isDone()) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of(
        akka.actor.CoordinatedShutdown.get(system)
            .getShutdownReason()
            .map(reason -> reason.getClass().getSimpleName().replace("$", ""))
            .orElse("the actor system terminated"));
  }

  /** Stops the socket server, the actor system and the inventory; only the first call acts. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    reconcile.close();
    if (mps != null) {
      mps.close();
    }
    sampler.close();
    if (metricsServer != null) {
      metricsServer.close();
    }
    server.close();
    publishing.close();
    system.terminate();
    try {
      system.getWhenTerminated().toCompletableFuture().get(15, TimeUnit.SECONDS);
    } catch (Exception e) {
      log.warn("Actor system did not stop in time: {}", e.toString());
    }
    state.close();
    loop.close();
    inventory.close();
  }
}
