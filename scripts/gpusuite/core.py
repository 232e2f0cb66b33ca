"""The GPU suite's core: processes, results, the coordinator of a phase, the run context.

Every check becomes {"part", "name", "pass", "value", "target", "unit", "note"} in
OUT/results.json, rewritten after each check so that a run cut short still leaves its results.
"pass" is null for figures reported side by side without a target.  With --reps N the
repeated steps record each repetition and results.json holds one merged entry per check
(stats.merge_reps: the median, the majority verdict and the spread).
"""

import json
import os
import shlex
import signal
import subprocess
import threading
import time

from . import stats

MIB = 1 << 20
GIB = 1 << 30

# The MPS phase: the coordinator's softmig.mps.base-dir (short: MPS pipe paths must fit a Unix
# socket name), and the stand-in control program the --fake run uses in place of
# nvidia-cuda-mps-control.  gpu-suite.sh's exit trap quits daemons left here.
MPS_BASE_DIR = "/tmp/softmig-suite-mps"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPS_STAND_IN = os.path.join(ROOT, "coordinator", "src", "test", "resources", "mps",
                            "nvidia-cuda-mps-control")

# Variables a job inherits from nobody: every job's environment is built from scratch.
ENV_DROP = ("LD_PRELOAD", "CUDA_DEVICE_MEMORY_LIMIT", "CUDA_DEVICE_SM_LIMIT", "SOFTMIG_JOB_ID",
            "CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE",
            "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", "CUDA_MPS_LOG_DIRECTORY",
            "SOFTMIG_SOCKET", "SOFTMIG_CONFIG_DIR", "SOFTMIG_LOG_FILE", "SOFTMIG_DISABLE",
            "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
            "PYTORCH_CUDA_ALLOC_CONF", "XLA_PYTHON_CLIENT_MEM_FRACTION",
            "XLA_PYTHON_CLIENT_PREALLOCATE")
# ... and the per-ordinal limits (CUDA_DEVICE_MEMORY_LIMIT_0, ...)
ENV_DROP_PREFIXES = ("CUDA_DEVICE_MEMORY_LIMIT_", "CUDA_DEVICE_SM_LIMIT_")


def clean_environ():
    return {k: v for k, v in os.environ.items()
            if k not in ENV_DROP and not k.startswith(ENV_DROP_PREFIXES)}


LIVE = []  # every Proc started, so an interrupted run leaves no child behind


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


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


