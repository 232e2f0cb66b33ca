package org.softmig.coordinator.mps;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.softmig.coordinator.mps.MpsDaemonWatch.Answered;
import org.softmig.coordinator.mps.MpsDaemonWatch.DaemonGone;
import org.softmig.coordinator.mps.MpsDaemonWatch.KillDaemon;
import org.softmig.coordinator.mps.MpsDaemonWatch.NoAnswer;
import org.softmig.coordinator.mps.MpsDaemonWatch.Probe;
import org.softmig.coordinator.mps.MpsDaemonWatch.Server;
import org.softmig.coordinator.mps.MpsDaemonWatch.ShutdownServer;
import org.softmig.coordinator.mps.MpsDaemonWatch.StartDaemon;
import org.softmig.coordinator.mps.MpsDaemonWatch.State;
import org.softmig.coordinator.mps.MpsDaemonWatch.Wait;

class MpsDaemonWatchTest {

  static final long S = 1_000_000_000L;
  static final MpsDaemonWatch.Settings SETTINGS =
      new MpsDaemonWatch.Settings(10 * S, 2, S, 8 * S, 60 * S);

  MpsDaemonWatch watch = new MpsDaemonWatch("GPU-x", SETTINGS);

  private void up(int pid, long now) {
    assertThat(watch.tick(now)).isInstanceOf(StartDaemon.class);
    watch.daemonStarted(pid, now);
  }

  @Test
  void startsOnceThenProbes() {
    assertThat(watch.tick(0)).isInstanceOf(StartDaemon.class);
    assertThat(watch.state()).isEqualTo(State.STARTING);
    assertThat(watch.tick(1)).isEqualTo(Wait.INSTANCE);
    watch.daemonStarted(100, 2);
    assertThat(watch.tick(3)).isEqualTo(Probe.INSTANCE);
    assertThat(watch.probed(new Answered(List.of(new Server(200, false))), 3))
        .isEqualTo(Wait.INSTANCE);
    assertThat(watch.state()).isEqualTo(State.READY);
    assertThat(watch.controlPid()).isEqualTo(100);
    assertThat(watch.serverPids()).containsExactly(200);
    assertThat(watch.restarts()).isZero();
    assertThat(watch.drainIncidents()).isEmpty();
  }

  @Test
  void deadDaemonIsRestartedAtOnceThenWithGrowingBackoff() {
    up(100, 0);
    assertThat(watch.probed(new DaemonGone(), S)).isEqualTo(Wait.INSTANCE);
    assertThat(watch.state()).isEqualTo(State.BACKING_OFF);
    assertThat(watch.controlPid()).isZero();
    assertThat(watch.tick(S)).isInstanceOf(StartDaemon.class);
    watch.daemonStarted(101, S);
    watch.probed(new DaemonGone(), 2 * S);
    assertThat(watch.tick(2 * S)).isEqualTo(Wait.INSTANCE);
    assertThat(watch.tick(3 * S)).isInstanceOf(StartDaemon.class);
    watch.daemonStarted(102, 3 * S);
    watch.probed(new DaemonGone(), 4 * S);
    assertThat(watch.tick(5 * S)).isEqualTo(Wait.INSTANCE);
    assertThat(watch.tick(6 * S)).isInstanceOf(StartDaemon.class);
    assertThat(watch.restarts()).isEqualTo(3);
    assertThat(watch.drainIncidents()).hasSize(3);
    assertThat(watch.drainIncidents()).isEmpty();
  }

  @Test
  void backoffIsCappedAndStartsOverAfterAStableRun() {
    up(100, 0);
    long now = 0;
    for (int i = 0; i < 8; i++) {
      watch.probed(new DaemonGone(), now);
      now = watch.retryAt();
      assertThat(watch.tick(now)).isInstanceOf(StartDaemon.class);
      watch.daemonStarted(100 + i, now);
    }
    watch.probed(new DaemonGone(), now);
    assertThat(watch.retryAt() - now).isEqualTo(8 * S);
    now = watch.retryAt();
    watch.tick(now);
    watch.daemonStarted(200, now);
    watch.probed(new Answered(List.of()), now + 61 * S);
    watch.probed(new DaemonGone(), now + 62 * S);
    assertThat(watch.retryAt()).isEqualTo(now + 62 * S);
  }

  @Test
  void failedStartBacksOff() {
    assertThat(watch.tick(0)).isInstanceOf(StartDaemon.class);
    watch.startFailed("exit 1", 0);
    assertThat(watch.state()).isEqualTo(State.BACKING_OFF);
    assertThat(watch.tick(0)).isInstanceOf(StartDaemon.class);
    watch.startFailed("exit 1", 0);
    assertThat(watch.tick(S / 2)).isEqualTo(Wait.INSTANCE);
    assertThat(watch.tick(S)).isInstanceOf(StartDaemon.class);
  }

