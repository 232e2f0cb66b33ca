#!/usr/bin/env python3
"""The GPU suite's test runner: memory, compute and NVML checks of softmig on a real GPU.

scripts/gpu-suite.sh builds everything and then calls this file; see docs/GPU-SUITE.md.
It runs in phases, each with its own coordinator (or none):

  baseline  no coordinator, no shim: the reference figures (alloc cost, start-up, kernel rates)
  cap       coordinator --sm-policy cap: memory checks and single-job caps
  nvml      coordinator with the unmanaged-process policy `kill`: inventory, unmanaged, NVML usage
  share     coordinator --sm-policy share: job pairs, efficiency, grant latency, PyTorch pairs

Every check becomes {"part", "name", "pass", "value", "target", "unit", "note"} in
OUT/results.json, rewritten after each check so that a run cut short still leaves its results.
"pass" is null for figures reported side by side without a target.
"""

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time

MIB = 1 << 20
GIB = 1 << 30

# Jobs in the suite: memory limit for the memory part, kernel length for the compute part.
MEM_LIMIT = 4 * GIB
NVML_LIMIT = 2 * GIB
BUSY_US = 2000          # a "busy" kernel: 2 ms alone on the GPU
LONG_US = 50000         # longer than a 20 ms lease
TINY_DIVISOR = 100      # tiny kernels: BUSY_US / 100 = 20 us
TINY_SYNC_EVERY = 8
SHARE_TOLERANCE = 2.0   # points
TORCH_TOLERANCE = 5.0   # points; training loops have CPU phases
NVML_SLACK = 64 * MIB

ENV_DROP = ("LD_PRELOAD", "CUDA_DEVICE_MEMORY_LIMIT", "CUDA_DEVICE_SM_LIMIT", "SOFTMIG_JOB_ID",
            "SOFTMIG_SOCKET", "SOFTMIG_CONFIG_DIR", "SOFTMIG_LOG_FILE", "SOFTMIG_DISABLE",
            "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
            "PYTORCH_CUDA_ALLOC_CONF", "XLA_PYTHON_CLIENT_MEM_FRACTION",
            "XLA_PYTHON_CLIENT_PREALLOCATE")


LIVE = []  # every Proc started, so an interrupted run leaves no child behind


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


