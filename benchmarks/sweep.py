"""Sweep speed: parallel scaling of the process pool, Ray's per-trial overhead, time to the first trial.

    python benchmarks/sweep.py [--trials 64] [--steps 40] [--no-ray]

Trials: the built-in ``trainability`` on the 2-D ``circles`` data (width 64, depth 4, ``--steps`` SGD steps,
batch 50, one torch thread), a grid over σ_w² so that every trial is distinct. Printed, measured in one run:

1. ``--trials`` trials with 1 vs 2 local workers (``initlab.sweep.run(workers=1|2)``, wall time including
   the pool's start): the speed-up (goal ≥ 1.8× on 2 cores).
2. Per-trial overhead of the Ray executor over the process pool: with one worker, the gap between one
   trial's end and the next trial's start on that worker (the dispatch round trip: driver, queue,
   store write), median over the trials, Ray minus pool (goal ≤ 50 ms).
   The trials' CPU time over wall time × workers shows how much of the machine the workers got.
3. Time from ``initlab sweep run`` (a fresh process) to the first trial's start (from the trials'
   ``timing.json``), local and with ``--ray`` starting a local Ray (goals ≤ 5 s, ≤ 10 s).

Load from other processes lengthens every number; run it on an idle machine for the goals.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import initlab.sweep as sw


def spec(n: int, steps: int) -> dict:
    return {"trial": "trainability", "seeds": [0],
            "grid": {"sigma_w2": [round(1.0 + 2.0 * i / max(1, n - 1), 6) for i in range(n)]},
            "fixed": {"dataset": "circles", "width": 64, "depth": 4, "steps": steps, "batch_size": 50}}


def timings(d: Path) -> list[dict]:
    out = [json.loads(p.read_text()) for p in d.glob("trials/*/timing.json")]
    return sorted(out, key=lambda t: t["started"])


def gaps(d: Path) -> list[float]:
    t = timings(d)
    return [b["started"] - (a["started"] + a["seconds"]) for a, b in zip(t, t[1:])]


def first_start(cmd: list[str], d: Path) -> float:
    t0 = time.time()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(Path(sw.__file__).parents[2])})
    return min(t["started"] for t in timings(d)) - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="initlab-bench-sweep-"))
    s = spec(args.trials, args.steps)
    wall = {}
    for w in (1, 2):
        t0 = time.perf_counter()
        sw.run(s, root / f"pool{w}", workers=w, quiet=True)
        wall[w] = time.perf_counter() - t0
    cpu = {w: sum(t.get("cpu_seconds") or 0.0 for t in timings(root / f"pool{w}")) for w in (1, 2)}
    print(f"1. {args.trials} trials: 1 worker {wall[1]:.1f} s, 2 workers {wall[2]:.1f} s: "
          f"speed-up {wall[1] / wall[2]:.2f}x (goal >= 1.8x on 2 cores); trials' CPU time / (wall x workers): "
          f"{cpu[1] / wall[1]:.2f} and {cpu[2] / (2 * wall[2]):.2f} (below 1: the workers waited for a core or "
          f"for the pool to start)")
    small = spec(24, args.steps)
    pool_gap = statistics.median(gaps(root / "pool1"))
    line = f"2. dispatch gap per trial, 1 worker: pool {1e3 * pool_gap:.1f} ms"
    if not args.no_ray:
        import ray

        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            sw.run(spec(2, 1), root / "ray-warm", ray=True, quiet=True)  # start the worker
            sw.run(small, root / "ray1", ray=True, quiet=True)
        finally:
            ray.shutdown()
        ray_gap = statistics.median(gaps(root / "ray1"))
        line += f", Ray {1e3 * ray_gap:.1f} ms: Ray overhead {1e3 * (ray_gap - pool_gap):.1f} ms (goal <= 50 ms)"
    print(line)
    toml = root / "first.toml"
    toml.write_text('trial = "trainability"\n[grid]\ndepth = [1, 2]\n[fixed]\ndataset = "circles"\nwidth = 8\n'
                    'steps = 2\nbatch_size = 50\n')
    cli = [sys.executable, "-m", "initlab", "sweep", "run", str(toml), "--quiet", "--workers", "1", "--out"]
    local = first_start(cli + [str(root / "first-local")], root / "first-local")
    line = f"3. command to first trial started: local {local:.1f} s (goal <= 5 s)"
    if not args.no_ray:
        r = first_start(cli + [str(root / "first-ray"), "--ray"], root / "first-ray")
        line += f", Ray {r:.1f} s (goal <= 10 s)"
    print(line)
    print(f"(folders under {root}; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
