"""mps: slices co-running through MPS (issue 15).

The mps phase starts the coordinator with GPU 0 shared through MPS (--mps 0, base dir
core.MPS_BASE_DIR): it runs the GPU's MPS control daemon.  Every job here is an MPS client as
on a workstation without SLURM: its limits and the GPU's pipe directory (from status) are the
request of its environment (a job file would make the shim use the node's default socket, not
the suite's; the job-file path is covered by the shim's ctest and the SLURM tests).  The shim
turns the SM limit into CUDA_MPS_ACTIVE_THREAD_PERCENTAGE and the memory limit into
CUDA_MPS_PINNED_DEVICE_MEM_LIMIT before cuInit; every job also sets
CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100 itself, which must not raise anything.

Steps: ready (the daemon is up, status shows the GPU as MPS without the lease gate;
calibration), smallgrid (2 ms kernels on 8 blocks: two together vs one alone), tiny (20 us
kernels, sync every 8: two together vs one alone; then two fill tests at once, each within
64 MiB of its reported free), threads (a full-grid kernel at 25 % active threads vs 100 %),
fault (one client's illegal address, then one SIGKILLed mid-kernel: what the other job saw,
and that the coordinator brings MPS back and a new job runs).  See docs/GPU-SUITE.md.
"""

import os
import signal
import time

from . import core
from .core import MIB, GIB, last_json, status_gpus, status_jobs
from .registry import AreaSpec, Step

BUSY_US = 2000            # the busy kernel: 2 ms alone on the full grid
LONG_US = 50000           # the kernel a job is SIGKILLed in the middle of
SMALL_GRID = 8            # blocks of a small-grid job
THREADS_GRID = 8448       # the threads check: enough blocks to fill every SM (64 per SM of 132)
THREADS_ITERS_DIVISOR = 8 # and less work per block, so that a kernel stays tens of ms
TINY_DIVISOR = 100        # tiny kernels: 20 us
TINY_SYNC_EVERY = 8
PAIR_SM = 50              # each job of a pair: an MPS slice of half the SMs
PAIR_MEM = 4 * GIB
PAIR_TARGET = 180.0       # % of one job alone, for two together
THREADS_LOW = 25
THREADS_RANGE = (22.0, 28.0)
FILL_SLACK_MIB = 64
READY_WAIT_S = 30
RECOVER_WAIT_S = 40
JOB_BASE = 915000         # the jobs' ids (numeric, as SLURM's)


def run_s(seconds):
    """Length of one measured run: the suite's --seconds, kept short (MPS has no ramp)."""
    return max(3.0, min(float(seconds), 6.0))


