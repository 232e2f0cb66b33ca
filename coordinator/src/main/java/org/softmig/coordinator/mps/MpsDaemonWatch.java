package org.softmig.coordinator.mps;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What the coordinator knows of the MPS control daemon and server of one GPU, and what it does
 * next: start the daemon, probe it, shut down a server that stays in fault, kill a daemon that no
 * longer answers or has died, and restart it with a growing back-off. Plain Java, time passed in;
 * the {@link MpsSupervisor} runs the actions and reports what they found.
 *
 * <p>The loop: {@link #tick} says what to do now ({@link Probe} the daemon, {@link StartDaemon},
 * or nothing while backing off); the supervisor does it and reports {@link #daemonStarted}, {@link
 * #startFailed} or {@link #probed} with what the probe found, which may ask for a {@link
 * ShutdownServer} or a {@link KillDaemon}. Faults are judged from the daemon's answers and the
 * liveness of processes, never from log text:
 *
 * <ul>
 *   <li>the daemon's process is gone: restart it (the first time at once, then after a back-off
 *       that doubles up to a maximum, reset once the daemon has run well for a while);
 *   <li>the daemon's process lives but has not answered {@code missedAnswersForWedged} probes in a
 *       row: it is wedged; kill it (and its servers) and restart it;
 *   <li>a server is in fault (the daemon says so, or its process is gone while still listed) for
 *       longer than the grace: shut it down (forced), so that the next client gets a fresh one;
 *       still listed in fault a grace after that: kill the daemon and its servers, restart.
 * </ul>
 *
 * Every such step is an {@link Incident} for the reports of the jobs on the GPU.
 */
public final class MpsDaemonWatch {

  public enum State {
    /** Nothing started yet. */
    STOPPED,
    /** A start was asked for and has not been reported. */
    STARTING,
    /** The daemon runs; its servers, if any, are well. */
    READY,
    /** The daemon runs and a server of it is in fault. */
    SERVER_FAULT,
    /** The daemon is down (died, wedged and killed, or would not start): waiting to restart. */
    BACKING_OFF;

