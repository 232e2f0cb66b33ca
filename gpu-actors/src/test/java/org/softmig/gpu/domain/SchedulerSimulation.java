package org.softmig.gpu.domain;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.PriorityQueue;
import org.softmig.gpu.domain.TimeSliceScheduler.Action;
import org.softmig.gpu.domain.TimeSliceScheduler.Grant;
import org.softmig.gpu.domain.TimeSliceScheduler.Revoke;

/**
 * A deterministic discrete-event simulation of one GPU shared by jobs through a {@link
 * TimeSliceScheduler}, standing in for the GPU actor and the shims.
 *
 * <p>Each job behaves like a shim: when a grant arrives (after {@code handoffNanos}, the context
 * switch), it launches kernels of a fixed length back to back while it has work and its lease has
 * not run out; once the lease is over it lets the last kernel finish (the overrun) and releases
 * with the GPU time used since the grant arrived. A job without work releases as idle after {@code
 * idleReleaseNanos} of no launches. Revokes arrive after {@code messageNanos}. An unresponsive job
 * ignores grants and revokes. Time is simulated; nothing sleeps.
 */
final class SchedulerSimulation {

  static final long US = 1_000L;
  static final long MS = 1_000_000L;
  static final long S = 1_000_000_000L;

  final TimeSliceScheduler scheduler;
  private final long handoffNanos;
  private final long messageNanos;
  private final long idleReleaseNanos;
  private final Map<String, SimJob> jobs = new LinkedHashMap<>();
  private final PriorityQueue<Event> events = new PriorityQueue<>();
  private final List<Recorded> actions = new ArrayList<>();
  private long now;
  private long nextSeq;
  private int overlaps;

  /** What the scheduler said, and when. */
  record Recorded(long atNanos, Action action) {}

  SchedulerSimulation(TimeSliceScheduler.Settings settings, long handoffNanos) {
    this(settings, handoffNanos, 10 * US, 1 * MS);
  }

  SchedulerSimulation(
      TimeSliceScheduler.Settings settings,
      long handoffNanos,
      long messageNanos,
      long idleReleaseNanos) {
    this.scheduler = new TimeSliceScheduler(settings);
    this.handoffNanos = handoffNanos;
    this.messageNanos = messageNanos;
    this.idleReleaseNanos = idleReleaseNanos;
  }

  /** A job busy from time 0 on. */
  SimJob busyJob(String id, double limitPercent, long kernelNanos) {
    return job(id, limitPercent, kernelNanos).workBetween(0, Long.MAX_VALUE);
  }

  /** A job with no work until {@link SimJob#workBetween} says so. */
  SimJob job(String id, double limitPercent, long kernelNanos) {
    scheduler.setLimit(id, limitPercent);
    SimJob job = new SimJob(id, kernelNanos);
    jobs.put(id, job);
    return job;
  }

  /** The job's sessions all close at {@code atNanos}: the GPU actor removes it. */
  void removeJobAt(String id, long atNanos) {
    schedule(atNanos, Kind.REMOVE, jobs.get(id), 0, 0);
  }

  void runUntil(long endNanos) {
    while (true) {
      Event event = events.peek();
      long eventAt = event == null ? Long.MAX_VALUE : event.at;
      OptionalLong deadline = scheduler.nextDeadlineNanos();
      long tickAt = deadline.isPresent() ? Math.max(now, deadline.getAsLong()) : Long.MAX_VALUE;
      if (Math.min(eventAt, tickAt) > endNanos) {
        now = endNanos;
        return;
      }
      if (tickAt <= eventAt) {
        now = tickAt;
        List<Action> result = scheduler.tick(now);
        OptionalLong after = scheduler.nextDeadlineNanos();
        if (result.isEmpty() && after.isPresent() && after.getAsLong() <= now) {
          throw new IllegalStateException("tick at " + now + " made no progress");
        }
        dispatch(result);
      } else {
        events.poll();
        now = event.at;
        handle(event);
      }
    }
  }

  /** Percent of [from, to) in which the job's kernels ran. */
  double sharePercent(String id, long from, long to) {
    return 100.0 * jobs.get(id).gpuTime(from, to) / (to - from);
  }

  /** Percent of [from, to) in which any kernel ran. */
  double busyPercent(long from, long to) {
    long total = 0;
    for (SimJob job : jobs.values()) {
      total += job.gpuTime(from, to);
    }
    return 100.0 * total / (to - from);
  }

  /** Kernels that started while another job's kernel was still running. */
  int overlaps() {
    return overlaps;
  }

  List<Recorded> actions() {
    return actions;
  }

  /** The first time at or after {@code from} when the job's kernel was running. */
  long firstKernelStart(String id, long from) {
    for (long[] k : jobs.get(id).kernels) {
      if (k[1] > from) {
        return Math.max(k[0], from);
      }
    }
    return Long.MAX_VALUE;
  }

  // ---------------------------------------------------------------- events

  private enum Kind {
    WORK_START,
    GRANT_ARRIVES,
    KERNEL_END,
    REVOKE_ARRIVES,
    IDLE_CHECK,
    REMOVE
  }