class Results:
    """The result file: checks in order, plus raw run outputs for later analysis.

    rep is the repetition being run (0 outside repeated steps); entries of repetitions are
    merged when the file is written.
    """

    def __init__(self, path, meta):
        self.path = path
        self.meta = meta
        self.entries = []
        self.runs = {}
        self.rep = 0
        self.repeated = False
        self.write()

    @property
    def checks(self):
        return stats.merge_reps(self.entries) if self.repeated else self.entries

    def add(self, part, name, passed, value, target, unit, note=None):
        entry = {"part": part, "name": name, "pass": passed, "value": value, "target": target,
                 "unit": unit}
        if note:
            entry["note"] = note
        if self.repeated:
            entry["rep"] = self.rep
        self.entries.append(entry)
        mark = {True: "PASS", False: "FAIL", None: "info"}[passed]
        rep = f" (rep {self.rep + 1})" if self.repeated else ""
        log(f"[{mark}] {part}/{name}{rep} = {fmt(value)} {unit} (target {fmt(target)})"
            + (f" - {note}" if note else ""))
        self.write()

    def raw(self, key, value):
        if self.rep:
            key = f"{key}#rep{self.rep + 1}"
        self.runs[key] = value
        self.write()

    def write(self):
        self.meta["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        doc = {"meta": self.meta, "checks": self.checks, "runs": self.runs}
        if self.repeated:
            doc["check_reps"] = self.entries
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        os.replace(tmp, self.path)


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


class Context:
    """What every area shares: options, deadline, results, environments, the coordinator.

    a is the parsed command line (runner.parse_args).  One coordinator runs at a time, for
    the phase being run (start_coordinator / stop_coordinator).
    """

    def __init__(self, a, results):
        self.a = a
        self.results = results
        self.deadline = a.deadline
        self.bin = a.bin_dir
        self.fake = a.fake
        self.seconds = a.seconds
        self.fake_gpus = a.fake_gpus
        self.coordinator = None
        self.coord_logs = []
        self.help_text = None
        os.makedirs(a.work, exist_ok=True)
        os.makedirs(os.path.join(a.work, "conf"), exist_ok=True)
        os.makedirs(os.path.join(a.work, "joblogs"), exist_ok=True)
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
        env = clean_environ()
        if self.fake:
            fake_dir = os.path.dirname(self.a.fake_cuda)
            env["LD_LIBRARY_PATH"] = fake_dir + (":" + env["LD_LIBRARY_PATH"]
                                                 if env.get("LD_LIBRARY_PATH") else "")
            env["SOFTMIG_FAKE_GPUS"] = self.fake_gpus
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

    def run_together(self, specs, timeout, probe=None, probe_after=0.0):
        """Starts [(name, cmd, env)] at once, releases them together after all are READY.

        Each cmd gets --wait-start: it prints READY, then waits for the start time on stdin.
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
        if self.supports("--state-dir"):
            # a state of its own per phase: no placement of an earlier run or phase comes back
            args += ["--state-dir", os.path.join(self.a.work, f"state-{phase}")]
        if self.supports("--node-name"):
            args += ["--node-name", "gpu-suite"]
        if self.fake:
            args += ["--simulate", self.fake_gpus]
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

    def mps_args(self):
        """Coordinator arguments for the MPS phase: GPU 0 through MPS, the suite's base dir."""
        self.stop_mps()  # a daemon left by an earlier run would be adopted with its state
        path = os.path.join(self.a.work, "node-mps.conf")
        control = MPS_STAND_IN if self.fake else "nvidia-cuda-mps-control"
        with open(path, "w") as f:
            f.write(f'softmig.mps.base-dir = "{MPS_BASE_DIR}"\n')
            f.write(f'softmig.mps.control = "{control}"\n')
            f.write("softmig.mps.probe-interval = 500ms\n")
            f.write("softmig.mps.server-fault-grace = 2s\n")
        return ["--mps", "0", "--config", path]

    def stop_mps(self):
        """Quits every MPS control daemon under the suite's base dir and removes the dir."""
        if not os.path.isdir(MPS_BASE_DIR):
            return
        control = MPS_STAND_IN if self.fake else "nvidia-cuda-mps-control"
        for uuid in sorted(os.listdir(MPS_BASE_DIR)):
            pipe = os.path.join(MPS_BASE_DIR, uuid, "pipe")
            if not os.path.isdir(pipe):
                continue
            env = clean_environ()
            env["CUDA_MPS_PIPE_DIRECTORY"] = pipe
            env["CUDA_MPS_LOG_DIRECTORY"] = os.path.join(MPS_BASE_DIR, uuid, "log")
            try:
                subprocess.run([control], input="quit\n", env=env, capture_output=True,
                               text=True, timeout=15)
            except (OSError, subprocess.TimeoutExpired) as e:
                log(f"  MPS daemon of {uuid} did not quit: {e!r}")
            # the daemon's own logs (control.log, server.log) go with the results
            logdir = os.path.join(MPS_BASE_DIR, uuid, "log")
            for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
                if self.a.out and name.endswith(".log"):
                    subprocess.run(["cp", os.path.join(logdir, name),
                                    os.path.join(self.a.out, f"mps-{name}")],
                                   capture_output=True, timeout=30)
        subprocess.run(["rm", "-rf", MPS_BASE_DIR], capture_output=True, timeout=30)

    def kill_children(self):
        for p in LIVE:
            if p.p.poll() is None:
                p.kill()


class Area:
    """Base of an area's class: the shared context under short names.

    An area module defines a subclass whose methods are its steps (see registry.py).
    """

    def __init__(self, ctx):
        self.ctx = ctx
        self.a = ctx.a
        self.results = ctx.results
        self.fake = ctx.fake
        self.seconds = ctx.seconds
        self.has_time = ctx.has_time
        self.base_env = ctx.base_env
        self.job_env = ctx.job_env
        self.run = ctx.run
        self.prog = ctx.prog
        self.cli = ctx.cli
        self.status = ctx.status
        self.run_together = ctx.run_together


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
                             timeout=20, env=clean_environ()).stdout
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


def collect_logs(ctx):
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
    with open(os.path.join(ctx.a.out, "coordinator.log"), "w") as out:
        for path in ctx.coord_logs:
            out.write(f"===== {os.path.basename(path)}\n{tail(path, 3 * MIB)}\n")
    logdir = os.path.join(ctx.a.work, "joblogs")
    with open(os.path.join(ctx.a.out, "shim.log"), "w") as out:
        for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
            out.write(f"===== {name}\n{tail(os.path.join(logdir, name), 64 * 1024)}\n")


def table(checks):
    """The plain-text table of every check (printed at the end and written to summary.txt)."""
    passed = sum(1 for c in checks if c["pass"] is True)
    failed = sum(1 for c in checks if c["pass"] is False)
    lines = ["%-6s %-8s %-58s %14s %12s %s" % ("result", "part", "check", "value", "target",
                                               "unit")]
    for c in checks:
        mark = {True: "PASS", False: "FAIL", None: "info"}[c["pass"]]
        spread = ""
        reps = c.get("reps")
        if reps and reps.get("spread") is not None:
            spread = f"  (n={len(reps['values'])}, spread {fmt(reps['spread'])})"
        lines.append("%-6s %-8s %-58s %14s %12s %s%s" % (
            mark, c["part"], c["name"][:58], fmt(c["value"])[:14], fmt(c["target"])[:12],
            c["unit"], spread))
    lines.append("")
    lines.append(f"{passed} passed, {failed} failed, "
                 f"{len(checks) - passed - failed} informational")
    return "\n".join(lines) + "\n"