    /** As status shows it: {@code ready}, {@code server-fault}, ... */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }
  }

  /**
   * @param serverFaultGraceNanos how long a server may stay in fault before it is shut down
   * @param missedAnswersForWedged probes in a row without an answer that make a live daemon wedged
   * @param backoffMinNanos the wait before the second restart in a row (the first is at once)
   * @param backoffMaxNanos the longest wait between restarts
   * @param stableNanos how long the daemon must run well before the back-off starts over
   */
  public record Settings(
      long serverFaultGraceNanos,
      int missedAnswersForWedged,
      long backoffMinNanos,
      long backoffMaxNanos,
      long stableNanos) {
    public Settings {
      if (serverFaultGraceNanos <= 0 || backoffMinNanos <= 0 || stableNanos <= 0) {
        throw new IllegalArgumentException("grace, back-off and stable time must be positive");
      }
      if (missedAnswersForWedged < 1) {
        throw new IllegalArgumentException(
            "missedAnswersForWedged must be >= 1, got " + missedAnswersForWedged);
      }
      if (backoffMaxNanos < backoffMinNanos) {
        throw new IllegalArgumentException("backoffMaxNanos must be >= backoffMinNanos");
      }
    }
  }

  /** A server the daemon lists; {@code faulted}: in fault, or its process is gone. */
  public record Server(int pid, boolean faulted) {}

  /** What one probe of the daemon found. */
  public sealed interface Finding {}

  /** The daemon answered with its servers. */
  public record Answered(List<Server> servers) implements Finding {
    public Answered {
      servers = List.copyOf(servers);
    }
  }

  /** The daemon's process lives but did not answer in time (or answered with an error). */
  public record NoAnswer(String why) implements Finding {}

  /** The daemon's process is gone. */
  public record DaemonGone() implements Finding {}

  /** What the supervisor is to do. */
  public sealed interface Action {}

  /** Nothing now (backing off). */
  public enum Wait implements Action {
    INSTANCE
  }

  /** Ask the daemon for its servers and their state; report with {@link #probed}. */
  public enum Probe implements Action {
    INSTANCE
  }

  /** Start the daemon; report with {@link #daemonStarted} or {@link #startFailed}. */
  public record StartDaemon() implements Action {}

  /** Force a server down; the daemon starts a fresh one for the next client. */
  public record ShutdownServer(int pid, String reason) implements Action {}

  /** Kill the daemon and the servers it had (SIGKILL); the next {@link #tick} restarts it. */
  public record KillDaemon(int controlPid, Set<Integer> serverPids, String reason)
      implements Action {
    public KillDaemon {
      serverPids = Set.copyOf(serverPids);
    }
  }

  /** Something that may have hurt the jobs on the GPU, at the supervisor's clock. */
  public record Incident(long atNanos, String text) {}

  private final String gpu;
  private final Settings settings;
  private State state = State.STOPPED;
  private int controlPid;
  private final Set<Integer> serverPids = new TreeSet<>();
  private final Map<Integer, Long> faultSince = new HashMap<>();
  private final Set<Integer> shutDown = new HashSet<>();
  private int missedAnswers;
  private int failuresInRow;
  private long retryAt;
  private long runningSince;
  private long restarts;
  private final List<Incident> incidents = new ArrayList<>();
  private String lastIncident = "";

  /** @param gpu the GPU's UUID, for incident texts */
  public MpsDaemonWatch(String gpu, Settings settings) {
    this.gpu = gpu;
    this.settings = settings;
  }

  /** What to do now. */
  public Action tick(long now) {
    switch (state) {
      case STOPPED:
        state = State.STARTING;
        return new StartDaemon();
      case BACKING_OFF:
        if (now - retryAt >= 0) {
          state = State.STARTING;
          return new StartDaemon();
        }
        return Wait.INSTANCE;
      case STARTING:
        return Wait.INSTANCE;
      default:
        return Probe.INSTANCE;
    }
  }

  /** The daemon runs with this pid (started now, or found running from before). */
  public void daemonStarted(int pid, long now) {
    controlPid = pid;
    state = State.READY;
    runningSince = now;
    missedAnswers = 0;
    serverPids.clear();
    faultSince.clear();
    shutDown.clear();
  }

  /** The start did not bring a daemon up. */
  public void startFailed(String why, long now) {
    down("MPS control daemon for " + gpu + " did not start: " + why, now);
  }

  /** What a probe found; answers the action it calls for ({@link Wait} when none). */
  public Action probed(Finding finding, long now) {
    if (state != State.READY && state != State.SERVER_FAULT) {
      return Wait.INSTANCE; // a late report from before a restart
    }
    if (finding instanceof DaemonGone) {
      int pid = controlPid;
      Set<Integer> servers = Set.copyOf(serverPids);
      down("MPS control daemon [" + pid + "] for " + gpu + " died; restarting it", now);
      // its servers, if any still run, belong to no daemon now
      return servers.isEmpty()
          ? Wait.INSTANCE
          : new KillDaemon(0, servers, "servers of a dead MPS control daemon");
    }
    if (finding instanceof NoAnswer no) {
      missedAnswers++;
      if (missedAnswers < settings.missedAnswersForWedged()) {
        return Wait.INSTANCE;
      }
      return wedged(
          "MPS control daemon ["
              + controlPid
              + "] for "
              + gpu
              + " did not answer "
              + missedAnswers
              + " probes in a row ("
              + no.why()
              + "): killed and restarted",
          now);
    }
    Answered answered = (Answered) finding;
    missedAnswers = 0;
    serverPids.clear();
    Set<Integer> faulted = new TreeSet<>();
    for (Server s : answered.servers()) {
      serverPids.add(s.pid());
      if (s.faulted()) {
        faulted.add(s.pid());
      }
    }
    faultSince.keySet().retainAll(faulted);
    shutDown.retainAll(serverPids);
    Action action = Wait.INSTANCE;
    for (int pid : faulted) {
      long since = faultSince.computeIfAbsent(pid, p -> now);
      if (now - since < settings.serverFaultGraceNanos() || action != Wait.INSTANCE) {
        continue;
      }
      if (shutDown.contains(pid)) {
        return wedged(
            "MPS server [" + pid + "] on " + gpu + " stayed in fault after it was shut down:"
                + " control daemon [" + controlPid + "] and its servers killed and restarted",
            now);
      }
      shutDown.add(pid);
      faultSince.put(pid, now);
      restarts++;
      incident(
          "MPS server [" + pid + "] on " + gpu + " was in fault for "
              + (now - since) / 1_000_000 + " ms: shut down, its clients lost the GPU",
          now);
      action = new ShutdownServer(pid, "in fault");
    }
    if (faulted.isEmpty()) {
      if (state == State.SERVER_FAULT) {
        runningSince = now;
      }
      state = State.READY;
      if (now - runningSince >= settings.stableNanos()) {
        failuresInRow = 0;
      }
    } else {
      state = State.SERVER_FAULT;
    }
    return action;
  }

  private Action wedged(String text, long now) {
    int pid = controlPid;
    Set<Integer> servers = Set.copyOf(serverPids);
    down(text, now);
    return new KillDaemon(pid, servers, "wedged");
  }

  private void down(String text, long now) {
    restarts++;
    incident(text, now);
    long backoff =
        failuresInRow == 0
            ? 0
            : Math.min(
                settings.backoffMaxNanos(),
                settings.backoffMinNanos() << Math.min(20, failuresInRow - 1));
    failuresInRow++;
    retryAt = now + backoff;
    state = State.BACKING_OFF;
    controlPid = 0;
    serverPids.clear();
    faultSince.clear();
    shutDown.clear();
    missedAnswers = 0;
  }

  private void incident(String text, long now) {
    incidents.add(new Incident(now, text));
    lastIncident = text;
  }

  /** Incidents since the last call, oldest first. */
  public List<Incident> drainIncidents() {
    List<Incident> out = List.copyOf(incidents);
    incidents.clear();
    return out;
  }

  public State state() {
    return state;
  }

  /** The control daemon's pid; 0 when none runs. */
  public int controlPid() {
    return controlPid;
  }

  /** The servers the daemon listed at the last answer. */
  public Set<Integer> serverPids() {
    return Set.copyOf(serverPids);
  }

  /** Daemon restarts and forced server shutdowns so far. */
  public long restarts() {
    return restarts;
  }

  public String lastIncident() {
    return lastIncident;
  }

  /** When the next start is due while backing off. */
  public long retryAt() {
    return retryAt;
  }
}
