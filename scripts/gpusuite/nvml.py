"""nvml: the coordinator's view of the GPU through NVML, unmanaged processes (issue 5).

Runs in the nvml phase: a coordinator on the real GPU with the unmanaged-process policy
`kill`.  Steps: inventory, unmanaged (place, a process without the shim listed and killed),
usage (NVML's figure for a job filling its limit).  See docs/GPU-SUITE.md.
"""

import shlex
import time

from . import core
from .core import MIB, GIB, last_json, nvidia_smi_gpus, nvml_process_used, status_gpus, \
    status_unmanaged
from .registry import AreaSpec, Step

NVML_LIMIT = 2 * GIB
NVML_SLACK = 64 * MIB


class Nvml(core.Area):
    def inventory(self):
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

    def unmanaged(self):
        gpu_uuid = None
        rc, out, err = self.cli("place", "--job", "suite-nvml-placed", "--mem", "4G", "--sm", "50")
        gpu_uuid = out.strip().splitlines()[-1] if rc == 0 and out.strip() else None
        self.results.add("nvml", "place.prints_gpu_uuid", bool(gpu_uuid and "GPU-" in gpu_uuid),
                         gpu_uuid, "GPU-...", "uuid", None if rc == 0 else err.strip()[-200:])
        env = self.job_env("suite-nvml-unmanaged", preload=False)
        p = core.Proc([self.prog("memtest"), "hold", "256M", "30"], env, stdin=True, name="unmanaged")
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
        how = self.ctx.unmanaged_kill_args()
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
        p = core.Proc([self.prog("memtest"), "fill", "64M", "30"], env, stdin=True, name="fill")
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


AREA = AreaSpec("nvml", Nvml, summary="NVML inventory, unmanaged processes, NVML usage", steps=[
    Step("inventory", "nvml", "inventory", needs=3,
         summary="the coordinator lists the GPU with nvidia-smi's UUID and memory"),
    Step("unmanaged", "nvml", "unmanaged", needs=16,
         summary="place answers a UUID; a process without the shim is listed and killed"),
    Step("usage", "nvml", "nvml_usage", needs=8,
         summary="a job filling its 2 GiB limit: refused there, alive, NVML within limit"),
])