class Results:
    """The result file: checks in order, plus raw run outputs for later analysis."""

    def __init__(self, path, meta):
        self.path = path
        self.meta = meta
        self.checks = []
        self.runs = {}
        self.write()

    def add(self, part, name, passed, value, target, unit, note=None):
        entry = {"part": part, "name": name, "pass": passed, "value": value, "target": target,
                 "unit": unit}
        if note:
            entry["note"] = note
        self.checks.append(entry)
        mark = {True: "PASS", False: "FAIL", None: "info"}[passed]
        log(f"[{mark}] {part}/{name} = {fmt(value)} {unit} (target {fmt(target)})"
            + (f" - {note}" if note else ""))
        self.write()

    def raw(self, key, value):
        self.runs[key] = value
        self.write()

    def write(self):
        self.meta["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        doc = {"meta": self.meta, "checks": self.checks, "runs": self.runs}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        os.replace(tmp, self.path)


def fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def last_json(text):
    """The last line of text that parses as a JSON object (a cut-off check list is closed)."""
    for line in reversed((text or "").strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        for candidate in (line, line + "]}", line + "}]}"):
            try:
                return json.loads(candidate)
            except ValueError:
                continue
    return None


class Proc:
    """A child process in its own process group, killed as a group on timeout or stop."""

    def __init__(self, cmd, env, stdin=False, name=""):
        self.name = name or os.path.basename(cmd[0])
        self.cmd = cmd
        self.started = time.monotonic()
        self.p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  start_new_session=True, text=True)
        LIVE.append(self)
        self.out_lines = []
        self.err = ""
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read_out, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read_out(self):
        for line in self.p.stdout:
            self.out_lines.append(line)
            if line.startswith("READY"):
                self.ready.set()

    def _read_err(self):
        chunks = []
        for line in self.p.stderr:
            if sum(len(c) for c in chunks) < 20000:
                chunks.append(line)
        self.err = "".join(chunks)

    def wait_ready(self, timeout):
        """Waits for a READY line; False if the process exits or the time runs out first."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.ready.wait(0.1):
                return True
            if self.p.poll() is not None:
                self._reader.join(1)
                return self.ready.is_set()
        return False

    def send(self, text):
        try:
            self.p.stdin.write(text)
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def close_stdin(self):
        try:
            self.p.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def kill(self, sig=signal.SIGKILL):
        try:
            os.killpg(self.p.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout):
        """Waits up to timeout seconds; kills the group after it. Returns (rc, stdout, stderr)."""
        try:
            rc = self.p.wait(timeout=max(0.1, timeout))
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.p.wait()
            rc = 124 if rc is None else rc
            self.err += f"\n[suite] killed after {timeout:.0f}s timeout"
        self._reader.join(2)
        self._err_reader.join(2)
        return rc, "".join(self.out_lines), self.err

    def wall(self):
        return time.monotonic() - self.started


class Suite:
    def __init__(self, a):
        self.a = a
        self.deadline = a.deadline or (time.time() + 520)
        self.bin = a.bin_dir
        self.fake = a.fake
        self.seconds = a.seconds
        self.parts = set(a.only.split(",")) if a.only else {"memory", "compute", "nvml"}
        self.coordinator = None
        self.coord_logs = []
        self.help_text = None
        self.calib = None
        self.alone = {}
        self.torch_alone = None
        os.makedirs(a.work, exist_ok=True)
        os.makedirs(os.path.join(a.work, "conf"), exist_ok=True)
        os.makedirs(os.path.join(a.work, "joblogs"), exist_ok=True)
        meta = {"suite": "softmig-gpu-suite", "format": 1, "fake": self.fake,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "seconds_per_run": self.seconds, "parts": sorted(self.parts),
                "argv": sys.argv[1:], "command": a.command or None,
                "machine": machine_info(self.fake)}
        self.results = Results(os.path.join(a.out, "results.json"), meta)
        sock = os.path.join(a.work, "softmig.sock")
        self.socket = sock if len(sock) < 100 else f"/tmp/softmig-suite-{os.getpid()}.sock"

    # ---------------------------------------------------------------- helpers

    def left(self):
        return self.deadline - time.time()

    def has_time(self, need, what):
        if self.left() >= need:
            return True
        self.results.add("suite", f"skipped.{what}", False, round(self.left(), 1), need, "s",
                         "not enough time left before the suite's deadline")
        return False

    def base_env(self):
        env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
        if self.fake:
            fake_dir = os.path.dirname(self.a.fake_cuda)
            env["LD_LIBRARY_PATH"] = fake_dir + (":" + env["LD_LIBRARY_PATH"]
                                                 if env.get("LD_LIBRARY_PATH") else "")
            env["SOFTMIG_FAKE_GPUS"] = self.a.fake_gpus
            env.setdefault("SOFTMIG_FAKE_KERNEL_US", "2000")
        return env

    def job_env(self, job, mem=None, sm=None, preload=True, extra=None):
        env = self.base_env()
        if preload:
            env["LD_PRELOAD"] = self.a.shim
            env["SOFTMIG_SOCKET"] = self.socket
            env["SOFTMIG_CONFIG_DIR"] = os.path.join(self.a.work, "conf")
            env["SOFTMIG_JOB_ID"] = job
            env["SOFTMIG_LOG_FILE"] = os.path.join(self.a.work, "joblogs", job + ".log")
            env.setdefault("LIBCUDA_LOG_LEVEL", "2")
            if mem:
                env["CUDA_DEVICE_MEMORY_LIMIT"] = str(mem)
            if sm:
                env["CUDA_DEVICE_SM_LIMIT"] = f"{sm:g}"
        if extra:
            env.update(extra)
        return env

    def run(self, cmd, env, timeout, name=""):
        p = Proc(cmd, env, name=name)
        rc, out, err = p.wait(min(timeout, max(5, self.left())))
        if rc != 0:
            log(f"  {name or cmd[0]} exited {rc}: {err.strip()[-600:]}")
        return rc, out, err, p.wall()

    def prog(self, name):
        return os.path.join(self.bin, name)

    def java(self, *args):
        return [self.a.java, "-jar", self.a.jar, *args]

    def cli(self, *args, timeout=20):
        rc, out, err, _ = self.run(self.java(*args, "--socket", self.socket), self.base_env(),
                                   timeout, name="softmig " + args[0])
        return rc, out, err

    def status(self):
        rc, out, _ = self.cli("status", "--json")
        if rc != 0:
            return None
        try:
            return json.loads(out[out.index("{"):])
        except ValueError:
            return None

    # ------------------------------------------------------------ coordinator

    def coordinator_help(self):
        if self.help_text is None:
            rc, out, err, _ = self.run(self.java("coordinator", "--help"), self.base_env(), 30,
                                       name="coordinator --help")
            self.help_text = out + err
        return self.help_text

    def supports(self, flag):
        return flag in self.coordinator_help()

    def start_coordinator(self, phase, policy, extra=()):
        """Starts a coordinator for one phase and waits for its socket; False if it failed."""
        self.stop_coordinator()
        args = ["coordinator", "--socket", self.socket, "--sm-policy", policy]
        if self.supports("--config-dir"):
            args += ["--config-dir", os.path.join(self.a.work, "conf")]
        if self.supports("--cluster-port"):
            args += ["--cluster-port", "0"]
        if self.supports("--node-name"):
            args += ["--node-name", "gpu-suite"]
        if self.fake:
            args += ["--simulate", self.a.fake_gpus]
        attempts = [list(extra), []] if extra else [[]]
        for extra_args in attempts:
            logfile = os.path.join(self.a.work, f"coordinator-{phase}.log")
            self.coord_logs.append(logfile)
            out = open(logfile, "w")
            cmd = self.java(*args, *extra_args)
            log(f"starting coordinator ({phase}): {shlex.join(cmd)}")
            p = subprocess.Popen(cmd, env=self.base_env(), stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
            out.close()
            self.coordinator = p
            with open(os.path.join(self.a.work, "coordinator.pid"), "w") as f:
                f.write(f"{p.pid}\n")
            t0 = time.monotonic()
            while time.monotonic() - t0 < 60 and p.poll() is None:
                if os.path.exists(self.socket) and self.status() is not None:
                    log(f"coordinator up in {time.monotonic() - t0:.1f}s")
                    self.results.raw(f"coordinator.{phase}.args", cmd)
                    return True
                time.sleep(0.3)
            log(f"coordinator ({phase}) did not come up with {extra_args}; see {logfile}")
            self.stop_coordinator()
        self.results.add("suite", f"coordinator.{phase}.starts", False, False, True, "bool",
                         "coordinator did not answer status within 60 s")
        return False

    def stop_coordinator(self):
        p, self.coordinator = self.coordinator, None
        if p is None:
            return
        try:
            os.unlink(os.path.join(self.a.work, "coordinator.pid"))
        except OSError:
            pass
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if os.path.exists(self.socket):
            try:
                os.unlink(self.socket)
            except OSError:
                pass

    # --------------------------------------------------------------- compute

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

    def run_together(self, specs, timeout, probe=None, probe_after=0.0):
        """Starts [(name, cmd, env)] at once, releases them together after all are READY.

        probe, if given, is called probe_after seconds into the measured run (in a thread).
        Returns {name: parsed JSON or None}.
        """
        procs = []
        for name, cmd, env in specs:
            procs.append((name, Proc(cmd + ["--wait-start"], env, stdin=True, name=name)))
        t0 = time.monotonic()
        for name, p in procs:
            if not p.wait_ready(max(0.1, 60 - (time.monotonic() - t0))):
                log(f"  {name} not ready (exited or 60 s passed)")
        start = time.time() + 0.2
        for _, p in procs:
            p.send(f"{start:.6f}\n")
            p.close_stdin()
        timer = None
        if probe is not None:
            timer = threading.Timer(0.2 + probe_after, probe)
            timer.start()
        out = {}
        for name, p in procs:
            rc, stdout, err = p.wait(max(1, timeout - (time.monotonic() - t0)))
            parsed = last_json(stdout)
            if rc != 0 or parsed is None or "error" in parsed:
                log(f"  {name} failed (rc {rc}): {(stdout + err).strip()[-500:]}")
                parsed = None if parsed is None or "error" in parsed else parsed
            out[name] = parsed
        if timer is not None:
            timer.join()
        return out

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

    def compute_baseline(self):
        if not self.calibrate():
            return
        for key, kw in self.variants().items():
            if not self.has_time(kw["seconds"] + 5, f"baseline.{key}"):
                return
            res = self.run_together([(key, self.spin_cmd(label="alone-" + key, **kw),
                                      self.base_env())], kw["seconds"] + 40)[key]
            self.results.raw(f"compute.alone.{key}", res)
            if res:
                self.alone[key] = res
        # the driver's own time-slicing, for comparison (shorter runs: no target to meet)
        half = max(2.0, self.seconds / 2)
        for n in (2, 4):
            self.group_run("noshim", f"efficiency.{n}_busy_jobs.no_shim", "launch",
                           [None] * n, preload=False, seconds=half)
        self.group_run("noshim", "efficiency.tiny_sync_pair.no_shim", "tiny_sync", [None, None],
                       preload=False, seconds=half)

    def group_run(self, phase, name, variant, limits, preload=True, check_shares=False,
                  aggregate_target=None, status_probe=False, seconds=None):
        """Runs len(limits) copies of a variant together; reports shares and the aggregate."""
        seconds = seconds or self.seconds
        base = self.alone.get(variant)
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
                ok = share is not None and abs(share - lim) <= SHARE_TOLERANCE
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

    def compute_cap(self):
        if not self.calib or not self.alone:
            self.results.add("compute", "cap", False, None, None, "", "no baseline")
            return
        self.group_run("cap", "cap25.launch", "launch", [25], check_shares=True)
        self.group_run("cap", "cap50.launch", "launch", [50], check_shares=True)
        self.group_run("cap", "cap25.graph", "graph", [25], check_shares=True)
        self.group_run("cap", "cap25.launch_ex", "ex", [25], check_shares=True)
        self.group_run("cap", "cap25.long_kernels_50ms", "long", [25], check_shares=True)

    def compute_share(self):
        if not self.calib or not self.alone:
            self.results.add("compute", "share", False, None, None, "", "no baseline")
            return
        self.launch_overhead()
        self.group_run("share", "pair50_50", "launch", [50, 50], check_shares=True,
                       aggregate_target=97.0, status_probe=True)
        self.group_run("share", "pair70_30", "launch", [70, 30], check_shares=True,
                       status_probe=True)
        self.group_run("share", "pair10_90", "launch", [10, 90], check_shares=True)
        self.group_run("share", "quad25", "launch", [25, 25, 25, 25], check_shares=True,
                       aggregate_target=97.0)
        self.group_run("share", "tiny_sync_pair", "tiny_sync", [50, 50], aggregate_target=90.0)
        self.grant_latency()
        self.torch_pairs()

    def launch_overhead(self):
        base = self.alone.get("empty")
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
        p50s = [j.get("grant_latency_p50_us") for j in jobs if j.get("grant_latency_p50_us") is not None]
        p99s = [j.get("grant_latency_p99_us") for j in jobs if j.get("grant_latency_p99_us") is not None]
        if not p50s:
            self.results.add("compute", "grant_latency.p50", False, None, 30, "us",
                             "status --json showed no grant_latency_p50_us for the 8 jobs")
            return
        p50 = statistics.median(p50s)
        p99 = max(p99s) if p99s else None
        self.results.add("compute", "grant_latency.p50", p50 <= 30, p50, 30, "us",
                         "median over the 8 jobs' p50")
        self.results.add("compute", "grant_latency.p99", p99 is not None and p99 <= 150, p99, 150,
                         "us", "max over the 8 jobs' p99")

    # ---------------------------------------------------------------- PyTorch

    def torch_cmd(self, label, seconds):
        return [sys.executable, os.path.join(self.a.py_dir, "torch_train.py"), "--seconds",
                f"{seconds:g}", "--label", label]

    def torch_baseline(self):
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

    # ----------------------------------------------------------------- memory

    def memory_baseline(self):
        self.alloc_cost("baseline", preload=False)
        self.startup_cost("baseline", preload=False)

    def alloc_cost(self, phase, preload):
        n = 500 if self.a.quick else 2000
        env = self.job_env("suite-mem-alloccost", mem=MEM_LIMIT, preload=preload)
        rc, out, err, _ = self.run([self.prog("memtest_rt"), "bench", str(n), "2M"], env, 90,
                                   name="memtest_rt bench")
        res = last_json(out)
        self.results.raw(f"memory.{phase}.alloc_cost", res)
        if phase == "baseline":
            self.alloc_base = res
            return
        base = getattr(self, "alloc_base", None)
        if not res or "pair_p50_ns" not in res or not base or "pair_p50_ns" not in base:
            self.results.add("memory", "alloc_cost.added_p50", False, None, 10, "us",
                             "bench failed: " + (out + err).strip()[-300:])
            return
        add50 = (res["pair_p50_ns"] - base["pair_p50_ns"]) / 1000.0
        add99 = (res["pair_p99_ns"] - base["pair_p99_ns"]) / 1000.0
        note = (f"cudaMalloc+cudaFree 2 MiB p50 {base['pair_p50_ns'] / 1000:.1f} us bare, "
                f"{res['pair_p50_ns'] / 1000:.1f} us with shim; p99 {base['pair_p99_ns'] / 1000:.1f}"
                f" / {res['pair_p99_ns'] / 1000:.1f} us; n={n}")
        self.results.add("memory", "alloc_cost.added_p50", add50 <= 10, round(add50, 2), 10, "us",
                         note)
        self.results.add("memory", "alloc_cost.added_p99", None, round(add99, 2), None, "us")

    def startup_cost(self, phase, preload):
        runs = 6 if self.a.quick else 11
        walls, inproc = [], []
        for i in range(runs):
            env = self.job_env(f"suite-mem-startup-{i}", mem=MEM_LIMIT, preload=preload)
            rc, out, err, wall = self.run([self.prog("startup")], env, 30, name="startup")
            res = last_json(out)
            if rc == 0 and res and "total_ns" in res:
                walls.append(wall * 1e3)
                inproc.append(res["total_ns"] / 1e6)
        self.results.raw(f"memory.{phase}.startup", {"wall_ms": walls, "in_process_ms": inproc})
        if phase == "baseline":
            self.startup_base = (walls, inproc)
            return
        base = getattr(self, "startup_base", ([], []))
        if not walls or not base[0]:
            self.results.add("memory", "startup.added_ms", False, None, 5, "ms", "runs failed")
            return
        added = statistics.median(walls) - statistics.median(base[0])
        added_in = statistics.median(inproc) - statistics.median(base[1])
        self.results.add("memory", "startup.added_ms", added <= 5, round(added, 2), 5, "ms",
                         f"median process wall time (exec to exit) over {runs} runs: "
                         f"{statistics.median(base[0]):.1f} ms bare, "
                         f"{statistics.median(walls):.1f} ms with shim; in-process cuInit+context"
                         f"+first alloc added {added_in:.2f} ms")

    def add_checks(self, part, res, out, err, what):
        if res and isinstance(res.get("checks"), list) and res["checks"]:
            for c in res["checks"]:
                self.results.add(part, c.get("name", "?"), c.get("pass"), c.get("value"),
                                 c.get("target"), c.get("unit", ""), c.get("note"))
        else:
            self.results.add(part, what, False, None, None, "",
                             "no result: " + (out + err).strip()[-400:])

    def memory_checks(self):
        lim = MEM_LIMIT
        for prog in ("memtest", "memtest_rt"):
            env = self.job_env(f"suite-mem-{prog}", mem=lim)
            rc, out, err, _ = self.run([self.prog(prog), "paths", str(lim)], env, 120, name=prog)
            self.add_checks("memory", last_json(out), out, err, prog + ".paths")
        self.framework_checks()
        self.two_processes()
        self.nvidia_smi_in_job()
        self.alloc_cost("shim", preload=True)
        self.startup_cost("shim", preload=True)

    def python_test(self, script, args, env, timeout, what):
        rc, out, err, _ = self.run([sys.executable, os.path.join(self.a.py_dir, script), *args],
                                   env, timeout, name=script)
        if "ModuleNotFoundError" in err and self.fake:
            self.results.add("memory", what, None, "skipped", None, "",
                             "framework not installed on this machine")
            return None, out, err
        return last_json(out), out, err

    def framework_checks(self):
        lim = MEM_LIMIT
        for prefix, conf in (("torch", None), ("torch_expandable", "expandable_segments:True")):
            if not self.has_time(30, prefix):
                return
            env = self.job_env(f"suite-mem-{prefix}", mem=lim,
                               extra={"PYTORCH_CUDA_ALLOC_CONF": conf} if conf else None)
            res, out, err = self.python_test("torch_mem.py", [str(lim), prefix], env, 120, prefix)
            if res is not None or not self.fake:
                self.add_checks("memory", res, out, err, prefix)

        if self.has_time(40, "torch.train_fits"):
            env = self.job_env("suite-mem-torchtrain", mem=lim)
            res, out, err = self.python_test("torch_train.py", ["--seconds", "0", "--iters", "30",
                                                                "--width", "2048", "--batch",
                                                                "4096"], env, 120, "torch.train")
            if res is not None or not self.fake:
                ok = bool(res) and res.get("iterations", 0) >= 30 and res.get(
                    "max_reserved", lim + 1) <= lim
                self.results.add("memory", "torch.training_loop_fits_limit", ok,
                                 res.get("max_reserved") if res else None, lim, "bytes",
                                 (f"{res['iterations']} iterations, {res['its_per_s']:.1f} it/s, "
                                  "peak reserved shown") if res else
                                 "failed: " + (out + err).strip()[-300:])

        if self.has_time(40, "jax"):
            env = self.job_env("suite-mem-jax", mem=lim)
            p = Proc([sys.executable, os.path.join(self.a.py_dir, "jax_mem.py"), str(lim)], env,
                     stdin=True, name="jax_mem.py")
            ready = p.wait_ready(90)
            nvml_used = nvml_process_used(p.p.pid) if ready and not self.fake else None
            p.close_stdin()
            rc, out, err = p.wait(30)
            res = last_json(out)
            if res is None and self.fake and "ModuleNotFoundError" in err:
                self.results.add("memory", "jax", None, "skipped", None, "", "jax not installed")
            elif res is None:
                self.results.add("memory", "jax.preallocation_75pct_of_limit", False, None, 0.75,
                                 "fraction", "failed: " + (out + err).strip()[-300:])
            else:
                frac = res.get("fraction_of_limit", 0)
                self.results.add("memory", "jax.preallocation_75pct_of_limit",
                                 0.60 <= frac <= 0.76, round(frac, 4), 0.75, "fraction of limit",
                                 f"bytes_limit {res.get('bytes_limit')}; platform "
                                 f"{res.get('platform')}")
                self.results.add("memory", "jax.over_limit_refused_and_alive",
                                 bool(res.get("over_limit_error")) and bool(
                                     res.get("alive_after_error")),
                                 bool(res.get("alive_after_error")), True, "bool",
                                 str(res.get("over_limit_error"))[:200])
                if nvml_used is not None:
                    self.results.add("memory", "jax.nvml_used_within_limit",
                                     nvml_used <= lim + NVML_SLACK, nvml_used, lim + NVML_SLACK,
                                     "bytes", "nvidia-smi per-process usage, context included")

        if self.has_time(30, "cupy"):
            env = self.job_env("suite-mem-cupy", mem=lim)
            res, out, err = self.python_test("cupy_mem.py", [str(lim)], env, 90, "cupy")
            if res is not None or not self.fake:
                self.add_checks("memory", res, out, err, "cupy")

    def two_processes(self):
        """Two processes of one job share one limit: A holds half, B cannot take 5/8."""
        lim = MEM_LIMIT
        env = self.job_env("suite-mem-twoproc", mem=lim)
        a = Proc([self.prog("memtest"), "hold", str(lim // 2), "60"], env, stdin=True, name="A")
        a.wait_ready(30)
        held = last_json("".join(a.out_lines).replace("READY ", ""))
        rc, out, err, _ = self.run([self.prog("memtest"), "try", str(lim * 5 // 8)], env, 30,
                                   name="B")
        r1 = last_json(out)
        rc, out, err, _ = self.run([self.prog("memtest"), "try", str(lim // 8)], env, 30, name="B")
        r2 = last_json(out)
        a.close_stdin()
        a.wait(20)
        rc, out, err, _ = self.run([self.prog("memtest"), "try", str(lim * 5 // 8)], env, 30,
                                   name="C")
        r3 = last_json(out)
        self.results.raw("memory.two_processes", {"held": held, "b_big": r1, "b_small": r2,
                                                  "after_a_exit": r3})

        def rc_of(r):
            try:
                return r["results"][0]["rc"]
            except (TypeError, KeyError, IndexError):
                return None
        self.results.add("memory", "two_processes.first_holds_half",
                         held is not None and held.get("rc") == 0,
                         held.get("rc") if held else None, 0, "CUresult")
        self.results.add("memory", "two_processes.second_refused_past_shared_limit",
                         rc_of(r1) == 2, rc_of(r1), 2, "CUresult",
                         "A holds limit/2, B asks 5/8 of the limit")
        self.results.add("memory", "two_processes.second_fits_under_shared_limit",
                         rc_of(r2) == 0, rc_of(r2), 0, "CUresult", "B asks 1/8 of the limit")
        self.results.add("memory", "two_processes.limit_free_again_after_exit", rc_of(r3) == 0,
                         rc_of(r3), 0, "CUresult", "after A exits, 5/8 of the limit fits")

    def nvidia_smi_in_job(self):
        if self.fake:
            return
        env = self.job_env("suite-mem-smi", mem=MEM_LIMIT)
        rc, out, err, _ = self.run(["nvidia-smi", "--query-gpu=memory.total,memory.used",
                                    "--format=csv,noheader,nounits", "-i", "0"], env, 30,
                                   name="nvidia-smi")
        try:
            total = int(out.strip().splitlines()[0].split(",")[0])
        except (ValueError, IndexError):
            total = None
        self.results.add("memory", "nvidia_smi_in_job.total_equals_limit",
                         total == MEM_LIMIT // MIB, total, MEM_LIMIT // MIB, "MiB",
                         out.strip()[:120] or err.strip()[-200:])

    # ------------------------------------------------------------------- NVML

    def unmanaged_kill_args(self):
        """Coordinator arguments for the `kill` policy: the flag, else a node config file."""
        a = self.a
        if a.unmanaged_flag and self.supports(shlex.split(a.unmanaged_flag)[0]):
            return shlex.split(a.unmanaged_flag)
        if a.unmanaged_config and self.supports("--config"):
            path = os.path.join(a.work, "node-nvml.conf")
            with open(path, "w") as f:
                f.write(a.unmanaged_config + "\n")
            return ["--config", path]
        return []

    def nvml_checks(self):
        st = self.status()
        gpus = status_gpus(st)
        smi = nvidia_smi_gpus() if not self.fake else []
        self.results.raw("nvml.status", st)
        if smi:
            g0 = smi[0]
            match = [g for g in gpus if g.get("uuid") == g0["uuid"]]
            self.results.add("nvml", "inventory.uuid_matches_nvidia_smi", bool(match),
                             match[0].get("uuid") if match else [g.get("uuid") for g in gpus],
                             g0["uuid"], "uuid")
            mem = match[0].get("memory_total_bytes") if match else None
            self.results.add("nvml", "inventory.memory_matches_nvidia_smi",
                             mem is not None and mem // MIB == g0["total_mib"],
                             mem // MIB if mem else None, g0["total_mib"], "MiB")
        else:
            self.results.add("nvml", "inventory.gpus_listed", bool(gpus), len(gpus), ">=1", "gpus")
        self.unmanaged()
        self.nvml_usage()

    def unmanaged(self):
        gpu_uuid = None
        rc, out, err = self.cli("place", "--job", "suite-nvml-placed", "--mem", "4G", "--sm", "50")
        gpu_uuid = out.strip().splitlines()[-1] if rc == 0 and out.strip() else None
        self.results.add("nvml", "place.prints_gpu_uuid", bool(gpu_uuid and "GPU-" in gpu_uuid),
                         gpu_uuid, "GPU-...", "uuid", None if rc == 0 else err.strip()[-200:])
        env = self.job_env("suite-nvml-unmanaged", preload=False)
        p = Proc([self.prog("memtest"), "hold", "256M", "30"], env, stdin=True, name="unmanaged")
        p.wait_ready(30)
        t0 = time.monotonic()
        reported_at, killed_at = None, None
        while time.monotonic() - t0 < 12:  # the reconciler waits a grace period (3 s)
            if p.p.poll() is not None and killed_at is None:
                killed_at = time.monotonic() - t0
            if reported_at is None:
                st = self.status()
                if any(u.get("pid") == p.p.pid for u in status_unmanaged(st)):
                    reported_at = time.monotonic() - t0
                    self.results.raw("nvml.unmanaged.status", st)
            if reported_at is not None and killed_at is not None:
                break
            time.sleep(0.1)
        if p.p.poll() is None:
            p.close_stdin()
        rc, _, _ = p.wait(10)
        if killed_at is None and rc is not None and rc < 0:
            killed_at = time.monotonic() - t0
        note = ("seconds from the process's first allocation to it being listed in status "
                "(polled through the CLI, about 1 s per call) or killed, whichever came first")
        seen = [t for t in (reported_at, killed_at) if t is not None]
        first = min(seen) if seen else None
        self.results.add("nvml", "unmanaged.reported_within_2s",
                         first is not None and first <= 2.0,
                         round(first, 2) if first is not None else None, 2.0, "s", note)
        how = self.unmanaged_kill_args()
        flag_ok = bool(how)
        self.results.add("nvml", "unmanaged.killed_under_kill_policy",
                         killed_at is not None and rc in (-9, -15, 137, 143),
                         round(killed_at, 2) if killed_at is not None else None, "killed", "s",
                         f"exit {rc}; policy set with {shlex.join(how)}" if flag_ok else
                         f"exit {rc}; coordinator --help lists neither "
                         f"{self.a.unmanaged_flag!r} nor --config")
        self.cli("release", "--job", "suite-nvml-placed")

    def nvml_usage(self):
        """A job filling its limit: NVML's figure for it stays within limit + 64 MiB."""
        lim = NVML_LIMIT
        env = self.job_env("suite-nvml-fill", mem=lim)
        p = Proc([self.prog("memtest"), "fill", "64M", "30"], env, stdin=True, name="fill")
        p.wait_ready(60)
        time.sleep(1.5)  # the coordinator's reconciliation runs every second
        used = nvml_process_used(p.p.pid) if not self.fake else None
        st = self.status()
        alive = p.p.poll() is None
        p.close_stdin()
        rc, out, err = p.wait(20)
        res = last_json(out)
        self.results.raw("nvml.fill", {"result": res, "nvml_used": used, "status": st})
        self.results.add("nvml", "usage.allocations_refused_at_limit",
                         bool(res) and res.get("stop_rc") == 2 and res.get("retry_rc") == 2
                         and res.get("allocated", lim + 1) <= lim,
                         res.get("allocated") if res else None, lim, "bytes",
                         f"stop_rc {res.get('stop_rc')}, retry_rc {res.get('retry_rc')}"
                         if res else "fill failed: " + (out + err).strip()[-200:])
        self.results.add("nvml", "usage.job_alive_while_within_limit", alive, alive, True, "bool",
                         "not treated as over its limit by the kill policy")
        if not self.fake:
            self.results.add("nvml", "usage.nvml_within_limit_plus_64MiB",
                             used is not None and used <= lim + NVML_SLACK, used,
                             lim + NVML_SLACK, "bytes", "nvidia-smi --query-compute-apps")

    # ------------------------------------------------------------------ phases

    def main(self):
        try:
            if "compute" in self.parts or "memory" in self.parts:
                log("== phase baseline (no shim, no coordinator)")
                if "memory" in self.parts:
                    self.memory_baseline()
                if "compute" in self.parts:
                    self.compute_baseline()
                    self.torch_baseline()
            if ("memory" in self.parts or "compute" in self.parts) and self.has_time(30, "cap"):
                log("== phase cap")
                if self.start_coordinator("cap", "cap"):
                    if "memory" in self.parts:
                        self.memory_checks()
                    if "compute" in self.parts:
                        self.compute_cap()
            if "nvml" in self.parts and self.has_time(30, "nvml"):
                log("== phase nvml")
                extra = self.unmanaged_kill_args()
                if self.start_coordinator("nvml", "cap", extra):
                    self.nvml_checks()
            if "compute" in self.parts and self.has_time(30, "share"):
                log("== phase share")
                if self.start_coordinator("share", "share"):
                    self.compute_share()
        finally:
            for p in LIVE:
                if p.p.poll() is None:
                    p.kill()
            self.stop_coordinator()
            self.results.meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.results.write()
            collect_logs(self)
            print_table(self.results.checks)


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


def walk(obj, key):
    """Every value stored under `key` anywhere in a JSON document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            else:
                yield from walk(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v, key)


def status_gpus(st):
    return [g for gs in walk(st, "gpus") if isinstance(gs, list) for g in gs if isinstance(g, dict)]


def status_jobs(st):
    return [j for js in walk(st, "jobs") if isinstance(js, list) for j in js if isinstance(j, dict)]


def status_unmanaged(st):
    return [u for us in walk(st, "unmanaged_processes") if isinstance(us, list) for u in us
            if isinstance(u, dict)]


def nvidia_smi_gpus():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=uuid,memory.total,name,driver_version",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [x.strip() for x in line.split(",")]
        if len(parts) >= 4:
            gpus.append({"uuid": parts[0], "total_mib": int(parts[1]), "name": parts[2],
                         "driver": parts[3]})
    return gpus


def nvml_process_used(pid):
    """NVML's per-process usage for pid in bytes (nvidia-smi, run without the shim)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=20, env={k: v for k, v in os.environ.items()
                                              if k not in ENV_DROP}).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.strip().splitlines():
        parts = [x.strip() for x in line.split(",")]
        if len(parts) == 2 and parts[0] == str(pid):
            try:
                return int(parts[1]) * MIB
            except ValueError:
                return None
    return None


