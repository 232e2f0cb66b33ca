#!/usr/bin/env python3
"""Turns a GPU-suite results.json into Markdown for docs/BENCHMARKS.md.

Usage: scripts/summarize-gpu-results.py results.json [--all]

Prints the machine, the run's date and options, then one table per part (memory, compute,
nvml, multigpu, mps, suite) with each check's value, target and result (with --reps, the
median, and the spread in the note). --all also lists the raw runs' keys.
"""
import json
import sys

PART_TITLES = {
    "memory": "Memory limits (issue 3)",
    "compute": "Compute shares (issue 4)",
    "nvml": "NVML, placement and unmanaged processes (issue 5)",
    "multigpu": "Multi-GPU nodes (issue 14)",
    "mps": "MPS (issue 15)",
    "suite": "Suite",
}


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and abs(v) >= 1 << 20:
        return f"{v:,}"
    return str(v).replace("|", "\\|")


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with open(argv[1]) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"cannot read {argv[1]}: {e}", file=sys.stderr)
        return 1
    meta = doc.get("meta", {})
    machine = meta.get("machine", {})
    checks = doc.get("checks", [])

    print("## GPU suite results\n")
    rows = [("GPU", machine.get("gpu")), ("driver", machine.get("driver")),
            ("CUDA compiler", machine.get("nvcc")), ("host", machine.get("hostname")),
            ("run", f"{meta.get('started', '?')} to {meta.get('finished', meta.get('updated', '?'))}"),
            ("command", meta.get("command")),
            ("seconds per compute run", meta.get("seconds_per_run"))]
    if meta.get("setup_failed"):
        rows.append(("setup failed", meta["setup_failed"]))
    for k, v in rows:
        if v is not None:
            print(f"- **{k}**: {fmt(v)}")
    passed = sum(1 for c in checks if c.get("pass") is True)
    failed = sum(1 for c in checks if c.get("pass") is False)
    print(f"\n**{passed} passed, {failed} failed**, {len(checks) - passed - failed} figures "
          "reported without a target.\n")

    parts = [p for p in PART_TITLES if any(c.get("part") == p for c in checks)]
    for c in checks:
        if c.get("part") not in parts:
            parts.append(c.get("part"))
    for part in parts:
        print(f"### {PART_TITLES.get(part, part)}\n")
        print("| check | value | target | unit | result | note |")
        print("|---|---:|---:|---|---|---|")
        for c in checks:
            if c.get("part") != part:
                continue
            result = {True: "pass", False: "**FAIL**", None: "info"}.get(c.get("pass"), "?")
            note = c.get("note") or ""
            reps = c.get("reps") or {}
            if reps.get("values"):
                spread = f", spread {fmt(reps['spread'])}" if reps.get("spread") is not None else ""
                note = f"median of {len(reps['values'])}{spread}" + (f"; {note}" if note else "")
            print(f"| {fmt(c.get('name'))} | {fmt(c.get('value'))} | {fmt(c.get('target'))} | "
                  f"{fmt(c.get('unit'))} | {result} | {fmt(note)} |")
        print()
    if "--all" in argv:
        print("Raw runs: " + ", ".join(sorted(doc.get("runs", {}))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
