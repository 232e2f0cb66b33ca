#!/usr/bin/env python3
"""Soak: several jobs' processes allocate, free and are SIGKILLed while the coordinator is
SIGKILLed and restarted every few minutes; reports every moment a job stood over its limit and
every leak.  Not part of CI (scripts/soak.sh runs it; docs/BENCHMARKS.md has a result).

The processes are native-shim/build/test/mem_race --forever under LD_PRELOAD=libsoftmig.so.  The
processes of a job share a file in which each keeps its held bytes (up after the driver granted,
down before the free) and in which every grant sums what the job's live processes hold at that
moment; a sum over the limit is an over-limit moment.  The script also watches:
  - status (softmig status --json): a job whose ledger says it uses more than its limit, or
    that status marks over its limit;
  - quiet checks: every --check-every seconds the processes pause between operations and the
    ledger of every job must equal what its live processes hold; bytes of dead processes still
    on the ledger (or the pids of dead processes still listed) after the coordinator had time
    to notice are a leak, bytes held but not on the ledger an under-count.

On the fake driver (default) the GPUs are simulated (--simulate); --real uses the machine's
driver and GPU 0 (the simulated ones are then not used).
"""

import argparse
import json
import mmap
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "native-shim", "build")
SHIM = os.path.join(BUILD, "libsoftmig.so")
FAKE = os.path.join(BUILD, "fake-cuda")
RACE = os.path.join(BUILD, "test", "mem_race")
SOFTMIG = os.path.join(ROOT, "bin", "softmig")

MIB = 1 << 20
GIB = 1 << 30

# struct race_shared of native-shim/test/mem_race.c
HEADER = struct.Struct("=QQQQQ24x")          # limit, pause, generation, overs, max_sum
SLOT = struct.Struct("=qQQQQQ16x")           # pid, held, busy, ops, granted, refused
MAX_SLOTS = 256
SHARED_BYTES = HEADER.size + MAX_SLOTS * SLOT.size

# name, limit, processes, threads, block bytes, blocks per thread
JOBS = [
    ("soak-a", 1 * GIB, 4, 2, 48 * MIB, 8),
    ("soak-b", 2 * GIB, 3, 4, 64 * MIB, 6),
    ("soak-c", 4 * GIB, 2, 8, 128 * MIB, 4),
    ("soak-d", 512 * MIB, 3, 1, 8 * MIB, 32),
]


def fmt(b):
    return "%.0f MiB" % (b / MIB)


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return s[s.rindex(")") + 2] not in "ZX"
    except (OSError, ValueError, IndexError):
        return False


class Job:
    def __init__(self, name, limit, nprocs, threads, block, blocks, workdir):
        self.name, self.limit, self.nprocs = name, limit, nprocs
        self.threads, self.block, self.blocks = threads, block, blocks
        self.path = os.path.join(workdir, name + ".race")
        with open(self.path, "wb") as f:
            f.write(HEADER.pack(limit, 0, 0, 0, 0) + bytes(SHARED_BYTES - HEADER.size))
        self.fd = os.open(self.path, os.O_RDWR)
        self.mm = mmap.mmap(self.fd, SHARED_BYTES)
        self.procs = []
        self.seen_overs = 0
        self.max_sum = 0

    def header(self):
        return HEADER.unpack_from(self.mm, 0)

    def set_pause(self, on):
        struct.pack_into("=Q", self.mm, 8, 1 if on else 0)

    def slots(self):
        out = []
        for i in range(MAX_SLOTS):
            pid, held, busy, ops, granted, refused = SLOT.unpack_from(self.mm, HEADER.size + i * SLOT.size)
            if pid != 0:
                out.append((i, pid, held, busy, ops))
        return out

    def mark_dead(self, pid):
        """Takes pid's slot out of the sums before it is killed (mem_race.c skips pids <= 0)."""
        for i, p, _, _, _ in self.slots():
            if p == pid:
                struct.pack_into("=q", self.mm, HEADER.size + i * SLOT.size, -pid)

    def live_held(self):
        return sum(h for _, pid, h, _, _ in self.slots() if pid > 0 and alive(pid))

    def busy(self):
        return sum(b for _, pid, _, b, _ in self.slots() if pid > 0 and alive(pid))


