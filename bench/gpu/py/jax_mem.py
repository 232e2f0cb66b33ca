#!/usr/bin/env python3
"""JAX under a softmig limit: its default preallocation (75 % of what the device reports)
must be 75 % of the limit, not of the card.  Prints READY, waits for stdin EOF (so the
suite can read NVML's view of the process), then prints a JSON result line.

Usage: jax_mem.py LIMIT_BYTES
"""
import json
import sys

GIB = 1 << 30


def main():
    limit = int(sys.argv[1])
    import jax
    import jax.numpy as jnp

    dev = jax.devices()[0]
    x = jnp.ones((1024, 1024), dtype=jnp.float32)
    x.block_until_ready()
    stats = dev.memory_stats() or {}
    bytes_limit = int(stats.get("bytes_limit", 0))
    over_error = None
    try:
        big = jnp.ones((limit + GIB,), dtype=jnp.uint8)
        big.block_until_ready()
        del big
    except Exception as e:  # noqa: BLE001 - XLA raises its own runtime error type
        over_error = type(e).__name__ + ": " + str(e)[:160]
    # still usable after the refusal
    y = (x * 2).sum()
    alive = float(y) == 2.0 * 1024 * 1024
    print("READY", flush=True)
    sys.stdin.read()
    print(json.dumps({"platform": dev.platform, "device": str(dev), "bytes_limit": bytes_limit,
                      "fraction_of_limit": bytes_limit / limit, "over_limit_error": over_error,
                      "alive_after_error": alive}))


if __name__ == "__main__":
    main()
