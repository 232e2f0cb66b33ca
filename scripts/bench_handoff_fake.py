#!/usr/bin/env python3
"""Lease hand-off on the fake CUDA driver: busy jobs together against one alone.

Starts a coordinator on a simulated GPU of its own and runs launch_probe (fake kernels of
--kernel-us, a sync every 8 launches) under the shim: one job alone (no limit), then --jobs
jobs together (equal shares, or --shares 70,30), interleaved --reps times. For each variant
(--variant NAME=JAR:SHIM, repeatable; default: this checkout's build) it prints the median and
spread (min..max) of: the jobs' kernel rate together as % of one alone, each job's % of one
alone, and the hand-off p50/p99 the coordinator reports. Variants run interleaved too, so a
before/after comparison sees the same machine load.

  scripts/bench_handoff_fake.py --reps 5 --seconds 5
  scripts/bench_handoff_fake.py --variant before=/tmp/old.jar:/tmp/old.so --variant after=... 
  scripts/bench_handoff_fake.py --jobs 8 --seconds 5       # hand-off p50/p99 with 8 jobs
  scripts/bench_handoff_fake.py --variant loop=$JAR:$SHIM --variant fj=$JAR:$SHIM \
      --java-opts fj=-Dsoftmig.gpu-dispatcher.executor=fork-join-executor   # coordinator JVM options
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "native-shim", "build")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--kernel-us", type=int, default=2000)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--shares", default="", help="comma-separated SM limits, e.g. 70,30 (default equal)")
    p.add_argument("--policy", default="share", choices=["share", "cap"])
    p.add_argument("--sync-every", type=int, default=8)
    p.add_argument("--variant", action="append", default=[], help="NAME=JAR:SHIM")
    p.add_argument("--java-opts", action="append", default=[],
                   help="NAME=OPTIONS: JVM options of variant NAME's coordinator (space-separated)")
    return p.parse_args()


class Coordinator:
    def __init__(self, jar, policy, spec, workdir, java_opts=()):
        self.socket = os.path.join(workdir, "c.sock")
        conf = os.path.join(workdir, "conf")
        os.makedirs(conf, exist_ok=True)
        self.log = open(os.path.join(workdir, "coordinator.log"), "w")
        self.jar = jar
        self.proc = subprocess.Popen(
            ["java", "-Xms64m", "-Xmx256m"] + list(java_opts) + ["-jar", jar, "coordinator", "--socket", self.socket,
             "--simulate", spec, "--node-name", "bench", "--config-dir", conf,
             "--sm-policy", policy],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 240  # a loaded 2-core box can take minutes to start a JVM
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("coordinator did not start; see " + self.log.name)
            time.sleep(0.2)

    def status(self):
        out = subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-jar", self.jar, "status", "--socket",
                              self.socket, "--json"], capture_output=True, text=True, timeout=60)
        return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else {}

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def probes(shim, socket, spec, jobs, args, coordinator=None):
    """Starts one launch_probe per (job id, limit); returns their JSON results and, with a
    coordinator, its status read near the end of the run (jobs leave the status when they end)."""
    procs = []
    for job, limit in jobs:
        env = dict(os.environ, LD_PRELOAD=shim, LD_LIBRARY_PATH=os.path.join(BUILD, "fake-cuda"),
                   SOFTMIG_SOCKET=socket, SOFTMIG_JOB_ID=job, SOFTMIG_FAKE_GPUS=spec,
                   SOFTMIG_FAKE_KERNEL_US=str(args.kernel_us))
        if limit:
            env["CUDA_DEVICE_SM_LIMIT"] = str(limit)
        procs.append(subprocess.Popen(
            [os.path.join(BUILD, "test", "launch_probe"), "kernel", str(args.seconds),
             "--sync-every", str(args.sync_every)], env=env, stdout=subprocess.PIPE, text=True))
    status = {}
    if coordinator:
        time.sleep(args.seconds * 0.4)  # the status command's JVM takes a while to start
        status = coordinator.status()
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=args.seconds * 4 + 60)
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results, status


def field(d, snake):
    camel = snake.split("_")[0] + "".join(w.capitalize() for w in snake.split("_")[1:])
    return float(d.get(snake, d.get(camel, 0)) or 0)


def handoffs(status):
    """The median over the jobs of their hand-off p50 and p99."""
    p50, p99 = [], []
    gpus = [g for node in status.get("nodes", []) for g in node.get("gpus", [])]
    for gpu in gpus:
        for job in gpu.get("jobs", []):
            if field(job, "grant_latency_p50_us"):
                p50.append(field(job, "grant_latency_p50_us"))
                p99.append(field(job, "grant_latency_p99_us"))
    return (statistics.median(p50) if p50 else 0, statistics.median(p99) if p99 else 0)


def spread(values):
    if not values:
        return "-"
    return "%.1f (%.1f..%.1f)" % (statistics.median(values), min(values), max(values))


def main():
    args = parse_args()
    variants = []
    for v in args.variant or ["this=%s:%s" % (os.path.join(ROOT, "coordinator", "target", "softmig.jar"),
                                               os.path.join(BUILD, "libsoftmig.so"))]:
        name, paths = v.split("=", 1)
        jar, shim = paths.split(":", 1)
        variants.append((name, jar, shim))
    java_opts = {}
    for o in args.java_opts:
        name, opts = o.split("=", 1)
        java_opts[name] = opts.split()
    shares = [float(s) for s in args.shares.split(",")] if args.shares else [100.0 / args.jobs] * args.jobs
    if len(shares) != args.jobs:
        raise SystemExit("--shares needs %d values" % args.jobs)
    results = {name: {"together": [], "each": [[] for _ in shares], "p50": [], "p99": []}
               for name, _, _ in variants}
    print("fake driver: %d jobs (%s), %d us kernels, sync every %d, %s policy, %g s runs, %d reps, nproc %d, "
          "load %.1f" % (args.jobs, ",".join("%g" % s for s in shares), args.kernel_us, args.sync_every,
                         args.policy, args.seconds, args.reps, os.cpu_count(), os.getloadavg()[0]), flush=True)
    for rep in range(args.reps):
        for name, jar, shim in variants:
            spec = "HO%d%d:80G" % (os.getpid(), rep)
            with tempfile.TemporaryDirectory(prefix="softmig-ho") as work:
                c = Coordinator(jar, args.policy, spec, work, java_opts.get(name, ()))
                try:
                    alone = probes(shim, c.socket, spec, [("alone%d" % rep, 0)], args)[0][0]["rate"]
                    together, status = probes(shim, c.socket, spec,
                                              [("j%d-%d" % (rep, i), s) for i, s in enumerate(shares)],
                                              args, c)
                    p50, p99 = handoffs(status)
                finally:
                    c.close()
            r = results[name]
            r["together"].append(100.0 * sum(t["rate"] for t in together) / alone)
            for i, t in enumerate(together):
                r["each"][i].append(100.0 * t["rate"] / alone)
            r["p50"].append(p50)
            r["p99"].append(p99)
            print("rep %d %s: alone %.1f/s, together %.1f %% (%s), hand-off p50 %d us p99 %d us" % (
                rep + 1, name, alone, r["together"][-1],
                " / ".join("%.1f" % e[-1] for e in r["each"]), p50, p99), flush=True)
    print("\nmedian (min..max) over %d reps:" % args.reps)
    for name, _, _ in variants:
        r = results[name]
        print("%s: together %s %% | each %s | hand-off p50 %s us, p99 %s us" % (
            name, spread(r["together"]), " / ".join(spread(e) for e in r["each"]),
            spread(r["p50"]), spread(r["p99"])))


if __name__ == "__main__":
    sys.exit(main())
