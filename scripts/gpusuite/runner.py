"""The GPU suite's runner: parses the command line, plans the steps, runs them phase by phase.

scripts/gpu-suite.sh builds everything and then runs `python3 -m gpusuite` (with scripts/ on
PYTHONPATH); see docs/GPU-SUITE.md.  Phases (registry.PHASES) run in order, each with its own
coordinator or none; each phase runs its steps in order, and with --reps N the repeated steps
again, round by round (A B C, A B C, ...), so that a slow drift of the machine touches every
check alike.  A step starts only while the budget allows it (its estimate, at most
STEP_GATE_S); inside, each run checks the time again.
"""

import argparse
import os
import signal
import sys
import time

from . import core, registry
from .core import log

STEP_GATE_S = 20.0       # a step starts only with min(its estimate, this) seconds left
COORDINATOR_START_S = 8  # about what a coordinator's start costs (dry-run estimate)
DEFAULT_BUDGET_S = 540   # fits one 10-minute machine slot with the build


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="gpusuite", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="where results.json, summary.txt and the logs go")
    ap.add_argument("--work", help="scratch: socket, job logs, coordinator logs")
    ap.add_argument("--bin-dir", help="the built test programs")
    ap.add_argument("--py-dir", help="bench/gpu/py")
    ap.add_argument("--shim", help="libsoftmig.so")
    ap.add_argument("--java", default="java")
    ap.add_argument("--jar")
    ap.add_argument("--only", default="",
                    help="comma list of areas (" + ",".join(registry.AREAS) + "), each "
                         "optionally AREA:KEY[+KEY...] for some of its steps")
    ap.add_argument("--reps", type=int, default=1,
                    help="run the measuring steps N times, interleaved; report median and spread")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each compute run")
    ap.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                    help="seconds from now to stop by (when --deadline is not given)")
    ap.add_argument("--deadline", type=float, default=0.0, help="epoch seconds to stop by")
    ap.add_argument("--dry-run", action="store_true",
                    help="list the steps that would run, with their estimates, and stop")
    ap.add_argument("--unmanaged-flag", default="--unmanaged-policy kill",
                    help="coordinator option that sets the unmanaged-process policy to kill")
    ap.add_argument("--unmanaged-config", default="softmig.unmanaged-policy = kill",
                    help="node config line for the kill policy, used when the flag is not listed")
    ap.add_argument("--command", default="", help="the command line to record in the results")
    ap.add_argument("--fake", action="store_true",
                    help="run on the fake CUDA driver and --simulate GPUs (a dry run)")
    ap.add_argument("--fake-cuda", default="", help="the fake libcuda.so.1")
    ap.add_argument("--fake-gpus", default="H100:80G")
    ap.add_argument("--fake-multi-gpus", default="H100:80G,H100:80G,H100:80G,H100:80G",
                    help="the simulated GPUs of the multi-GPU phase under --fake")
    a = ap.parse_args(argv)
    if a.quick and a.seconds == 10.0:
        a.seconds = 5.0
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    if not a.dry_run:
        missing = [f"--{n.replace('_', '-')}" for n in ("out", "work", "bin_dir", "py_dir",
                                                         "shim", "jar") if not getattr(a, n)]
        if missing:
            ap.error("missing " + ", ".join(missing))
    if not a.deadline:
        a.deadline = time.time() + a.budget
    return a


def needs(step, seconds):
    return float(step.needs(seconds) if callable(step.needs) else step.needs)


def plan(a):
    """[(AreaSpec, Step)] in run order for --only; raises registry.SelectionError."""
    chosen = registry.parse_only(a.only)
    areas = registry.load_areas(set(chosen))
    return registry.select(areas, chosen)


def describe(steps, a):
    """The dry-run listing: phases, steps, estimates, and whether it fits the budget."""
    lines, total, phase = [], 0.0, None
    for spec, s in steps:
        if s.phase != phase:
            phase = s.phase
            ph = registry.PHASE_BY_NAME[phase]
            lines.append(f"phase {phase}: {ph.summary}")
            if ph.policy:
                total += COORDINATOR_START_S
        est = needs(s, a.seconds)
        times = a.reps if s.repeat else 1
        total += est * times
        rep = f" x{times}" if times > 1 else ""
        lines.append(f"  {spec.name + ':' + s.key:<26} ~{est:5.0f} s{rep:<4} {s.summary}")
    budget = a.deadline - time.time()
    verdict = "fits" if total <= budget else "over: the last steps would be skipped"
    lines.append(f"{len(steps)} steps, about {total:.0f} s of {budget:.0f} s left ({verdict})")
    return "\n".join(lines)


def run_steps(ctx, steps, reps):
    """Runs the planned steps phase by phase; returns nothing (everything is in ctx.results)."""
    results = ctx.results
    instances = {}
    for phase in registry.PHASES:
        todo = [(spec, s) for spec, s in steps if s.phase == phase.name]
        if not todo:
            continue
        if phase.policy and not ctx.has_time(phase.needs, phase.name):
            continue
        ctx.fake_gpus = ctx.a.fake_multi_gpus if phase.multi_gpu else ctx.a.fake_gpus
        log(f"== phase {phase.name} ({phase.summary})")
        if phase.policy:
            extra = ctx.unmanaged_kill_args() if phase.unmanaged_kill else ()
            if phase.mps:
                extra = ctx.mps_args()
            if not ctx.start_coordinator(phase.name, phase.policy, extra):
                ctx.stop_mps()
                continue
        for rep in range(reps):
            for spec, s in todo:
                if rep > 0 and not s.repeat:
                    continue
                results.rep = rep
                if not ctx.has_time(min(needs(s, ctx.seconds), STEP_GATE_S),
                                    f"{spec.name}.{s.key}"):
                    continue
                if spec.name not in instances:
                    instances[spec.name] = spec.cls(ctx)
                try:
                    getattr(instances[spec.name], s.method)()
                except KeyboardInterrupt:
                    raise
                except Exception as e:  # a broken step must not end the run
                    log(f"step {spec.name}:{s.key} raised {e!r}")
                    results.add("suite", f"error.{spec.name}.{s.key}", False, repr(e)[:300],
                                None, "", "the step raised an exception; later steps ran")
        results.rep = 0
        ctx.stop_coordinator()
        if phase.mps:
            ctx.stop_mps()


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        steps = plan(a)
    except registry.SelectionError as e:
        print(f"gpusuite: --only: {e}", file=sys.stderr)
        return 2
    if a.dry_run:
        print(describe(steps, a))
        return 0
    for p in (a.out, a.work):
        os.makedirs(p, exist_ok=True)
    areas = sorted({spec.name for spec, _ in steps})
    meta = {"suite": "softmig-gpu-suite", "format": 2, "fake": a.fake,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds_per_run": a.seconds, "parts": areas, "only": a.only or None,
            "reps": a.reps, "argv": sys.argv[1:] if argv is None else argv,
            "command": a.command or None, "machine": core.machine_info(a.fake)}
    results = core.Results(os.path.join(a.out, "results.json"), meta)
    results.repeated = a.reps > 1
    ctx = core.Context(a, results)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    rc = 0
    try:
        run_steps(ctx, steps, a.reps)
    except KeyboardInterrupt as e:
        log(f"interrupted: {e}")
        rc = 1
    finally:
        ctx.kill_children()
        ctx.stop_coordinator()
        ctx.stop_mps()
        results.meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        results.write()
        core.collect_logs(ctx)
        text = core.table(results.checks)
        with open(os.path.join(a.out, "summary.txt"), "w") as f:
            f.write(text)
        print("\n" + text, end="")
    return rc
