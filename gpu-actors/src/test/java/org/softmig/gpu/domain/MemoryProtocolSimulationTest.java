package org.softmig.gpu.domain;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The memory credit protocol (protocol version 2) explored over many interleavings: the real
 * {@link MemoryLedger}, driven the way the GPU actor drives it, against a model of the shim that
 * follows {@code native-shim/src/memory.c} step by step, with the connections in between.
 *
 * <p>Each seed runs a random schedule of: processes of two jobs starting (Hello, attach),
 * allocating from one or two threads (locally under a credit, else an exact {@code MemReserve}
 * round trip that other steps interleave with), freeing, driver calls that fail after the
 * reservation, periodic {@code MemReport}s, SIGKILL (the connection closes after what the
 * process had sent), a coordinator killed and restarted (a fresh ledger, processes deciding
 * alone within their away budget, then reconnecting with their holdings in {@code Hello}), and
 * the delivery of every frame in any order the real system allows:
 *
 * <ul>
 *   <li>shim to coordinator: one FIFO per connection, read in order;
 *   <li>coordinator to shim: {@code MemReply}s are written by the GPU actor straight to the
 *       connection, while {@code Welcome}, {@code CreditGrant} and {@code CreditRevoke} go through
 *       the session actor first (one more hop), so a reply may overtake a grant or revoke the
 *       ledger emitted before it, never the other way round.
 * </ul>
 *
 * <p>Checked after every step: what each job's live processes hold (the model's truth) never
 * exceeds the job's limit; no reserve is granted that takes a job over its limit in the ledger's
 * own figures; after draining every queue (quiescence), the ledger's usage of each session and
 * job equals what the processes hold. Coordinator restarts are checked the same way: the new
 * ledger settles (records, decides nothing, lends nothing) until the processes have re-attached,
 * as the GPU actor's settle time is meant to outlast the shims' reconnects.
 *
 * <p>Outside the model: a process that never reached a coordinator (it decides alone with its
 * configured limit), a connection dropped while the coordinator is up (the shim's 30 s stall),
 * and a credit ended by the 2 s return timeout: in those the shim decides without the ledger
 * (the degraded mode), which the protocol does not claim to keep exact. The card is physical:
 * an allocation past its total fails in the driver.
 */
class MemoryProtocolSimulationTest {

  private static final int SEEDS = 3000;
  private static final int STEPS = 400;
  private static final long CARD = 260;
  private static final Map<String, Long> LIMITS = Map.of("j", 100L, "k", 180L);

  // ------------------------------------------------------------------ frames

  sealed interface Up permits Reserve, Free, Report, Return, Close {}

  record Reserve(long requestId, long bytes) implements Up {}

  record Free(long bytes) implements Up {}

  record Report(long epoch, long taken, long freed) implements Up {}

  record Return(long epoch) implements Up {}

  record Close() implements Up {}

  sealed interface Down permits Welcome, Grant, Revoke, Reply {}

  record Welcome() implements Down {}

  record Grant(long ceiling, long epoch) implements Down {}

  record Revoke(long epoch) implements Down {}

  record Reply(long requestId, boolean granted) implements Down {}

  /** One connection of a process: the frames in both directions. */
  static final class Conn {
    final long sessionId;
    final Deque<Up> up = new ArrayDeque<>();
    final Deque<Down> relay = new ArrayDeque<>(); // at the session actor
    final Deque<Down> wire = new ArrayDeque<>(); // written to the socket
    boolean helloSeen;
    boolean closed; // the coordinator has processed Close (or died)
    long helloBytes;

    Conn(long sessionId, long helloBytes) {
      this.sessionId = sessionId;
      this.helloBytes = helloBytes;
    }
  }

  enum Link {
    AWAY,
    HELLO,
    UP
  }

  /** A thread of a process waiting for a MemReserve answer. */
  record Waiting(long requestId, long bytes) {}

  /** The shim's memory state of one process on one device, as in memory.c's struct mem_dev. */
  static final class Proc {
    final int pid;
    final String job;
    final long configuredLimit;
    Link link = Link.AWAY;
    boolean everUp;
    long used;
    long inflight;
    final List<Long> allocations = new ArrayList<>();
    boolean credit;
    long ceiling;
    long epoch;
    long repTaken;
    long repFreed;
    boolean dirty;
    long helloUsed;
    long awayCap;
    final Waiting[] threads = new Waiting[2];
    Conn conn;
    boolean alive = true;

    Proc(int pid, String job, long configuredLimit) {
      this.pid = pid;
      this.job = job;
      this.configuredLimit = configuredLimit;
      this.awayCap = configuredLimit;
    }
  }

  /** One run: the ledger, the processes, the connections. */
  static final class World {
    final Random rnd;
    final Deque<String> trace = new ArrayDeque<>();
    MemoryLedger ledger = new MemoryLedger("GPU-sim", CARD);
    final List<Proc> procs = new ArrayList<>();
    final Map<Long, Conn> conns = new LinkedHashMap<>();
    final Map<Long, Proc> procOfSession = new LinkedHashMap<>();
    boolean coordinatorUp = true;
    boolean settling;
    long nextSession = 1;
    long nextRequest = 1;
    int nextPid = 100;

    final boolean restarts;
    boolean tracing; // on when a failing seed is run again to show its last steps

    final long seed;

    World(long seed, boolean restarts) {
      this.seed = seed;
      rnd = new Random(seed);
      this.restarts = restarts;
    }

    void log(java.util.function.Supplier<String> line) {
      if (!tracing) {
        return;
      }
      trace.add(line.get());
      if (trace.size() > 80) {
        trace.poll();
      }
    }

    // -------------------------------------------------------------- the shim (memory.c)

    void startProcess(String job) {
      Proc p = new Proc(nextPid++, job, LIMITS.get(job));
      procs.add(p);
      log(() -> "start pid " + p.pid + " of " + job);
      connect(p);
    }

    /** mem_holdings and the Hello: nothing is decided locally until the Welcome. */
    void connect(Proc p) {
      p.link = Link.HELLO;
      p.helloUsed = p.used;
      p.repTaken = 0;
      p.repFreed = 0;
      p.dirty = false;
      Conn c = new Conn(nextSession++, p.used);
      p.conn = c;
      conns.put(c.sessionId, c);
      procOfSession.put(c.sessionId, p);
      log(() -> "pid " + p.pid + " hello as session " + c.sessionId + " holding " + p.used);
    }

    /** mem_reserve for one thread; returns false when the thread cannot act now. */
    boolean allocate(Proc p, int thread, long bytes) {
      if (p.threads[thread] != null || p.link == Link.HELLO) {
        return false; // waiting for its answer, or for the Welcome
      }
      decide(p, thread, bytes);
      return true;
    }

    private void decide(Proc p, int thread, long bytes) {
      if (p.link == Link.AWAY) {
        if (!p.everUp) {
          return; // a process that never reached a coordinator decides alone: outside the model
        }
        if (fits(p.used + p.inflight, bytes, p.awayCap)) {
          take(p, bytes);
          log(() -> "pid " + p.pid + " takes " + bytes + " away (cap " + p.awayCap + ")");
        }
        return;
      }
      if (p.link == Link.HELLO) {
        return; // only after a dropped reserve: the thread gives up this allocation
      }
      if (p.credit) {
        if (fits(p.used + p.inflight, bytes, p.ceiling)) {
          take(p, bytes);
          p.repTaken += bytes;
          p.dirty = true;
          log(() -> "pid " + p.pid + " takes " + bytes + " under credit " + p.epoch);
        } else {
          p.dirty = true;
        }
        return;
      }
      long id = nextRequest++;
      p.inflight += bytes;
      p.threads[thread] = new Waiting(id, bytes);
      p.conn.up.add(new Reserve(id, bytes));
      log(() -> "pid " + p.pid + " sends MemReserve " + id + " of " + bytes);
    }

    private static boolean fits(long have, long bytes, long cap) {
      return have <= cap && bytes <= cap - have;
    }

    /**
     * The reservation stands; then the driver call. The card is physical: past its total the
     * driver fails the call and the shim drops the reservation (acct_end, mem_unreserve).
     */
    private void take(Proc p, long bytes) {
      p.used += bytes;
      p.allocations.add(bytes);
      long onCard = 0;
      for (Proc q : procs) {
        if (q.alive) {
          onCard += q.used;
        }
      }
      if (onCard > CARD) {
        log(() -> "pid " + p.pid + ": the driver has no room for " + bytes);
        release(p, p.allocations.size() - 1);
      }
    }

    /** mem_unreserve: a free, or a reservation the driver did not use. */
    void release(Proc p, int index) {
      long bytes = p.allocations.remove(index);
      p.used -= bytes;
      if (p.link == Link.UP) {
        if (p.credit) {
          p.repFreed += bytes;
          p.dirty = true;
        } else {
          p.conn.up.add(new Free(bytes));
        }
      }
      log(() -> "pid " + p.pid + " frees " + bytes + (p.link == Link.UP ? "" : " (" + p.link + ")"));
    }

    /** send_report_locked. */
    private void report(Proc p) {
      p.conn.up.add(new Report(p.credit ? p.epoch : 0, p.repTaken, p.repFreed));
      log(() -> "pid " + p.pid + " reports taken " + p.repTaken + " freed " + p.repFreed);
      p.repTaken = 0;
      p.repFreed = 0;
      p.dirty = false;
    }

    /** mem_flush_reports (the client's 20 ms tick). */
    void flush(Proc p) {
      if (p.link == Link.UP && p.dirty) {
        report(p);
      }
    }

    /** A frame from the coordinator reaches the process. */
    void receive(Proc p, Down d) {
      if (d instanceof Welcome) {
        if (p.used > p.helloUsed) {
          p.repTaken = p.used - p.helloUsed;
          p.repFreed = 0;
          report(p);
        } else if (p.used < p.helloUsed) {
          p.conn.up.add(new Free(p.helloUsed - p.used));
        }
        p.helloUsed = p.used;
        p.link = Link.UP;
        p.everUp = true;
        log(() -> "pid " + p.pid + " welcomed");
      } else if (d instanceof Grant g) {
        if (p.link == Link.UP) {
          p.credit = true;
          p.ceiling = g.ceiling();
          p.epoch = g.epoch();
          p.repTaken = 0;
          p.repFreed = 0;
        }
        log(() -> "pid " + p.pid + " granted credit " + g.epoch() + " ceiling " + g.ceiling());
      } else if (d instanceof Revoke r) {
        if (p.credit && p.epoch == r.epoch()) {
          if (p.dirty || p.repTaken != 0 || p.repFreed != 0) {
            report(p);
          }
          p.credit = false;
        }
        p.conn.up.add(new Return(r.epoch()));
        log(() -> "pid " + p.pid + " returns credit " + r.epoch());
      } else if (d instanceof Reply r) {
        for (int t = 0; t < p.threads.length; t++) {
          Waiting w = p.threads[t];
          if (w != null && w.requestId() == r.requestId()) {
            p.threads[t] = null;
            p.inflight -= w.bytes();
            if (r.granted()) {
              take(p, w.bytes());
            }
            log(() -> "pid " + p.pid + " reserve " + r.requestId() + (r.granted() ? " granted" : " refused"));
          }
        }
      }
    }

    /** mem_on_disconnect, then every waiting thread decides again (client_mem_reserve < 0). */
    void disconnect(Proc p) {
      if (p.credit) {
        p.awayCap = p.ceiling;
      } else if (p.link == Link.UP) {
        p.awayCap = p.used;
      }
      p.credit = false;
      p.link = Link.AWAY;
      p.conn = null;
      for (int t = 0; t < p.threads.length; t++) {
        Waiting w = p.threads[t];
        if (w != null) {
          p.threads[t] = null;
          p.inflight -= w.bytes();
          decide(p, t, w.bytes());
        }
      }
    }

    void kill(Proc p) {
      p.alive = false;
      p.allocations.clear();
      p.used = 0;
      if (p.conn != null) {
        p.conn.up.add(new Close());
      }
      log(() -> "pid " + p.pid + " killed");
    }

    // -------------------------------------------------------------- the coordinator

    /** The GPU actor handles the next frame of a connection. */
    void handle(Conn c) {
      Proc p = procOfSession.get(c.sessionId);
      if (!c.helloSeen) {
        c.helloSeen = true;
        List<MemoryLedger.Effect> effects = new ArrayList<>(ledger.setLimit(p.job, LIMITS.get(p.job)));
        // NVML's figure for the process when the reconciliation has measured it, else unknown
        long measured = rnd.nextBoolean() ? p.used : -1;
        effects.addAll(ledger.attach(p.job, c.sessionId, c.helloBytes, measured, true));
        c.relay.add(new Welcome());
        apply(effects);
        log(() -> "coordinator attaches session " + c.sessionId);
        return;
      }
      Up f = c.up.poll();
      log(() -> "coordinator reads " + f + " of session " + c.sessionId);
      if (f instanceof Reserve r) {
        MemoryLedger.Decision d = ledger.reserve(c.sessionId, r.bytes(), r.requestId());
        reply(c, r.requestId(), d);
      } else if (f instanceof Free fr) {
        ledger.free(c.sessionId, fr.bytes());
      } else if (f instanceof Report rep) {
        ledger.memReport(c.sessionId, rep.epoch(), rep.taken(), rep.freed(), 0, 0);
      } else if (f instanceof Return ret) {
        apply(ledger.creditReturn(c.sessionId, ret.epoch()));
      } else if (f instanceof Close) {
        c.closed = true;
        apply(ledger.detach(c.sessionId));
      }
    }

    private void reply(Conn c, long requestId, MemoryLedger.Decision d) {
      if (d instanceof MemoryLedger.Granted g && g.jobLimitBytes() > 0
          && g.jobUsedBytes() > g.jobLimitBytes()) {
        fail("the ledger granted a reserve that took its job to " + g.jobUsedBytes()
            + ", over its limit " + g.jobLimitBytes());
      }
      if (d instanceof MemoryLedger.Granted) {
        c.wire.add(new Reply(requestId, true));
      } else if (d instanceof MemoryLedger.Refused) {
        c.wire.add(new Reply(requestId, false));
      }
    }

    private void apply(List<MemoryLedger.Effect> effects) {
      for (MemoryLedger.Effect e : effects) {
        if (e instanceof MemoryLedger.CreditGrant g) {
          conns.get(g.sessionId()).relay.add(new Grant(g.ceilingBytes(), g.epoch()));
        } else if (e instanceof MemoryLedger.CreditRevoke r) {
          conns.get(r.sessionId()).relay.add(new Revoke(r.epoch()));
        } else if (e instanceof MemoryLedger.Resolved r) {
          reply(conns.get(r.sessionId()), r.ticket(), r.decision());
        }
      }
    }

    /** SIGKILL of the coordinator: every connection drops; a new one starts with a fresh ledger. */
    void coordinatorDown() {
      coordinatorUp = false;
      log(() -> "coordinator killed");
      for (Conn c : conns.values()) {
        c.closed = true;
      }
      conns.clear();
      procOfSession.clear();
      for (Proc p : procs) {
        if (p.alive && p.conn != null) {
          disconnect(p);
        }
      }
    }

    void coordinatorUp() {
      coordinatorUp = true;
      ledger = new MemoryLedger("GPU-sim", CARD);
      ledger.startSettling(); // as the GPU actor does at its start
      settling = true;
      log(() -> "coordinator restarted");
    }

    /**
     * The GPU actor's settle timer fires. Modelled as lasting until every live process has
     * re-attached (the settle time is meant to outlast the shims' reconnects).
     */
    boolean canEndSettling() {
      if (!settling || !coordinatorUp) {
        return false;
      }
      for (Proc p : procs) {
        if (p.alive && (p.conn == null || !p.conn.helloSeen)) {
          return false;
        }
      }
      return true;
    }

    void endSettling() {
      settling = false;
      apply(ledger.endSettling());
      log(() -> "settling ends");
    }

    // -------------------------------------------------------------- checks

    long truth(String job) {
      long sum = 0;
      for (Proc p : procs) {
        if (p.alive && p.job.equals(job)) {
          sum += p.used;
        }
      }
      return sum;
    }

    void checkLimits(long seed) {
      long card = 0;
      for (String job : LIMITS.keySet()) {
        long t = truth(job);
        card += t;
        if (t > LIMITS.get(job)) {
          fail(seed, "job " + job + " holds " + t + ", over its limit " + LIMITS.get(job));
        }
      }
      if (card > CARD) {
        fail(seed, "the card holds " + card + ", over its total " + CARD);
      }
    }

    void checkQuiescent(long seed) {
      for (String job : LIMITS.keySet()) {
        long ledgerUsed = ledger.job(job).map(MemoryLedger.JobUsage::usedBytes).orElse(0L);
        if (ledgerUsed != truth(job)) {
          fail(seed, "quiescent: the ledger says job " + job + " uses " + ledgerUsed
              + ", its processes hold " + truth(job));
        }
      }
      for (Proc p : procs) {
        if (!p.alive || p.conn == null) {
          continue;
        }
        long sessionUsed =
            ledger.job(p.job).orElseThrow().sessions().stream()
                .filter(s -> s.sessionId() == p.conn.sessionId)
                .findFirst()
                .map(MemoryLedger.SessionUsage::usedBytes)
                .orElse(-1L);
        if (sessionUsed != p.used) {
          fail(seed, "quiescent: session " + p.conn.sessionId + " uses " + sessionUsed
              + " in the ledger, pid " + p.pid + " holds " + p.used);
        }
      }
    }

    void fail(String what) {
      fail(seed, what);
    }

    void fail(long seed, String what) {
      throw new AssertionError(
          "seed " + seed + ": " + what + "\nlast steps:\n  " + String.join("\n  ", trace));
    }

    // -------------------------------------------------------------- scheduling

    /** Delivery steps only: frames, relays, report ticks, reconnects. False when none is left. */
    boolean deliverOne() {
      List<Runnable> steps = new ArrayList<>();
      addDeliveries(steps);
      if (steps.isEmpty()) {
        return false;
      }
      steps.get(rnd.nextInt(steps.size())).run();
      return true;
    }

    void addDeliveries(List<Runnable> steps) {
      for (Conn c : List.copyOf(conns.values())) {
        if (c.closed) {
          continue;
        }
        if (!c.helloSeen || !c.up.isEmpty()) {
          steps.add(() -> handle(c));
        }
        if (!c.relay.isEmpty()) {
          steps.add(() -> c.wire.add(c.relay.poll()));
        }
        Proc p = procOfSession.get(c.sessionId);
        if (!c.wire.isEmpty() && p.alive) {
          steps.add(() -> receive(p, c.wire.poll()));
        }
      }
      if (canEndSettling()) {
        steps.add(this::endSettling);
      }
      for (Proc p : procs) {
        if (p.alive && p.link == Link.UP && p.dirty) {
          steps.add(() -> flush(p));
        }
        if (p.alive && p.link == Link.AWAY && coordinatorUp) {
          steps.add(() -> connect(p));
        }
      }
    }

    void step() {
      procs.removeIf(p -> !p.alive && (p.conn == null || p.conn.closed));
      conns.values().removeIf(c -> c.closed);
      List<Runnable> steps = new ArrayList<>();
      addDeliveries(steps);
      addDeliveries(steps); // deliveries twice as likely as anything else
      long live = procs.stream().filter(p -> p.alive).count();
      if (live < 4 && coordinatorUp) {
        String job = rnd.nextInt(4) == 0 ? "k" : "j";
        steps.add(() -> startProcess(job));
      }
      for (Proc p : procs) {
        if (!p.alive) {
          continue;
        }
        for (int t = 0; t < p.threads.length; t++) {
          int thread = t;
          if (p.threads[t] == null && p.link != Link.HELLO) {
            long bytes = 1 + rnd.nextInt(rnd.nextBoolean() ? 20 : 70);
            steps.add(() -> allocate(p, thread, bytes));
          }
        }
        if (!p.allocations.isEmpty()) {
          steps.add(() -> release(p, rnd.nextInt(p.allocations.size())));
        }
        if (rnd.nextInt(8) == 0) {
          steps.add(() -> kill(p));
        }
      }
      if (restarts && coordinatorUp && rnd.nextInt(40) == 0) {
        steps.add(this::coordinatorDown);
      }
      if (!coordinatorUp) {
        steps.add(this::coordinatorUp);
      }
      steps.get(rnd.nextInt(steps.size())).run();
    }

    /** Brings the coordinator back and delivers everything; no process acts meanwhile. */
    void drain() {
      if (!coordinatorUp) {
        coordinatorUp();
      }
      int guard = 0;
      while (deliverOne()) {
        if (++guard > 100_000) {
          throw new IllegalStateException("the protocol does not settle");
        }
      }
    }
  }

  /** Runs one seed; a failure is run again with its trace, to show the last steps. */
  private static void run(long seed, boolean restarts) {
    try {
      runSeed(seed, restarts, false);
    } catch (AssertionError e) {
      runSeed(seed, restarts, true);
      throw e;
    }
  }

  private static void runSeed(long seed, boolean restarts, boolean tracing) {
    World w = new World(seed, restarts);
    w.tracing = tracing;
    for (int i = 0; i < STEPS; i++) {
      w.step();
      w.checkLimits(seed);
      if (w.rnd.nextInt(50) == 0) {
        w.drain();
        w.checkLimits(seed);
        w.checkQuiescent(seed);
      }
    }
    w.drain();
    w.checkLimits(seed);
    w.checkQuiescent(seed);
  }

  @Test
  void noInterleavingPutsAJobOverItsLimitAndTheLedgerSettlesOnTheTruth() {
    for (long seed = 1; seed <= SEEDS; seed++) {
      run(seed, false);
    }
  }

  @Test
  void coordinatorRestartsWithSettlingKeepEveryJobWithinItsLimit() {
    for (long seed = 1; seed <= SEEDS / 2; seed++) {
      run(seed, true);
    }
  }
}
