"""compute: shares, efficiency, launch overhead and the lease hand-off (issue 4).

bench/gpu/spin runs a calibrated busy kernel (2 ms alone) through one launch path; a job's
share is its kernel rate over the same variant's rate alone without the shim, in percent.
Steps: alone and noshim (baseline phase), caps (cap phase), overhead, pairs, tiny, handoff,
busy and torch (share phase).  busy measures the hand-off table (2/4/8 busy jobs, 70/30 and
10/90 pairs, the tiny-kernel pair, hand-off p50/p99 with 8 jobs) against a bare run of the
same kernels made just before, in every repetition (bare, softmig, bare, softmig, ...), so
that with --reps N each row's median and spread come from interleaved runs.  See
docs/GPU-SUITE.md.
"""

import os
import statistics
import sys

from . import core
from .core import last_json, status_jobs
from .registry import AreaSpec, Step

BUSY_US = 2000          # a "busy" kernel: 2 ms alone on the GPU
LONG_US = 50000         # longer than a 20 ms lease
TINY_DIVISOR = 100      # tiny kernels: BUSY_US / 100 = 20 us
TINY_SYNC_EVERY = 8
SHARE_TOLERANCE = 2.0   # points
TORCH_TOLERANCE = 5.0   # points; training loops have CPU phases
BUSY_TOLERANCE = 1.0    # points: busy jobs' shares (the hand-off table's target)
BUSY_AGGREGATE = 98.0   # % of one job alone for 2, 4 and 8 busy jobs together
TINY_AGGREGATE = 95.0   # % of one alone for the tiny-kernel pair
HANDOFF_P50_US = 50
HANDOFF_P99_US = 250