class Soak:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="softmig-soak")
        self.socket = os.path.join(self.dir, "c.sock")
        self.confdir = os.path.join(self.dir, "conf")
        os.makedirs(self.confdir)
        self.spec = "SOAK%d:48G" % os.getpid()
        self.coord = None
        self.coord_up_since = None
        self.jobs = [Job(*j, self.dir) for j in JOBS[: args.jobs]]
        self.counts = dict(kills=0, started=0, coordinator_kills=0, status_samples=0,
                           status_failures=0, checks=0, over_moments=0, status_over=0,
                           leaks=0, undercounts=0)
        self.events = []
        for j in self.jobs:
            p = os.path.join(self.confdir, j.name + ".conf")
            with open(p, "w") as f:
                f.write("CUDA_DEVICE_MEMORY_LIMIT=%d\n" % j.limit)
            os.chmod(p, 0o644)

    def event(self, kind, text):
        self.events.append((time.time(), kind, text))
        log("%s: %s" % (kind, text))

    # ------------------------------------------------------------ coordinator

    def start_coordinator(self):
        cmd = [SOFTMIG, "coordinator", "--socket", self.socket, "--node-name", "soak",
               "--config-dir", self.confdir, "--state-dir", os.path.join(self.dir, "state")]
        if not self.args.real:
            cmd += ["--simulate", self.spec]
        out = open(os.path.join(self.dir, "coordinator.log"), "ab")
        self.coord = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        self.coord_up_since = None

    def coordinator_ready(self):
        if self.coord_up_since is None and self.status() is not None:
            self.coord_up_since = time.time()
        return self.coord_up_since is not None

    def kill_coordinator(self):
        self.coord.send_signal(signal.SIGKILL)
        self.coord.wait()
        self.coord_up_since = None
        self.counts["coordinator_kills"] += 1
        log("coordinator SIGKILLed")

    def status(self):
        try:
            out = subprocess.run([SOFTMIG, "status", "--json", "--socket", self.socket],
                                 capture_output=True, timeout=30, text=True)
        except subprocess.TimeoutExpired:
            return None
        if out.returncode != 0:
            return None
        try:
            doc = json.loads(out.stdout)
        except ValueError:
            return None
        jobs = {}
        for n in doc.get("nodes", []):
            for g in n.get("gpus", []):
                for j in g.get("jobs", []):
                    jobs[j["job_id"]] = j
        return jobs

    # ------------------------------------------------------------ workers

    def env(self, job):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("SLURM_", "CUDA_", "SOFTMIG_")) and k != "LD_PRELOAD"}
        e.update(LD_PRELOAD=SHIM, SOFTMIG_SOCKET=self.socket, SOFTMIG_CONFIG_DIR=self.confdir,
                 SOFTMIG_JOB_ID=job.name, CUDA_DEVICE_MEMORY_LIMIT=str(job.limit),
                 SOFTMIG_LOG_FILE=os.path.join(self.dir, "shim.log"), LIBCUDA_LOG_LEVEL="2")
        if not self.args.real:
            e.update(LD_LIBRARY_PATH=FAKE, SOFTMIG_FAKE_GPUS=self.spec)
        return e

    def start_worker(self, job):
        cmd = [RACE, "--forever", "--shared", job.path, "--threads", str(job.threads),
               "--bytes", str(job.block), "--max-blocks", str(job.blocks)]
        err = open(os.path.join(self.dir, "workers.err"), "ab")
        p = subprocess.Popen(cmd, env=self.env(job), stdout=subprocess.DEVNULL, stderr=err,
                             stdin=subprocess.DEVNULL)
        job.procs.append(p)
        self.counts["started"] += 1

    def kill_worker(self, job):
        if not job.procs:
            return
        p = job.procs.pop(random.randrange(len(job.procs)))
        job.mark_dead(p.pid)
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.counts["kills"] += 1

    def reap(self):
        for j in self.jobs:
            for p in list(j.procs):
                if p.poll() is not None:
                    j.procs.remove(p)
                    j.mark_dead(p.pid)
                    self.event("worker-exit", "%s pid %d exited %d" % (j.name, p.pid, p.returncode))
            while len(j.procs) < j.nprocs:
                self.start_worker(j)

    # ------------------------------------------------------------ checks

    def check_overs(self):
        for j in self.jobs:
            _, _, _, overs, max_sum = j.header()
            if overs > j.seen_overs:
                self.counts["over_moments"] += overs - j.seen_overs
                self.event("over-limit", "%s: %d grant(s) after which its processes held %s of %s"
                           % (j.name, overs - j.seen_overs, fmt(max_sum), fmt(j.limit)))
                j.seen_overs = overs
            j.max_sum = max(j.max_sum, max_sum)

    def sample_status(self):
        jobs = self.status()
        if jobs is None:
            self.counts["status_failures"] += 1
            return
        self.counts["status_samples"] += 1
        for j in self.jobs:
            s = jobs.get(j.name)
            if s is None:
                continue
            used = s.get("memory_used_bytes", 0)
            if s.get("memory_over_limit") or used > j.limit:
                self.counts["status_over"] += 1
                self.event("status-over", "%s: ledger %s of %s (over flag %s)"
                           % (j.name, fmt(used), fmt(j.limit), s.get("memory_over_limit")))

    def quiet_check(self):
        """Pauses every worker, then the ledger must equal what the live processes hold."""
        for j in self.jobs:
            j.set_pause(True)
        try:
            deadline = time.time() + 20
            while time.time() < deadline and any(j.busy() for j in self.jobs):
                time.sleep(0.05)
            if any(j.busy() for j in self.jobs):
                self.event("check-skipped", "workers still busy after 20 s")
                return
            self.counts["checks"] += 1
            mismatch = None
            for attempt in range(6):  # reports go out every 20 ms; exits are seen at once
                time.sleep(0.25 * (attempt + 1))
                jobs = self.status()
                if jobs is None:
                    return
                mismatch = []
                for j in self.jobs:
                    s = jobs.get(j.name, {})
                    ledger = s.get("memory_used_bytes", 0)
                    held = j.live_held()
                    live = {p.pid for p in j.procs}
                    listed = set(s.get("processes", []))
                    dead = sorted(listed - live)
                    if ledger != held or dead:
                        mismatch.append((j, ledger, held, dead))
                if not mismatch:
                    return
            for j, ledger, held, dead in mismatch:
                if ledger > held or dead:
                    self.counts["leaks"] += 1
                    kind = "leak"
                else:
                    self.counts["undercounts"] += 1
                    kind = "under-count"
                self.event(kind, "%s: ledger %s, live processes hold %s, dead pids listed %s"
                           % (j.name, fmt(ledger), fmt(held), dead))
        finally:
            for j in self.jobs:
                j.set_pause(False)

    # ------------------------------------------------------------ run

    def run(self):
        a = self.args
        log("soak for %d s in %s: %d jobs on %s, coordinator killed every ~%d s"
            % (a.duration, self.dir, len(self.jobs), "the real driver" if a.real else self.spec,
               a.coordinator_every))
        start = time.time()
        end = start + a.duration
        self.start_coordinator()
        while not self.coordinator_ready():
            time.sleep(0.2)
        next_coord_kill = time.time() + a.coordinator_every * random.uniform(0.7, 1.3)
        next_kill = time.time() + random.uniform(0, 2 * a.kill_every)
        next_status = time.time()
        next_check = time.time() + a.check_every
        restart_at = None
        stop = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.append(True))
        try:
            while time.time() < end and not stop:
                now = time.time()
                self.reap()
                self.check_overs()
                if restart_at is not None and now >= restart_at:
                    self.start_coordinator()
                    restart_at = None
                if self.coord is not None and restart_at is None:
                    self.coordinator_ready()
                if now >= next_coord_kill and restart_at is None and self.coord_up_since:
                    self.kill_coordinator()
                    restart_at = now + random.uniform(0, a.down_max)
                    next_coord_kill = now + a.coordinator_every * random.uniform(0.7, 1.3)
                if now >= next_kill:
                    j = random.choice(self.jobs)
                    self.kill_worker(j)
                    next_kill = now + random.uniform(0, 2 * a.kill_every)
                if now >= next_status and self.coord_up_since:
                    self.sample_status()
                    next_status = now + a.status_every
                if (now >= next_check and self.coord_up_since and now - self.coord_up_since > 5
                        and now + 10 < next_coord_kill):
                    self.quiet_check()
                    next_check = time.time() + a.check_every
                time.sleep(0.1)
        finally:
            self.check_overs()
            for j in self.jobs:
                for p in j.procs:
                    j.mark_dead(p.pid)
                    p.kill()
                    p.wait()
            if self.coord is not None and self.coord.poll() is None:
                self.coord.terminate()
                try:
                    self.coord.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.coord.kill()
        took = time.time() - start
        return self.summary(took)

    def summary(self, took):
        c = self.counts
        lines = [
            "duration: %d s" % took,
            "machine: %s, %d cores; %s" % (os.uname().nodename, os.cpu_count(),
                                          "real driver" if self.args.real else "fake driver, " + self.spec),
            "jobs: " + ", ".join("%s %s x%d procs x%d threads, %s blocks (max held %s)"
                                 % (j.name, fmt(j.limit), j.nprocs, j.threads, fmt(j.block), fmt(j.max_sum))
                                 for j in self.jobs),
            "processes started: %d, SIGKILLed: %d; coordinator SIGKILLed and restarted: %d"
            % (c["started"], c["kills"], c["coordinator_kills"]),
            "status samples: %d (%d failed); quiet checks: %d"
            % (c["status_samples"], c["status_failures"], c["checks"]),
            "over-limit moments (processes' own counts): %d; over in status: %d" % (c["over_moments"], c["status_over"]),
            "leaks: %d; under-counts: %d" % (c["leaks"], c["undercounts"]),
        ]
        bad = c["over_moments"] + c["status_over"] + c["leaks"] + c["undercounts"]
        lines.append("result: %s" % ("PASS" if bad == 0 else "FAIL"))
        for line in lines:
            log(line)
        with open(os.path.join(self.dir, "summary.json"), "w") as f:
            json.dump(dict(counts=c, duration_s=took, events=self.events), f, indent=1)
        log("details: %s" % self.dir)
        return 0 if bad == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=3600, help="seconds (default 3600)")
    ap.add_argument("--jobs", type=int, default=len(JOBS), choices=range(1, len(JOBS) + 1))
    ap.add_argument("--coordinator-every", type=float, default=180,
                    help="mean seconds between coordinator kills (default 180)")
    ap.add_argument("--down-max", type=float, default=3, help="longest gap before the restart (s)")
    ap.add_argument("--kill-every", type=float, default=5, help="mean seconds between worker kills")
    ap.add_argument("--status-every", type=float, default=3)
    ap.add_argument("--check-every", type=float, default=30)
    ap.add_argument("--real", action="store_true", help="the machine's CUDA driver and GPU 0")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    random.seed(args.seed)
    for f in (SHIM, RACE, SOFTMIG) + (() if args.real else (os.path.join(FAKE, "libcuda.so.1"),)):
        if not os.path.exists(f):
            sys.exit("soak: %s is missing (build native-shim into native-shim/build first)" % f)
    sys.exit(Soak(args).run())


if __name__ == "__main__":
    main()
