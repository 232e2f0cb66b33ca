#!/usr/bin/env python3
"""CuPy under a softmig limit; prints {"checks": [...]} as its last line.

Usage: cupy_mem.py LIMIT_BYTES
"""
import json
import sys

GIB = 1 << 30


def main():
    limit = int(sys.argv[1])
    checks = []

    def check(name, passed, value, target, unit, note=None):
        entry = {"name": "cupy." + name, "pass": bool(passed), "value": value, "target": target,
                 "unit": unit}
        if note:
            entry["note"] = note
        checks.append(entry)

    import cupy

    free, total = cupy.cuda.runtime.memGetInfo()
    check("memGetInfo.total_equals_limit", total == limit, total, limit, "bytes")
    raised = None
    try:
        a = cupy.empty(limit + GIB, dtype=cupy.uint8)
        del a
    except cupy.cuda.memory.OutOfMemoryError:
        raised = "OutOfMemoryError"
    except Exception as e:  # noqa: BLE001
        raised = type(e).__name__ + ": " + str(e)[:200]
    check("over_limit_raises_OutOfMemoryError", raised == "OutOfMemoryError", raised or "no error",
          "OutOfMemoryError", "exception")
    ok = False
    try:
        b = cupy.ones(limit // 4, dtype=cupy.uint8)
        ok = int(b.sum()) == limit // 4
        del b
    except Exception as e:  # noqa: BLE001
        check("after_oom_note", False, type(e).__name__, "", "", str(e)[:200])
    check("process_goes_on_after_oom", ok, ok, True, "bool")
    print(json.dumps({"checks": checks}))


if __name__ == "__main__":
    main()
