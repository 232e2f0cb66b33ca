#!/usr/bin/env python3
"""A small MLP training loop on random data; prints iterations/s and peak memory as JSON.

Usage: torch_train.py [--seconds T] [--iters N] [--start-at EPOCH | --wait-start] [--width W] [--batch B]
Stops after T seconds or N iterations, whichever comes first (0 = no bound).
"""
import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--iters", type=int, default=0)
    ap.add_argument("--start-at", type=float, default=0.0)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--label", default="")
    ap.add_argument("--wait-start", action="store_true",
                    help="print READY after the warm-up, then read the start time from stdin")
    a = ap.parse_args()

    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    dev = torch.device("cuda")
    layers = []
    for _ in range(4):
        layers += [torch.nn.Linear(a.width, a.width), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(a.width, 10)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(a.batch, a.width, device=dev)
    y = torch.randint(0, 10, (a.batch,), device=dev)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):  # warm-up: cuBLAS handles, allocator
        step()
    torch.cuda.synchronize()
    if a.wait_start:
        print("READY", flush=True)
        line = sys.stdin.readline().strip()
        a.start_at = float(line) if line else 0.0
    if a.start_at > 0:
        time.sleep(max(0.0, a.start_at - time.time()))
    t0 = time.perf_counter()
    n = 0
    loss = None
    while True:
        loss = step()
        n += 1
        if n % 5 == 0:
            torch.cuda.synchronize()
            elapsed = time.perf_counter() - t0
            if (a.seconds and elapsed >= a.seconds) or (a.iters and n >= a.iters):
                break
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    print(json.dumps({
        "label": a.label, "iterations": n, "seconds": elapsed, "its_per_s": n / elapsed,
        "loss": float(loss.item()), "max_reserved": torch.cuda.max_memory_reserved(),
        "max_allocated": torch.cuda.max_memory_allocated()}))


if __name__ == "__main__":
    main()
