package org.softmig.coordinator.mps;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.softmig.coordinator.config.MpsSettings;
import org.softmig.proto.v1.MpsStatus;

/**
 * Runs MPS on the node's MPS GPUs: one control daemon per GPU, started at once, probed every
 * {@code probe-interval}, restarted when it dies or wedges, servers in fault shut down ({@link
 * MpsDaemonWatch} decides, {@link MpsControl} does). Each GPU has its own thread, so one wedged
 * daemon delays no other GPU. Incidents go to {@code incidents} (the GPU's actor, for the reports
 * of the jobs on it).
 *
 * <p>Closing stops the probes and leaves the daemons running: jobs keep their MPS server through a
 * coordinator restart, and the next coordinator finds the daemon by its pipe directory.
 */
public final class MpsSupervisor implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(MpsSupervisor.class);
  private static final int MISSED_ANSWERS_FOR_WEDGED = 3;

  private final MpsSettings settings;
  private final Map<String, Gpu> gpus = new TreeMap<>();
  private final ScheduledExecutorService executor;
  private final BiConsumer<String, String> incidents;

  private static final class Gpu {
    final String uuid;
    final MpsControl control;
    final MpsDaemonWatch watch;

    Gpu(String uuid, MpsControl control, MpsDaemonWatch watch) {
      this.uuid = uuid;
      this.control = control;
      this.watch = watch;
    }
  }

  private MpsSupervisor(
      MpsSettings settings, List<String> uuids, BiConsumer<String, String> incidents) {
    this.settings = settings;
    this.incidents = incidents;
    long grace = settings.serverFaultGrace().toNanos();
    long interval = settings.probeInterval().toNanos();
    MpsDaemonWatch.Settings watchSettings =
        new MpsDaemonWatch.Settings(
            grace,
            MISSED_ANSWERS_FOR_WEDGED,
            Math.max(interval, Duration.ofSeconds(1).toNanos()),
            Duration.ofMinutes(1).toNanos(),
            Duration.ofMinutes(2).toNanos());
    for (String uuid : uuids) {
      gpus.put(
          uuid,
          new Gpu(
              uuid,
              new MpsControl(
                  uuid, settings.control(), settings.baseDir(), settings.commandTimeout()),
              new MpsDaemonWatch(uuid, watchSettings)));
    }
    this.executor =
        Executors.newScheduledThreadPool(
            Math.max(1, uuids.size()),
            r -> {
              Thread t = new Thread(r, "softmig-mps");
              t.setDaemon(true);
              return t;
            });
  }

  /**
   * Starts supervising the GPUs (by UUID); each daemon is started (or found) in the first round,
   * on the supervisor's threads.
   *
   * @param incidents told (GPU UUID, text) of every incident
   */
  public static MpsSupervisor start(
      MpsSettings settings, List<String> uuids, BiConsumer<String, String> incidents) {
    MpsSupervisor s = new MpsSupervisor(settings, uuids, incidents);
    long period = settings.probeInterval().toMillis();
    for (Gpu gpu : s.gpus.values()) {
      s.executor.scheduleWithFixedDelay(() -> s.safeRound(gpu), 0, period, TimeUnit.MILLISECONDS);
    }
    return s;
  }

  private void safeRound(Gpu gpu) {
    try {
      round(gpu);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      log.warn("MPS round for [{}] failed: {}", gpu.uuid, e.toString());
    }
  }

  private void round(Gpu gpu) throws InterruptedException {
    MpsDaemonWatch.Action action;
    synchronized (gpu) {
      action = gpu.watch.tick(System.nanoTime());
    }
    // a few steps: probe, then what the probe asks for, then a restart due at once
    for (int step = 0; step < 4 && action != MpsDaemonWatch.Wait.INSTANCE; step++) {
      action = act(gpu, action);
    }
    List<MpsDaemonWatch.Incident> happened;
    synchronized (gpu) {
      happened = gpu.watch.drainIncidents();
    }
    for (MpsDaemonWatch.Incident i : happened) {
      log.warn("MPS on [{}]: {}", gpu.uuid, i.text());
      incidents.accept(gpu.uuid, Instant.now() + " " + i.text());
    }
  }

  private MpsDaemonWatch.Action act(Gpu gpu, MpsDaemonWatch.Action action)
      throws InterruptedException {
    if (action instanceof MpsDaemonWatch.StartDaemon) {
      try {
        int pid = gpu.control.start();
        log.info("MPS control daemon [{}] runs for [{}] on [{}]", pid, gpu.uuid,
            gpu.control.pipeDir());
        synchronized (gpu) {
          gpu.watch.daemonStarted(pid, System.nanoTime());
        }
        return MpsDaemonWatch.Probe.INSTANCE;
      } catch (java.io.IOException e) {
        synchronized (gpu) {
          gpu.watch.startFailed(e.getMessage(), System.nanoTime());
        }
        return MpsDaemonWatch.Wait.INSTANCE;
      }
    }
    if (action instanceof MpsDaemonWatch.Probe) {
      int pid;
      synchronized (gpu) {
        pid = gpu.watch.controlPid();
      }
      MpsDaemonWatch.Finding finding = gpu.control.probe(pid);
      synchronized (gpu) {
        return gpu.watch.probed(finding, System.nanoTime());
      }
    }
    if (action instanceof MpsDaemonWatch.ShutdownServer shut) {
      MpsControl.Reply reply = gpu.control.command("shutdown_server " + shut.pid() + " -f");
      if (reply instanceof MpsControl.Failed f) {
        log.warn("MPS server [{}] on [{}] would not shut down: {}", shut.pid(), gpu.uuid, f.why());
      }
      return MpsDaemonWatch.Wait.INSTANCE;
    }
    if (action instanceof MpsDaemonWatch.KillDaemon kill) {
      MpsControl.kill(kill.controlPid());
      kill.serverPids().forEach(MpsControl::kill);
      synchronized (gpu) {
        return gpu.watch.tick(System.nanoTime());
      }
    }
    return MpsDaemonWatch.Wait.INSTANCE;
  }

  /** The MPS GPUs' UUIDs. */
  public Set<String> gpus() {
    return gpus.keySet();
  }

  /** The pids of the daemons and servers this coordinator runs: never unmanaged processes. */
  public Set<Integer> ownPids() {
    Set<Integer> pids = new TreeSet<>();
    for (Gpu gpu : gpus.values()) {
      synchronized (gpu) {
        if (gpu.watch.controlPid() > 0) {
          pids.add(gpu.watch.controlPid());
        }
        pids.addAll(gpu.watch.serverPids());
      }
    }
    return pids;
  }

  /** The pipe directory of an MPS GPU, which its jobs' processes use. */
  public Optional<java.nio.file.Path> pipeDir(String uuid) {
    Gpu gpu = gpus.get(uuid);
    return gpu == null ? Optional.empty() : Optional.of(gpu.control.pipeDir());
  }

  /** The status of an MPS GPU; empty for a time-slicing one. */
  public Optional<MpsStatus> status(String uuid) {
    Gpu gpu = gpus.get(uuid);
    if (gpu == null) {
      return Optional.empty();
    }
    synchronized (gpu) {
      MpsDaemonWatch w = gpu.watch;
      return Optional.of(
          MpsStatus.newBuilder()
              .setState(w.state().label())
              .setControlPid(Math.max(0, w.controlPid()))
              .addAllServerPids(new ArrayList<>(w.serverPids()))
              .setRestarts(w.restarts())
              .setGated(settings.timeCaps())
              .setPipeDirectory(gpu.control.pipeDir().toString())
              .setLastIncident(w.lastIncident())
              .build());
    }
  }

  /** Stops probing; the daemons keep running (see the class comment). */
  @Override
  public void close() {
    executor.shutdownNow();
    try {
      executor.awaitTermination(settings.commandTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
