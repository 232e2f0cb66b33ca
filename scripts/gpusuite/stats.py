"""Medians, spreads and the merging of repeated checks (pure functions, no GPU)."""

import statistics


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def median_spread(values):
    """{"median", "min", "max", "spread", "spread_pct", "n"} of the numbers in values.

    spread is max - min; spread_pct is the spread in percent of |median| (None when the
    median is 0).  None when there is no number at all.
    """
    nums = [float(v) for v in values if is_number(v)]
    if not nums:
        return None
    med = statistics.median(nums)
    lo, hi = min(nums), max(nums)
    spread = hi - lo
    return {"median": med, "min": lo, "max": hi, "spread": spread,
            "spread_pct": (100.0 * spread / abs(med)) if med else None, "n": len(nums)}


def majority_pass(passes):
    """True when more than half of the repetitions passed, False when any failed otherwise,
    None when none had a target (all None).  For a one-sided target and an odd number of
    repetitions this is the verdict on the median."""
    judged = [p for p in passes if p is not None]
    if not judged:
        return None
    return sum(1 for p in judged if p) * 2 > len(judged)


def merge_reps(entries):
    """Merges check entries that carry a "rep" index into one entry per (part, name).

    A check seen once is returned as it is (without "rep").  A check seen in several
    repetitions becomes: value = the median (numbers) or the most common value, pass = the
    majority, plus "reps" {"values", "passes", "min", "max", "spread", "spread_pct"}.
    The order is the order of first appearance.
    """
    groups = {}
    for e in entries:
        groups.setdefault((e.get("part"), e.get("name")), []).append(e)
    merged = []
    for group in groups.values():
        first = {k: v for k, v in group[0].items() if k != "rep"}
        if len(group) == 1:
            merged.append(first)
            continue
        values = [e.get("value") for e in group]
        passes = [e.get("pass") for e in group]
        ms = median_spread(values)
        if ms is not None and all(is_number(v) or v is None for v in values):
            value = ms["median"]
            if all(isinstance(v, int) for v in values if v is not None) and value == int(value):
                value = int(value)
        else:
            value = max(values, key=lambda v: sum(1 for w in values if w == v))
        first["value"] = value
        first["pass"] = majority_pass(passes)
        reps = {"values": values, "passes": passes}
        if ms is not None:
            reps.update({k: ms[k] for k in ("min", "max", "spread", "spread_pct")})
        first["reps"] = reps
        notes = [e.get("note") for e in group if e.get("note")]
        if notes:
            first["note"] = notes[len(notes) // 2]
        merged.append(first)
    return merged