  @Test
  void liveDaemonThatStopsAnsweringIsKilledAsWedged() {
    up(100, 0);
    watch.probed(new Answered(List.of(new Server(200, false))), S);
    assertThat(watch.probed(new NoAnswer("timeout"), 2 * S)).isEqualTo(Wait.INSTANCE);
    assertThat(watch.state()).isEqualTo(State.READY);
    MpsDaemonWatch.Action a = watch.probed(new NoAnswer("timeout"), 3 * S);
    assertThat(a).isInstanceOf(KillDaemon.class);
    KillDaemon kill = (KillDaemon) a;
    assertThat(kill.controlPid()).isEqualTo(100);
    assertThat(kill.serverPids()).containsExactly(200);
    assertThat(watch.state()).isEqualTo(State.BACKING_OFF);
    assertThat(watch.tick(3 * S)).isInstanceOf(StartDaemon.class);
    assertThat(watch.restarts()).isEqualTo(1);
  }

  @Test
  void oneMissedAnswerBetweenGoodOnesIsNotWedged() {
    up(100, 0);
    watch.probed(new NoAnswer("timeout"), S);
    watch.probed(new Answered(List.of()), 2 * S);
    assertThat(watch.probed(new NoAnswer("timeout"), 3 * S)).isEqualTo(Wait.INSTANCE);
    assertThat(watch.state()).isEqualTo(State.READY);
  }

  @Test
  void serverInFaultIsShutDownAfterTheGrace() {
    up(100, 0);
    assertThat(watch.probed(new Answered(List.of(new Server(200, true))), S))
        .isEqualTo(Wait.INSTANCE);
    assertThat(watch.state()).isEqualTo(State.SERVER_FAULT);
    assertThat(watch.probed(new Answered(List.of(new Server(200, true))), 10 * S))
        .isEqualTo(Wait.INSTANCE);
    MpsDaemonWatch.Action a = watch.probed(new Answered(List.of(new Server(200, true))), 11 * S);
    assertThat(a).isEqualTo(new ShutdownServer(200, "in fault"));
    assertThat(watch.restarts()).isEqualTo(1);
    assertThat(watch.drainIncidents()).hasSize(1);
    // the daemon started a fresh server for the next client
    assertThat(watch.probed(new Answered(List.of(new Server(201, false))), 12 * S))
        .isEqualTo(Wait.INSTANCE);
    assertThat(watch.state()).isEqualTo(State.READY);
    assertThat(watch.serverPids()).containsExactly(201);
  }

  @Test
  void faultThatClearsWithinTheGraceCostsNothing() {
    up(100, 0);
    watch.probed(new Answered(List.of(new Server(200, true))), S);
    watch.probed(new Answered(List.of(new Server(200, false))), 5 * S);
    assertThat(watch.probed(new Answered(List.of(new Server(200, true))), 12 * S))
        .isEqualTo(Wait.INSTANCE);
    assertThat(watch.restarts()).isZero();
  }

  @Test
  void serverStillInFaultAfterShutdownGetsTheDaemonKilled() {
    up(100, 0);
    watch.probed(new Answered(List.of(new Server(200, true))), 0);
    assertThat(watch.probed(new Answered(List.of(new Server(200, true))), 10 * S))
        .isInstanceOf(ShutdownServer.class);
    assertThat(watch.probed(new Answered(List.of(new Server(200, true))), 15 * S))
        .isEqualTo(Wait.INSTANCE);
    MpsDaemonWatch.Action a = watch.probed(new Answered(List.of(new Server(200, true))), 20 * S);
    assertThat(a).isEqualTo(new KillDaemon(100, java.util.Set.of(200), "wedged"));
    assertThat(watch.state()).isEqualTo(State.BACKING_OFF);
    assertThat(watch.restarts()).isEqualTo(2);
  }

  @Test
  void deadDaemonLeavesItsServersToBeKilled() {
    up(100, 0);
    watch.probed(new Answered(List.of(new Server(200, false))), S);
    MpsDaemonWatch.Action a = watch.probed(new DaemonGone(), 2 * S);
    assertThat(a).isInstanceOf(KillDaemon.class);
    assertThat(((KillDaemon) a).controlPid()).isZero();
    assertThat(((KillDaemon) a).serverPids()).containsExactly(200);
  }

  @Test
  void lateProbeReportWhileBackingOffIsIgnored() {
    up(100, 0);
    watch.probed(new DaemonGone(), S);
    assertThat(watch.probed(new NoAnswer("late"), S)).isEqualTo(Wait.INSTANCE);
    assertThat(watch.probed(new DaemonGone(), S)).isEqualTo(Wait.INSTANCE);
    assertThat(watch.restarts()).isEqualTo(1);
  }
}
