#!/usr/bin/env python3
"""PyTorch memory checks under a softmig limit; prints {"checks": [...]} as its last line.

Usage: torch_mem.py LIMIT_BYTES [PREFIX]
Run with LD_PRELOAD=libsoftmig.so and CUDA_DEVICE_MEMORY_LIMIT; PYTORCH_CUDA_ALLOC_CONF
may select expandable segments (PREFIX names the variant in the check names).
"""
import json
import sys

GIB = 1 << 30
MIB = 1 << 20


def main():
    limit = int(sys.argv[1])
    prefix = sys.argv[2] if len(sys.argv) > 2 else "torch"
    checks = []

    def check(name, passed, value, target, unit, note=None):
        entry = {"name": f"{prefix}.{name}", "pass": bool(passed), "value": value,
                 "target": target, "unit": unit}
        if note:
            entry["note"] = note
        checks.append(entry)

    import torch

    free, total = torch.cuda.mem_get_info()
    check("mem_get_info.total_equals_limit", total == limit, total, limit, "bytes")
    check("mem_get_info.free_within_limit", 0 < free <= limit, free, limit, "bytes")

    raised = None
    try:
        too_big = torch.empty(limit + GIB, dtype=torch.uint8, device="cuda")
        del too_big
    except torch.OutOfMemoryError:
        raised = "OutOfMemoryError"
    except Exception as e:  # noqa: BLE001 - any other error is a failed check
        raised = type(e).__name__ + ": " + str(e)[:200]
    check("over_limit_raises_OutOfMemoryError", raised == "OutOfMemoryError",
          raised or "no error", "OutOfMemoryError", "exception")

    # fill the limit in 256 MiB tensors: must stop at the limit with OutOfMemoryError
    held, error = [], None
    try:
        while len(held) * 256 * MIB < 4 * limit:
            held.append(torch.empty(256 * MIB, dtype=torch.uint8, device="cuda"))
    except torch.OutOfMemoryError:
        error = "OutOfMemoryError"
    except Exception as e:  # noqa: BLE001
        error = type(e).__name__
    filled = len(held) * 256 * MIB
    check("fill_stops_at_limit", error == "OutOfMemoryError" and filled <= limit, filled, limit,
          "bytes", f"stopped by {error}")
    check("fill_reaches_most_of_limit", filled >= limit - GIB, filled, limit - GIB, "bytes",
          "context and allocator overhead may take up to 1 GiB of the limit")
    del held
    torch.cuda.empty_cache()

    ok = None
    try:
        x = torch.ones(limit // 4, dtype=torch.uint8, device="cuda")
        ok = int(x[: 1 << 20].sum().item()) == 1 << 20  # a full-size sum would upcast to int64 (8x)
        del x
    except Exception as e:  # noqa: BLE001
        ok = False
        check("after_oom_note", False, type(e).__name__, "", "", str(e)[:200])
    check("process_goes_on_after_oom", ok, ok, True, "bool")
    print(json.dumps({"checks": checks}))


if __name__ == "__main__":
    main()