def machine_info(fake):
    info = {"hostname": os.uname().nodename, "kernel": os.uname().release}
    if fake:
        info["gpu"] = "fake driver (SOFTMIG_FAKE_GPUS)"
        return info
    gpus = nvidia_smi_gpus()
    if gpus:
        info.update(gpu=gpus[0]["name"], gpu_uuid=gpus[0]["uuid"], driver=gpus[0]["driver"],
                    memory_total_mib=gpus[0]["total_mib"], gpu_count=len(gpus))
    try:
        out = subprocess.run(["nvcc", "--version"], capture_output=True, text=True, timeout=20)
        info["nvcc"] = out.stdout.strip().splitlines()[-1]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        pass
    return info


def collect_logs(suite):
    """Coordinator logs into OUT/coordinator.log and the shims' logs into OUT/shim.log (tails)."""
    def tail(path, limit):
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - limit))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""
    with open(os.path.join(suite.a.out, "coordinator.log"), "w") as out:
        for path in suite.coord_logs:
            out.write(f"===== {os.path.basename(path)}\n{tail(path, 3 * MIB)}\n")
    logdir = os.path.join(suite.a.work, "joblogs")
    with open(os.path.join(suite.a.out, "shim.log"), "w") as out:
        for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
            out.write(f"===== {name}\n{tail(os.path.join(logdir, name), 64 * 1024)}\n")