class Compute(core.Area):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.calib = None
        self.alone_rates = {}
        self.torch_alone = None
        self.missing_reported = set()

    # --------------------------------------------------------------- spin

    def spin_cmd(self, path="launch", kernel="busy", iters=None, seconds=None, depth=2, batch=1,
                 sync_every=0, graph_n=16, label=""):
        cmd = [self.prog("spin"), "--fatbin", self.prog("kernels.fatbin"), "--kernel", kernel,
               "--path", path, "--seconds", f"{seconds or self.seconds:g}", "--depth", str(depth),
               "--batch", str(batch), "--graph-n", str(graph_n), "--label", label]
        if iters is not None:
            cmd += ["--iters", str(iters)]
        if sync_every:
            cmd += ["--sync-every", str(sync_every)]
        return cmd

    def calibrate(self):
        if self.calib:
            return self.calib
        rc, out, err, _ = self.run([self.prog("spin"), "--fatbin", self.prog("kernels.fatbin"),
                                    "--calibrate", str(BUSY_US)], self.base_env(), 60,
                                   name="spin --calibrate")
        parsed = last_json(out)
        if rc != 0 or not parsed or "iters" not in parsed:
            self.results.add("compute", "calibration", False, None, BUSY_US, "us",
                             "spin --calibrate failed: " + (out + err).strip()[-300:])
            return None
        self.calib = {"busy": parsed["iters"], "long": parsed["iters"] * LONG_US // BUSY_US,
                      "tiny": max(1, parsed["iters"] // TINY_DIVISOR)}
        self.results.raw("compute.calibration", parsed)
        return self.calib

    def variants(self):
        """The kernel/launch-path variants measured alone and capped."""
        c = self.calib
        half = max(2.0, self.seconds / 2)
        return {
            "launch": dict(path="launch", iters=c["busy"], seconds=half),
            "ex": dict(path="ex", iters=c["busy"], seconds=half),
            "graph": dict(path="graph", iters=c["busy"], seconds=half, graph_n=4, depth=1),
            "long": dict(path="launch", iters=c["long"], seconds=max(half, 5.0), depth=1),
            "tiny_sync": dict(path="launch", iters=c["tiny"], seconds=half,
                              sync_every=TINY_SYNC_EVERY),
            "empty": dict(path="launch", kernel="empty", seconds=half, batch=256, depth=8),
        }

    def alone(self):
        """Each kernel/launch-path variant alone, no shim: the denominators of every share."""
        if not self.calibrate():
            return
        for key, kw in self.variants().items():
            if not self.has_time(kw["seconds"] + 5, f"baseline.{key}"):
                return
            res = self.run_together([(key, self.spin_cmd(label="alone-" + key, **kw),
                                      self.base_env())], kw["seconds"] + 40)[key]
            self.results.raw(f"compute.alone.{key}", res)
            if res:
                self.alone_rates[key] = res

    def noshim(self):
        """The driver's own time-slicing, for comparison (shorter runs: no target to meet)."""
        half = max(2.0, self.seconds / 2)
        for n in (2, 4):
            self.group_run("noshim", f"efficiency.{n}_busy_jobs.no_shim", "launch",
                           [None] * n, preload=False, seconds=half)
        self.group_run("noshim", "efficiency.tiny_sync_pair.no_shim", "tiny_sync", [None, None],
                       preload=False, seconds=half)

    def group_run(self, phase, name, variant, limits, preload=True, check_shares=False,
                  aggregate_target=None, status_probe=False, seconds=None,
                  tolerance=SHARE_TOLERANCE):
        """Runs len(limits) copies of a variant together; reports shares and the aggregate."""
        seconds = seconds or self.seconds
        base = self.alone_rates.get(variant)
        if base is None:
            self.results.add("compute", name, False, None, None, "%",
                             f"no alone baseline for {variant}")
            return None
        kw = dict(self.variants()[variant])
        kw["seconds"] = seconds
        if not self.has_time(seconds + 8, name):
            return None
        specs = []
        for i, lim in enumerate(limits):
            job = f"suite-{phase}-{name.replace('.', '-')}-{i}"
            env = self.job_env(job, sm=lim, preload=preload)
            specs.append((f"job{i}", self.spin_cmd(label=job, **kw), env))
        probe = {}
        out = self.run_together(
            specs, seconds + 60,
            probe=(lambda: probe.setdefault("status", self.status())) if status_probe else None,
            probe_after=max(0.5, seconds * 0.6))  # the CLI needs a JVM start before it asks
        self.results.raw(f"compute.{phase}.{name}", {"limits": limits, "jobs": out,
                                                      "status": probe.get("status")})
        rate0 = base["kernel_rate"]
        shares = []
        for i, lim in enumerate(limits):
            res = out.get(f"job{i}")
            share = 100.0 * res["kernel_rate"] / rate0 if res else None
            shares.append(share)
            if check_shares and lim:
                ok = share is not None and abs(share - lim) <= tolerance
                self.results.add("compute", f"{name}.job{i}_share", ok,
                                 round(share, 2) if share is not None else None, lim, "%",
                                 window_note(res, base))
        st = probe.get("status")
        if st is not None:
            by_id = {str(j.get("job_id")): j for j in status_jobs(st)}
            for i, lim in enumerate(limits):
                j = by_id.get(specs[i][2]["SOFTMIG_JOB_ID"]) if preload else None
                if j is not None and j.get("sm_share_percent") is not None:
                    self.results.add("compute", f"{name}.job{i}_share_per_coordinator", None,
                                     j.get("sm_share_percent"), lim, "%",
                                     "sm_share_percent from status --json near the run's end")
        if aggregate_target is not None or not check_shares or len(limits) > 1:
            total = sum(s for s in shares if s is not None) if all(
                s is not None for s in shares) else None
            passed = None if aggregate_target is None else (
                total is not None and total >= aggregate_target)
            self.results.add("compute", f"{name}.aggregate", passed,
                             round(total, 2) if total is not None else None, aggregate_target,
                             "% of one job alone",
                             "shares " + ", ".join("-" if s is None else f"{s:.1f}"
                                                   for s in shares))
        return out, probe.get("status")

    def have_baseline(self, what):
        """True when the alone rates are there; records their absence once per phase."""
        if self.calib and self.alone_rates:
            return True
        if what not in self.missing_reported:
            self.missing_reported.add(what)
            self.results.add("compute", what, False, None, None, "", "no baseline")
        return False

    def caps(self):
        if not self.have_baseline("cap"):
            return
        self.group_run("cap", "cap25.launch", "launch", [25], check_shares=True)
        self.group_run("cap", "cap50.launch", "launch", [50], check_shares=True)
        self.group_run("cap", "cap25.graph", "graph", [25], check_shares=True)
        self.group_run("cap", "cap25.launch_ex", "ex", [25], check_shares=True)
        self.group_run("cap", "cap25.long_kernels_50ms", "long", [25], check_shares=True)

    def overhead(self):
        if self.have_baseline("share"):
            self.launch_overhead()

    def pairs(self):
        if not self.have_baseline("share"):
            return
        self.group_run("share", "pair50_50", "launch", [50, 50], check_shares=True,
                       aggregate_target=97.0, status_probe=True)
        self.group_run("share", "pair70_30", "launch", [70, 30], check_shares=True,
                       status_probe=True)
        self.group_run("share", "pair10_90", "launch", [10, 90], check_shares=True)
        self.group_run("share", "quad25", "launch", [25, 25, 25, 25], check_shares=True,
                       aggregate_target=97.0)

    def tiny(self):
        if self.have_baseline("share"):
            self.group_run("share", "tiny_sync_pair", "tiny_sync", [50, 50],
                           aggregate_target=90.0)

    def handoff(self):
        if self.have_baseline("share"):
            self.grant_latency()

    def torch(self):
        self.torch_pairs()

    def bare_baseline(self, variant):
        """Runs the variant alone without the shim now; its rate is the denominator that follows."""
        kw = dict(self.variants()[variant])
        kw["seconds"] = self.seconds
        if not self.has_time(self.seconds + 5, f"bare.{variant}"):
            return False
        res = self.run_together([(variant, self.spin_cmd(label="bare-" + variant, **kw),
                                  self.base_env())], self.seconds + 40)[variant]
        self.results.raw(f"compute.share.bare.{variant}", res)
        if res:
            self.alone_rates[variant] = res
            self.results.add("compute", f"busy.bare_{variant}_rate", None,
                             round(res["kernel_rate"], 2), None, "kernels/s",
                             "the bare run the following rows are shares of")
        return bool(res)

    def busy(self):
        """The hand-off table: busy jobs together as % of a bare run made just before."""
        if not self.calibrate() or not self.bare_baseline("launch"):
            return
        for name, limits, target, check in (("busy2_50_50", [50, 50], BUSY_AGGREGATE, True),
                                            ("busy4", [25] * 4, BUSY_AGGREGATE, True),
                                            ("pair70_30", [70, 30], None, True),
                                            ("pair10_90", [10, 90], None, True),
                                            ("busy8", [12.5] * 8, BUSY_AGGREGATE, False)):
            res = self.group_run("share", f"busy.{name}", "launch", limits, check_shares=check,
                                 aggregate_target=target, status_probe=len(limits) == 8,
                                 tolerance=BUSY_TOLERANCE)
            if res and len(limits) == 8:
                self.handoff_checks(res[1], "suite-share-busy-busy8", "busy.handoff")
        if self.bare_baseline("tiny_sync"):
            self.group_run("share", "busy.tiny_pair", "tiny_sync", [50, 50],
                           aggregate_target=TINY_AGGREGATE)

    def handoff_checks(self, status, job_prefix, name):
        """Hand-off p50/p99 (median over the jobs' p50, max of their p99) from status --json."""
        jobs = [j for j in status_jobs(status) if str(j.get("job_id", "")).startswith(job_prefix)]
        p50s = [float(j["grant_latency_p50_us"]) for j in jobs if j.get("grant_latency_p50_us")]
        p99s = [float(j["grant_latency_p99_us"]) for j in jobs if j.get("grant_latency_p99_us")]
        if not p50s:
            self.results.add("compute", f"{name}.p50", False, None, HANDOFF_P50_US, "us",
                             "status --json showed no hand-off for the jobs")
            return
        self.results.add("compute", f"{name}.p50", statistics.median(p50s) <= HANDOFF_P50_US,
                         statistics.median(p50s), HANDOFF_P50_US, "us",
                         f"median over the {len(p50s)} reporting jobs' p50")
        self.results.add("compute", f"{name}.p99", max(p99s) <= HANDOFF_P99_US, max(p99s),
                         HANDOFF_P99_US, "us", f"max over the {len(p99s)} reporting jobs' p99")

    def launch_overhead(self):
        base = self.alone_rates.get("empty")
        if base is None or not self.has_time(self.seconds, "launch_overhead"):
            return
        kw = dict(self.variants()["empty"])
        env = self.job_env("suite-share-overhead", sm=100)
        out = self.run_together([("job0", self.spin_cmd(label="overhead", **kw), env)],
                                kw["seconds"] + 40)["job0"]
        self.results.raw("compute.share.launch_overhead", out)
        ratio = 100.0 * out["launch_rate"] / base["launch_rate"] if out else None
        added_ns = (1e9 / out["launch_rate"] - 1e9 / base["launch_rate"]) if out else None
        self.results.add("compute", "launch_overhead.rate_vs_no_shim",
                         ratio is not None and ratio >= 97.0,
                         round(ratio, 2) if ratio else None, 97.0, "%",
                         f"empty-kernel launches/s {base['launch_rate']:.0f} bare, "
                         f"{out['launch_rate']:.0f} with shim; added {added_ns:.0f} ns/launch"
                         if out else "run failed")

    def grant_latency(self):
        res = self.group_run("share", "eight_jobs", "launch", [12.5] * 8, check_shares=False,
                             status_probe=True)
        if res is None:
            return
        jobs = [j for j in status_jobs(res[1]) if str(j.get("job_id", "")).startswith("suite-share-eight")]
        # grant latency = lease hand-off: GPU free (previous release sent) to the next holder's
        # shim receiving its grant; 0 = the job's shims reported no hand-off
        p50s = [j.get("grant_latency_p50_us") for j in jobs if j.get("grant_latency_p50_us")]
        p99s = [j.get("grant_latency_p99_us") for j in jobs if j.get("grant_latency_p99_us")]
        if not p50s:
            self.results.add("compute", "grant_latency.p50", False, None, 30, "us",
                             "status --json showed no hand-off (grant_latency_p50_us) for the 8 jobs")
            return
        p50 = statistics.median(p50s)
        p99 = max(p99s) if p99s else None
        self.results.add("compute", "grant_latency.p50", p50 <= 30, p50, 30, "us",
                         f"hand-off; median over the {len(p50s)} reporting jobs' p50")
        self.results.add("compute", "grant_latency.p99", p99 is not None and p99 <= 150, p99, 150,
                         "us", f"hand-off; max over the {len(p99s)} reporting jobs' p99")

    # ---------------------------------------------------------------- PyTorch

    def torch_cmd(self, label, seconds):
        return [sys.executable, os.path.join(self.a.py_dir, "torch_train.py"), "--seconds",
                f"{seconds:g}", "--label", label]

    def torch_alone_run(self):
        if not self.has_time(self.seconds + 30, "torch.alone"):
            return
        out = self.run_together([("alone", self.torch_cmd("alone", self.seconds),
                                  self.base_env())], self.seconds + 120)["alone"]
        self.results.raw("compute.alone.torch", out)
        if out:
            self.torch_alone = out

    def torch_pairs(self):
        if self.torch_alone is None:
            self.results.add("compute", "torch_pairs", None if self.fake else False, None, None,
                             "", "no PyTorch baseline (is torch installed?)")
            return
        for limits in ((50, 50), (70, 30)):
            name = f"torch_pair{limits[0]}_{limits[1]}"
            if not self.has_time(self.seconds + 30, name):
                return
            specs = [(f"job{i}", self.torch_cmd(f"{name}-{i}", self.seconds),
                      self.job_env(f"suite-share-{name}-{i}", sm=lim))
                     for i, lim in enumerate(limits)]
            out = self.run_together(specs, self.seconds + 120)
            self.results.raw(f"compute.share.{name}", out)
            base = self.torch_alone["its_per_s"]
            for i, lim in enumerate(limits):
                res = out.get(f"job{i}")
                share = 100.0 * res["its_per_s"] / base if res else None
                self.results.add("compute", f"{name}.job{i}_share",
                                 share is not None and abs(share - lim) <= TORCH_TOLERANCE,
                                 round(share, 2) if share is not None else None, lim, "%",
                                 f"{res['its_per_s']:.2f} it/s vs {base:.2f} alone"
                                 if res else "run failed")


def window_note(res, base):
    """Max deviation of whole 1 s windows from the run's average (first and last dropped)."""
    if not res or not res.get("windows"):
        return None
    w = res["windows"][1:int(res["seconds"])]
    if len(w) < 2:
        return None
    mean = sum(w) / len(w)
    dev = max(abs(x - mean) for x in w) / (base["kernel_rate"] or 1) * 100.0
    return f"1 s windows: max deviation {dev:.1f} points from the run's mean"


def half(s):
    return max(2.0, s / 2)


AREA = AreaSpec("compute", Compute, summary="compute shares, efficiency, overhead, hand-off", steps=[
    Step("alone", "baseline", "alone", needs=lambda s: 5 * (half(s) + 3) + max(half(s), 5) + 8,
         repeat=True, summary="each kernel variant alone, no shim (calibration first)"),
    Step("noshim", "baseline", "noshim", needs=lambda s: 3 * (half(s) + 3), repeat=True,
         requires=("alone",), summary="the driver's own time-slicing: 2, 4 busy jobs, tiny pair"),
    Step("torch", "baseline", "torch_alone_run", needs=lambda s: s + 20, repeat=True,
         summary="a PyTorch training loop alone"),
    Step("caps", "cap", "caps", needs=lambda s: 5 * (s + 4), repeat=True, requires=("alone",),
         summary="one job capped at 25 %/50 %: launch, launch_ex, graph, 50 ms kernels"),
    Step("overhead", "share", "overhead", needs=lambda s: half(s) + 4, repeat=True,
         requires=("alone",), summary="empty-kernel launch rate under an open-ended lease"),
    Step("pairs", "share", "pairs", needs=lambda s: 4 * (s + 5), repeat=True,
         requires=("alone",), summary="pairs 50/50, 70/30, 10/90 and four jobs at 25 %"),
    Step("tiny", "share", "tiny", needs=lambda s: s + 4, repeat=True, requires=("alone",),
         summary="two jobs of 20 us kernels synchronising every 8 launches"),
    Step("handoff", "share", "handoff", needs=lambda s: s + 6, repeat=True, requires=("alone",),
         summary="lease hand-off latency p50/p99 with 8 jobs at 12.5 %"),
    Step("busy", "share", "busy", needs=lambda s: 8 * s + 45, repeat=True,
         summary="hand-off table vs a bare run just before: 2/4/8 busy jobs, 70/30, 10/90, "
                 "tiny pair, hand-off p50/p99 (8 jobs)"),
    Step("torch", "share", "torch", needs=lambda s: 2 * (s + 20), repeat=True,
         summary="two PyTorch training loops at 50/50 and 70/30"),
])