class Mps(core.Area):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.pipe = None
        self.uuid = None
        self.iters = None
        self.next_job = JOB_BASE

    # --------------------------------------------------------------- plumbing

    def mps_gpu(self):
        """The MPS GPU of status (a dict with "mps"), or None."""
        st = self.status()
        for g in status_gpus(st) if st else []:
            if isinstance(g.get("mps"), dict):
                return g
        return None

    def wait_ready(self, seconds, after_restarts=None):
        """Waits until the MPS state is ready (and restarts > after_restarts, when given)."""
        end = time.monotonic() + seconds
        g = None
        while time.monotonic() < end:
            g = self.mps_gpu()
            if g is not None:
                m = g["mps"]
                if m.get("state") == "ready" and (after_restarts is None
                                                  or m.get("restarts", 0) > after_restarts):
                    return g
            time.sleep(0.5)
        return g

    def job(self, mem=PAIR_MEM, sm=PAIR_SM):
        """A new MPS slice: (job id, environment).  sm 100 (or None) means no thread limit."""
        job = str(self.next_job)
        self.next_job += 1
        try:  # a job file left in the config dir would decide instead of this request
            os.unlink(os.path.join(self.a.work, "conf", job + ".conf"))
        except OSError:
            pass
        extra = {"CUDA_MPS_PIPE_DIRECTORY": self.pipe, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": "100",
                 "LIBCUDA_LOG_LEVEL": "3"}
        return job, self.job_env(job, mem=mem, sm=sm if sm and sm < 100 else None, extra=extra)

    def spin(self, label, kernel="busy", iters=None, grid=0, seconds=None, sync_every=0, depth=2):
        cmd = [self.prog("spin"), "--fatbin", self.prog("kernels.fatbin"), "--kernel", kernel,
               "--path", "launch", "--seconds", f"{seconds or run_s(self.seconds):g}",
               "--depth", str(depth), "--label", label,
               "--iters", str(iters if iters is not None else self.iters)]
        if grid:
            cmd += ["--grid", str(grid)]
        if sync_every:
            cmd += ["--sync-every", str(sync_every)]
        return cmd

    def together(self, name, n, sm, **spin_kw):
        """n copies of one spin run as MPS slices, released together; {job id: result}."""
        seconds = run_s(self.seconds)
        specs = []
        for _ in range(n):
            job, env = self.job(sm=sm)
            specs.append((job, self.spin(f"mps-{name}-{job}", seconds=seconds, **spin_kw), env))
        out = self.run_together(specs, seconds + 60)
        self.results.raw(f"mps.{name}", out)
        return out

    def rate(self, out):
        rates = [r["kernel_rate"] for r in out.values() if r]
        return sum(rates) if len(rates) == len(out) else None

    def pair_check(self, name, note, **spin_kw):
        """One job alone, then two together: the aggregate in % of alone."""
        if not self.ready_or_fail(name):
            return
        need = 2 * (run_s(self.seconds) + 5)
        if not self.has_time(need, f"mps.{name}"):
            return
        alone = self.rate(self.together(f"{name}.alone", 1, PAIR_SM, **spin_kw))
        both = self.together(f"{name}.pair", 2, PAIR_SM, **spin_kw)
        pair = self.rate(both)
        if not alone or pair is None:
            self.results.add("mps", f"{name}.pair_vs_alone", False, None, PAIR_TARGET, "%",
                             "a run failed: see runs and shim.log")
            return
        agg = 100.0 * pair / alone
        shares = ", ".join(f"{100.0 * r['kernel_rate'] / alone:.0f} %" for r in both.values())
        self.results.add("mps", f"{name}.pair_vs_alone", agg >= PAIR_TARGET, round(agg, 1),
                         PAIR_TARGET, "%", f"{note}; alone {alone:.0f}/s, together "
                         f"{pair:.0f}/s ({shares}); slices of {PAIR_SM} % SMs, "
                         f"{PAIR_MEM // GIB} GiB")

    def ready_or_fail(self, what):
        if self.pipe and self.iters:
            return True
        self.results.add("mps", f"{what}.skipped", False, None, "ready", "",
                         "the MPS daemon was not ready or the calibration failed (mps:ready)")
        return False

    # --------------------------------------------------------------- steps

    def ready(self):
        """The coordinator's MPS daemon is up; status shows the GPU as MPS, no lease gate."""
        g = self.wait_ready(READY_WAIT_S)
        self.results.raw("mps.status_at_start", g)
        ok = g is not None and g["mps"].get("state") == "ready"
        self.results.add("mps", "daemon.ready", ok, g["mps"].get("state") if g else None, "ready",
                         "", f"control daemon pid {g['mps'].get('control_pid') if g else '-'}; "
                         f"sharing {g.get('sharing') if g else '-'}")
        if not ok:
            return
        m = g["mps"]
        self.results.add("mps", "daemon.no_lease_gate", m.get("gated") is False, m.get("gated"),
                         False, "bool", "jobs co-run: no time caps on top of MPS")
        self.pipe = m.get("pipe_directory")
        self.uuid = g.get("uuid")
        # the busy kernel's work for 2 ms on the full grid, as an MPS client without limits
        job, env = self.job(sm=None)
        rc, out, err, _ = self.run([self.prog("spin"), "--fatbin", self.prog("kernels.fatbin"),
                                    "--calibrate", str(BUSY_US)], env, 60, name="spin calibrate")
        parsed = last_json(out)
        if rc != 0 or not parsed or "iters" not in parsed:
            self.results.add("mps", "calibration", False, None, BUSY_US, "us",
                             "spin --calibrate failed: " + (out + err).strip()[-300:])
            return
        self.iters = parsed["iters"]
        self.results.raw("mps.calibration", parsed)

    def smallgrid(self):
        """Two jobs of 2 ms kernels on 8 blocks: together vs one alone (target >= 180 %)."""
        self.pair_check("smallgrid", f"2 ms kernels on {SMALL_GRID} blocks", grid=SMALL_GRID)

    def tiny(self):
        """Two jobs of 20 us kernels synchronising every 8: together vs alone; fill tests."""
        if self.iters:
            self.pair_check("tiny", f"20 us kernels, sync every {TINY_SYNC_EVERY}",
                            iters=max(1, self.iters // TINY_DIVISOR), sync_every=TINY_SYNC_EVERY)
        self.fill_pair()

    def fill_pair(self):
        """Two MPS slices fill their memory at once: each within 64 MiB of its reported free."""
        if not self.ready_or_fail("fill") or not self.has_time(30, "mps.fill"):
            return
        procs = []
        for _ in range(2):
            job, env = self.job()
            procs.append((job, core.Proc([self.prog("memfree"), "--wait", "3", "--hold", "60"],
                                         env, stdin=True, name="memfree")))
        end = time.monotonic() + 60
        while time.monotonic() < end and not all(p.out_lines or p.p.poll() is not None
                                                  for _, p in procs):
            time.sleep(0.1)
        time.sleep(1.0)  # a credited process reports within 20 ms; NVML is read every 500 ms
        jobs = {j.get("job_id"): j for j in status_jobs(self.status())}
        raw = {}
        for job, p in procs:
            p.close_stdin()
            rc, out, err = p.wait(30)
            res = last_json(out)
            used = jobs.get(job, {}).get("memory_used_bytes")
            raw[job] = {"result": res, "exit": rc, "status_used": used}
            if not res or "filled" not in res:
                self.results.add("mps", f"fill.{job}.free_minus_filled", False, None,
                                 FILL_SLACK_MIB, "MiB", "no result: " + (out + err).strip()[-300:])
                continue
            filled = res["filled"]
            worst = max(abs(res.get("free_start", 0) - filled),
                        abs(res.get("free_after_wait", 0) - filled)) / MIB
            self.results.add("mps", f"fill.{job}.free_minus_filled", worst <= FILL_SLACK_MIB,
                             round(worst, 1), FILL_SLACK_MIB, "MiB",
                             f"reported free {res.get('free_start', 0) / MIB:.0f} MiB at start, "
                             f"{res.get('free_after_wait', 0) / MIB:.0f} MiB after 3 s; the fill "
                             f"got {filled / MIB:.0f} MiB; limit {PAIR_MEM // MIB} MiB, both "
                             "slices filling at once")
            self.results.add("mps", f"fill.{job}.within_limit",
                             used is not None and used <= PAIR_MEM, None if used is None
                             else round(used / MIB, 1), PAIR_MEM // MIB, "MiB",
                             f"the job's memory in status while full (NVML "
                             f"{res.get('nvml_used', -1) / MIB:.0f} MiB)")
        self.results.raw("mps.fill", raw)

    def threads(self):
        """A full-grid kernel at 25 % active threads gets 22-28 % of its rate at 100 %."""
        if not self.ready_or_fail("threads") or not self.has_time(
                2 * (run_s(self.seconds) + 5), "mps.threads"):
            return
        # The busy kernel on its usual grid (two blocks per SM) fits on a quarter of the SMs at
        # once and runs as fast there (a latency-bound chain, more blocks per SM hide it): the
        # grid must fill every SM at 100 % for the SMs taken away to show.
        kw = {"grid": THREADS_GRID, "iters": max(1, self.iters // THREADS_ITERS_DIVISOR)}
        full = self.rate(self.together("threads.100", 1, None, **kw))
        low = self.rate(self.together(f"threads.{THREADS_LOW}", 1, THREADS_LOW, **kw))
        if not full or low is None:
            self.results.add("mps", f"threads.{THREADS_LOW}_vs_100", False, None,
                             list(THREADS_RANGE), "%", "a run failed: see runs and shim.log")
            return
        ratio = 100.0 * low / full
        self.results.add("mps", f"threads.{THREADS_LOW}_vs_100",
                         THREADS_RANGE[0] <= ratio <= THREADS_RANGE[1], round(ratio, 1),
                         list(THREADS_RANGE), "%",
                         f"busy kernels on {THREADS_GRID} blocks alone: {full:.0f}/s without a thread "
                         f"limit, {low:.0f}/s as a {THREADS_LOW} % slice (the job's own "
                         "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100 ignored)")

    def fault(self):
        """One client faults (illegal address; SIGKILL mid-kernel): the other job, recovery."""
        if not self.ready_or_fail("fault"):
            return
        for kind in ("illegal_address", "sigkill"):
            if not self.has_time(run_s(self.seconds) + RECOVER_WAIT_S, f"mps.fault.{kind}"):
                return
            self.one_fault(kind)

    def one_fault(self, kind):
        seconds = run_s(self.seconds) + 2
        before = self.mps_gpu()
        restarts = before["mps"].get("restarts", 0) if before else 0
        victim_job, venv = self.job()
        victim = core.Proc(self.spin(f"mps-victim-{kind}", grid=SMALL_GRID, seconds=seconds)
                           + ["--wait-start"], venv, stdin=True, name="victim")
        victim.wait_ready(60)
        victim.send(f"{time.time() + 0.1:.6f}\n")
        victim.close_stdin()
        time.sleep(1.5)
        culprit_job, cenv = self.job()
        t_fault = time.monotonic()
        if kind == "illegal_address":
            culprit = core.Proc(self.spin(f"mps-culprit-{kind}", kernel="fault", seconds=1),
                                cenv, name="culprit")
            crc, cout, cerr = culprit.wait(30)
            culprit_said = last_json(cout)
        else:
            culprit = core.Proc(self.spin(f"mps-culprit-{kind}", iters=self.iters
                                          * LONG_US // BUSY_US, seconds=30, depth=1)
                                + ["--wait-start"], cenv, stdin=True, name="culprit")
            culprit.wait_ready(60)
            culprit.send(f"{time.time():.6f}\n")
            culprit.close_stdin()
            time.sleep(0.5 + LONG_US / 2e6)  # in the middle of a long kernel
            culprit.kill(signal.SIGKILL)
            crc, cout, cerr = culprit.wait(10)
            culprit_said = {"killed": "SIGKILL", "exit": crc}
        vrc, vout, verr = victim.wait(seconds + 60)
        victim_said = last_json(vout)
        survived = vrc == 0 and bool(victim_said) and "error" not in victim_said
        fault_at = t_fault - victim.started
        note = (f"the other job (2 ms kernels on {SMALL_GRID} blocks, {seconds:.0f} s) "
                + (f"finished its run: {victim_said.get('kernel_rate', 0):.0f} kernels/s, "
                   f"windows {victim_said.get('windows')}" if survived else
                   f"failed {fault_at:.1f} s into its life: "
                   f"{(victim_said or {}).get('error') or (vout + verr).strip()[-200:]}"))
        self.results.add("mps", f"fault.{kind}.other_job_survived", None, survived, "measured",
                         "bool", note)
        if kind == "sigkill":
            said = f"killed (exit {crc})"
        elif culprit_said and culprit_said.get("error"):
            said = culprit_said["error"]
        else:
            said = f"no error (exit {crc}, {(culprit_said or {}).get('kernel_rate', 0):.0f} kernels/s)"
        self.results.add("mps", f"fault.{kind}.faulting_job", None, said, "measured", "",
                         "what the faulting client itself got")
        # the coordinator: MPS ready again (after a restart when the server was lost), and a
        # new job runs
        seen = self.mps_gpu()
        time.sleep(3)  # a probe (500 ms) and the fault grace (2 s) after the fault
        t0 = time.monotonic()
        g = self.wait_ready(RECOVER_WAIT_S)
        after = g["mps"] if g else {}
        ready = after.get("state") == "ready"
        self.results.add("mps", f"fault.{kind}.mps_ready_again", ready, after.get("state"),
                         "ready", "", f"after {time.monotonic() - t0:.1f} s; restarts "
                         f"{restarts} -> {after.get('restarts')}; last incident: "
                         f"{after.get('last_incident') or '-'}; state right after the other "
                         f"job ended: {(seen or {}).get('mps', {}).get('state')}")
        new_job, nenv = self.job()
        rc, out, err, _ = self.run(self.spin(f"mps-after-{kind}", grid=SMALL_GRID, seconds=2),
                                   nenv, 60, name="after-fault job")
        res = last_json(out)
        ok = rc == 0 and bool(res) and "error" not in res and res.get("kernel_rate", 0) > 0
        self.results.add("mps", f"fault.{kind}.new_job_runs", ok,
                         round(res.get("kernel_rate", 0), 1) if res and ok else
                         (res or {}).get("error") or rc, ">0", "kernels/s",
                         "a fresh MPS slice after the fault")
        reports = {}
        for job in (victim_job, culprit_job):
            rrc, rout, _ = self.cli("report", job, "--json")
            parsed = last_json(rout) if rrc == 0 else None
            reports[job] = parsed
        incidents = [i for r in reports.values() if r for rep in r.get("reports", [])
                     for i in rep.get("incidents", [])]
        self.results.add("mps", f"fault.{kind}.incidents_in_reports", None, len(incidents),
                         "measured", "", "; ".join(incidents)[:300] or "none recorded")
        self.results.raw(f"mps.fault.{kind}", {"victim": victim_said, "victim_exit": vrc,
                                               "culprit": culprit_said, "status_seen": seen,
                                               "status_after": g,
                                               "new_job": res, "reports": reports})


AREA = AreaSpec("mps", Mps, summary="slices co-running through MPS", steps=[
    Step("ready", "mps", "ready", needs=15,
         summary="the MPS daemon is up, no lease gate; calibration as an MPS client"),
    Step("smallgrid", "mps", "smallgrid", needs=lambda s: 2 * (run_s(s) + 5), repeat=True,
         requires=("ready",), summary="2 ms kernels on 8 blocks: two together vs one alone"),
    Step("tiny", "mps", "tiny", needs=lambda s: 2 * (run_s(s) + 5) + 15, repeat=True,
         requires=("ready",),
         summary="20 us kernels, sync every 8: pair vs alone; two fill tests at once"),
    Step("threads", "mps", "threads", needs=lambda s: 2 * (run_s(s) + 5), repeat=True,
         requires=("ready",), summary="full grid at 25 % active threads vs 100 %"),
    Step("fault", "mps", "fault", needs=lambda s: 2 * (run_s(s) + 20), requires=("ready",),
         summary="illegal address, SIGKILL mid-kernel: the other job, MPS recovered"),
])