def print_table(checks):
    passed = sum(1 for c in checks if c["pass"] is True)
    failed = sum(1 for c in checks if c["pass"] is False)
    print("\n%-6s %-8s %-58s %14s %12s %s" % ("result", "part", "check", "value", "target", "unit"))
    for c in checks:
        mark = {True: "PASS", False: "FAIL", None: "info"}[c["pass"]]
        print("%-6s %-8s %-58s %14s %12s %s" % (mark, c["part"], c["name"][:58],
                                                fmt(c["value"])[:14], fmt(c["target"])[:12],
                                                c["unit"]))
    print(f"\n{passed} passed, {failed} failed, {len(checks) - passed - failed} informational")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="where results.json and the logs go")
    ap.add_argument("--work", required=True, help="scratch: socket, job logs, coordinator logs")
    ap.add_argument("--bin-dir", required=True, help="the built test programs")
    ap.add_argument("--py-dir", required=True, help="bench/gpu/py")
    ap.add_argument("--shim", required=True, help="libsoftmig.so")
    ap.add_argument("--java", default="java")
    ap.add_argument("--jar", required=True)
    ap.add_argument("--only", default="", help="comma list of memory,compute,nvml")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each compute run")
    ap.add_argument("--deadline", type=float, default=0.0, help="epoch seconds to stop by")
    ap.add_argument("--unmanaged-flag", default="--unmanaged-policy kill",
                    help="coordinator option that sets the unmanaged-process policy to kill")
    ap.add_argument("--unmanaged-config", default="softmig.unmanaged-policy = kill",
                    help="node config line for the kill policy, used when the flag is not listed")
    ap.add_argument("--command", default="", help="the command line to record in the results")
    ap.add_argument("--fake", action="store_true",
                    help="run on the fake CUDA driver and --simulate GPUs (a dry run)")
    ap.add_argument("--fake-cuda", default="", help="the fake libcuda.so.1")
    ap.add_argument("--fake-gpus", default="H100:80G")
    a = ap.parse_args()
    if a.quick and a.seconds == 10.0:
        a.seconds = 5.0
    for p in (a.out, a.work):
        os.makedirs(p, exist_ok=True)
    suite = Suite(a)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    try:
        suite.main()
    except KeyboardInterrupt as e:
        log(f"interrupted: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