  private record Event(long at, long seq, Kind kind, SimJob job, long leaseId, long duration)
      implements Comparable<Event> {
    @Override
    public int compareTo(Event o) {
      return at != o.at ? Long.compare(at, o.at) : Long.compare(seq, o.seq);
    }
  }

  private void schedule(long at, Kind kind, SimJob job, long leaseId, long duration) {
    events.add(new Event(at, nextSeq++, kind, job, leaseId, duration));
  }

  private void dispatch(List<Action> result) {
    for (Action action : result) {
      actions.add(new Recorded(now, action));
      if (action instanceof Grant grant) {
        SimJob job = jobs.get(grant.jobId());
        schedule(now + handoffNanos, Kind.GRANT_ARRIVES, job, grant.leaseId(), grant.durationNanos());
      } else if (action instanceof Revoke revoke) {
        SimJob job = jobs.get(revoke.jobId());
        schedule(now + messageNanos, Kind.REVOKE_ARRIVES, job, revoke.leaseId(), 0);
      }
    }
  }

  private void handle(Event event) {
    SimJob job = event.job;
    if (job.removed) {
      return;
    }
    switch (event.kind) {
      case WORK_START -> job.onWorkStart();
      case GRANT_ARRIVES -> job.onGrant(event.leaseId, event.duration);
      case KERNEL_END -> job.onKernelEnd();
      case REVOKE_ARRIVES -> job.onRevoke(event.leaseId);
      case IDLE_CHECK -> job.onIdleCheck(event.leaseId);
      case REMOVE -> {
        job.removed = true;
        dispatch(scheduler.removeJob(job.id, now));
      }
    }
  }

  /** Which job's kernel runs until when, to count overlaps. */
  private SimJob lastKernelJob;

  private long lastKernelEnd;

  final class SimJob {
    final String id;
    final long kernelNanos;
    final List<long[]> work = new ArrayList<>();
    final List<long[]> kernels = new ArrayList<>();
    boolean unresponsive;
    boolean removed;

    private long leaseId = -1;
    private long arrivedAt;
    private long deadline;
    private boolean revoked;
    private boolean kernelRunning;
    private long lastKernelEndAt;

    private SimJob(String id, long kernelNanos) {
      this.id = id;
      this.kernelNanos = kernelNanos;
    }

    /** The job has work in [start, end). */
    SimJob workBetween(long start, long end) {
      work.add(new long[] {start, end});
      schedule(start, Kind.WORK_START, this, 0, 0);
      return this;
    }

    SimJob unresponsive() {
      unresponsive = true;
      return this;
    }

    boolean hasWork(long t) {
      for (long[] w : work) {
        if (t >= w[0] && t < w[1]) {
          return true;
        }
      }
      return false;
    }

    long gpuTime(long from, long to) {
      long total = 0;
      for (long[] k : kernels) {
        total += Math.max(0, Math.min(k[1], to) - Math.max(k[0], from));
      }
      return total;
    }

    void onWorkStart() {
      if (leaseId >= 0) {
        if (!kernelRunning && now < deadline && !revoked) {
          startKernel();
        }
        return;
      }
      dispatch(scheduler.request(id, now));
    }

    void onGrant(long grantedLease, long duration) {
      if (unresponsive) {
        return;
      }
      leaseId = grantedLease;
      arrivedAt = now;
      deadline = duration == 0 ? Long.MAX_VALUE : now + duration;
      revoked = false;
      lastKernelEndAt = now;
      if (hasWork(now)) {
        startKernel();
      } else {
        release(false);
      }
    }

    void onKernelEnd() {
      kernelRunning = false;
      lastKernelEndAt = now;
      if (revoked || now >= deadline) {
        release(hasWork(now));
      } else if (hasWork(now)) {
        startKernel();
      } else {
        schedule(now + idleReleaseNanos, Kind.IDLE_CHECK, this, leaseId, 0);
      }
    }

    void onRevoke(long revokedLease) {
      if (unresponsive || revokedLease != leaseId) {
        return;
      }
      revoked = true;
      if (!kernelRunning) {
        release(hasWork(now));
      }
    }

    void onIdleCheck(long checkedLease) {
      if (checkedLease != leaseId || kernelRunning) {
        return;
      }
      if (!hasWork(now)) {
        release(false);
      } else if (now < deadline && !revoked) {
        startKernel();
      } else {
        release(true);
      }
    }

    private void startKernel() {
      if (lastKernelJob != null && lastKernelJob != this && lastKernelEnd > now) {
        overlaps++;
      }
      kernels.add(new long[] {now, now + kernelNanos});
      lastKernelJob = this;
      lastKernelEnd = now + kernelNanos;
      kernelRunning = true;
      schedule(now + kernelNanos, Kind.KERNEL_END, this, leaseId, 0);
    }

    private void release(boolean stillWaiting) {
      long used = lastKernelEndAt - arrivedAt;
      long released = leaseId;
      leaseId = -1;
      dispatch(scheduler.release(id, released, used, stillWaiting, now));
    }
  }
}
