"""memory: limits on every allocation path and in the frameworks, and their cost (issue 3).

Jobs get a 4 GiB limit (CUDA_DEVICE_MEMORY_LIMIT).  Steps: alloc_cost and startup (a
baseline without the shim, then with it in the cap phase), paths, frameworks (PyTorch, JAX,
CuPy), two_processes, nvidia_smi, memfree (reported free memory is what a fill gets) and
memsources (graph memory nodes, module globals and extra contexts under a 2 GiB limit, issue
11).  See docs/GPU-SUITE.md.
"""

import os
import statistics
import sys
import time

from . import core
from .core import MIB, GIB, last_json, nvml_process_used
from .registry import AreaSpec, Step

MEM_LIMIT = 4 * GIB
NVML_SLACK = 64 * MIB
SOURCES_LIMIT = 2 * GIB
# On the fake driver a context costs nothing unless told: give it an H200-like cost.
FAKE_CONTEXT = {"SOFTMIG_FAKE_CONTEXT_BYTES": "512M"}


class Memory(core.Area):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.alloc_base = None
        self.startup_base = ([], [])

    def alloc_cost_baseline(self):
        self.alloc_cost("baseline", preload=False)

    def startup_baseline(self):
        self.startup_cost("baseline", preload=False)

    def alloc_cost_shim(self):
        self.alloc_cost("shim", preload=True)

    def startup_shim(self):
        self.startup_cost("shim", preload=True)

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
        base = self.alloc_base
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
        base = self.startup_base
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

    def paths(self):
        """Every allocation path of the driver and runtime APIs against the limit."""
        lim = MEM_LIMIT
        for prog in ("memtest", "memtest_rt"):
            env = self.job_env(f"suite-mem-{prog}", mem=lim)
            rc, out, err, _ = self.run([self.prog(prog), "paths", str(lim)], env, 120, name=prog)
            self.add_checks("memory", last_json(out), out, err, prog + ".paths")

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
            p = core.Proc([sys.executable, os.path.join(self.a.py_dir, "jax_mem.py"), str(lim)], env,
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
        a = core.Proc([self.prog("memtest"), "hold", str(lim // 2), "60"], env, stdin=True, name="A")
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

    def held_probe(self, job, lim, cmd):
        """Runs a probe that prints its JSON and holds (--hold); returns (result, status bytes,
        NVML bytes from nvidia-smi or None, exit code)."""
        env = self.job_env(job, mem=lim, extra=FAKE_CONTEXT if self.fake else None)
        p = core.Proc([*cmd, "--hold", "60"], env, stdin=True, name=os.path.basename(cmd[0]))
        end = time.monotonic() + 60
        while time.monotonic() < end and not p.out_lines and p.p.poll() is None:
            time.sleep(0.1)
        time.sleep(0.2)
        res = last_json("".join(p.out_lines))
        used, smi = None, None
        if res is not None:
            smi = None if self.fake else nvml_process_used(p.p.pid)
            want = smi if smi is not None else res.get("nvml_used", -1)
            # a lone process reports asynchronously; NVML is reconciled every 500 ms
            end = time.monotonic() + 6
            while time.monotonic() < end:
                jobs = [j for j in core.status_jobs(self.status()) if j.get("job_id") == job]
                used = int(jobs[0].get("memory_used_bytes", 0)) if jobs else None
                if used is not None and want is not None and want >= 0 and \
                        abs(used - want) <= NVML_SLACK:
                    break
                time.sleep(0.5)
        p.close_stdin()
        rc, out, err = p.wait(30)
        return res, used, smi, rc, err

    def memfree(self):
        """cuMemGetInfo's free at start and 3 s later against what a fill loop gets."""
        res, used, smi, rc, err = self.held_probe("suite-mem-free", MEM_LIMIT,
                                                  [self.prog("memfree"), "--wait", "3"])
        self.results.raw("memory.memfree", {"result": res, "status_used": used, "nvidia_smi": smi,
                                            "exit": rc})
        if res is None:
            self.results.add("memory", "memfree.fill_within_64mib_of_free", False, None, 64, "MiB",
                             "no result: " + err.strip()[-300:])
            return
        filled = res.get("filled", 0)
        for key, name in (("free_start", "at_start"), ("free_after_wait", "after_3s")):
            diff = (res.get(key, 0) - filled) / MIB
            self.results.add("memory", f"memfree.{name}.free_minus_filled", abs(diff) <= 64,
                             round(diff, 1), 64, "MiB",
                             f"reported free {res.get(key, 0) / MIB:.0f} MiB, fill got "
                             f"{filled / MIB:.0f} MiB ({res.get('blocks')} blocks); limit 4096 MiB")
        nv = smi if smi is not None else res.get("nvml_used", -1)
        if nv is not None and nv >= 0 and used is not None:
            self.results.add("memory", "memfree.status_minus_nvml", abs(used - nv) <= NVML_SLACK,
                             round((used - nv) / MIB, 1), 64, "MiB",
                             f"status {used / MIB:.0f} MiB, NVML {nv / MIB:.0f} MiB")

    def memsources(self):
        """Graph memory nodes, module globals and extra contexts past a 2 GiB limit."""
        res, used, smi, rc, err = self.held_probe("suite-mem-sources", SOURCES_LIMIT,
                                                  [self.prog("memsources")])
        self.results.raw("memory.memsources", {"result": res, "status_used": used,
                                               "nvidia_smi": smi, "exit": rc})
        if res is None:
            self.results.add("memory", "memsources.refused", False, None, 2, "CUresult",
                             "no result: " + err.strip()[-300:])
            return
        note = (f"filled {res.get('filled', 0) / MIB:.0f} MiB of the 2048 MiB limit first, "
                f"256 MiB left")
        self.results.add("memory", "memsources.graph_mem_alloc_node_3g_refused",
                         res.get("graph_rc") == 2, res.get("graph_rc"), 2, "CUresult", note)
        self.results.add("memory", "memsources.module_3g_device_array_refused",
                         res.get("module_rc") == 2, res.get("module_rc"), 2, "CUresult", note)
        ctx = res.get("ctx_rc", [])
        self.results.add("memory", "memsources.four_cuCtxCreate_refused",
                         len(ctx) == 4 and all(r == 2 for r in ctx), ctx, [2, 2, 2, 2], "CUresult",
                         note)
        peak = res.get("nvml_peak", -1)
        self.results.add("memory", "memsources.nvml_peak_within_limit",
                         0 <= peak <= SOURCES_LIMIT + NVML_SLACK, round(peak / MIB, 1),
                         (SOURCES_LIMIT + NVML_SLACK) // MIB, "MiB",
                         "the process's NVML usage after each attempt (highest)")
        nv = smi if smi is not None else res.get("nvml_used", -1)
        if nv is not None and nv >= 0 and used is not None:
            self.results.add("memory", "memsources.status_minus_nvml",
                             abs(used - nv) <= NVML_SLACK, round((used - nv) / MIB, 1), 64, "MiB",
                             f"status {used / MIB:.0f} MiB, NVML {nv / MIB:.0f} MiB")
        else:
            self.results.add("memory", "memsources.status_minus_nvml", False, None, 64, "MiB",
                             f"status {used}, NVML {nv}")

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


AREA = AreaSpec("memory", Memory, summary="memory limits, frameworks, allocation cost", steps=[
    Step("alloc_cost", "baseline", "alloc_cost_baseline", needs=8, repeat=True,
         summary="cudaMalloc+cudaFree 2 MiB, 2000 times, no shim"),
    Step("startup", "baseline", "startup_baseline", needs=10, repeat=True,
         summary="exec to exit of bench/gpu/startup, 11 runs, no shim"),
    Step("paths", "cap", "paths", needs=20,
         summary="driver and runtime allocation paths: within, over, after the limit"),
    Step("frameworks", "cap", "framework_checks", needs=90,
         summary="PyTorch (also expandable segments), a training loop, JAX, CuPy"),
    Step("two_processes", "cap", "two_processes", needs=8,
         summary="two processes of one job share its limit"),
    Step("nvidia_smi", "cap", "nvidia_smi_in_job", needs=3,
         summary="nvidia-smi inside the job shows the limit as total"),
    Step("memfree", "cap", "memfree", needs=10,
         summary="free memory at start and after 3 s is what a fill gets (4 GiB limit)"),
    Step("memsources", "cap", "memsources", needs=10,
         summary="graph memory node, module globals, extra contexts refused (2 GiB limit)"),
    Step("alloc_cost", "cap", "alloc_cost_shim", needs=8, repeat=True, requires=("alloc_cost",),
         summary="the same with the shim: added p50, p99"),
    Step("startup", "cap", "startup_shim", needs=10, repeat=True, requires=("startup",),
         summary="the same with the shim: added wall time"),
])
