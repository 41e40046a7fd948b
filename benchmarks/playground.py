"""How live the playground feels: updates/s and training steps/s for a 6 × 32 network on a 2-D data set,
and the slider → redrawn-histograms latency in "at init" mode.

    python benchmarks/playground.py [--seconds 10] [--depth 6] [--width 32] [--drags 20]

Runs a :class:`initlab.playground.session.Session` in this process (the server's code path minus the
socket; torch on one intra-op thread as the server sets it):

* ``train``: play for ``--seconds`` on ``circle`` (batch 10, tanh, xavier_normal); updates/s = snapshots
  published per second (each: histograms of activations and gradients, losses; boundary and findings
  when due), steps/s = optimizer updates per second with those updates running;
* ``fit alone``: ``il.train.fit`` on the same model and data without the playground's callback;
* ``at init``: ``--drags`` σ_w² changes in "at init" mode, one after the other; latency = from the
  message to the published snapshot of the new run (rebuild + histograms + boundary + findings).
  The browser's drawing adds a few ms (canvas), not measured here.

Goals (issue 14, this machine's CPU): ≥ 20 updates/s, ≥ 200 steps/s, < 150 ms.
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

import torch

import initlab as il
from initlab.playground.server import warm_up
from initlab.playground.session import Session
from initlab.playground.state import validate
from initlab.playground.training import build_data, build_model, fit_options


def train_rate(depth: int, width: int, seconds: float) -> tuple[float, float]:
    got: list[tuple[float, dict]] = []
    s = Session(lambda m: got.append((time.perf_counter(), m)))
    s.start()
    s.handle(json.dumps({"type": "config", "state": {"depth": depth, "width": width}}))
    while not any(m["type"] == "snapshot" for _, m in got):
        time.sleep(0.01)
    s.handle('{"type": "play"}')
    time.sleep(1.0)  # warm
    n0 = len(got)
    t0 = time.perf_counter()
    step0 = s.step
    time.sleep(seconds)
    t1 = time.perf_counter()
    step1 = s.step
    snaps = [m for t, m in got[n0:] if m["type"] == "snapshot" and t <= t1]
    s.close()
    s.thread.join()
    return len(snaps) / (t1 - t0), (step1 - step0) / (t1 - t0)


def fit_rate(depth: int, width: int, steps: int = 2000) -> float:
    state = validate({"depth": depth, "width": width})
    data = build_data(state)
    model, _ = build_model(state, data.x_train.shape[1], 1)
    t0 = time.perf_counter()
    il.train.fit(model, data, steps=steps, **fit_options(state))
    return steps / (time.perf_counter() - t0)


def drag_latency(depth: int, width: int, drags: int) -> list[float]:
    done = threading.Event()
    want = {"sw2": None}
    s = Session(lambda m: done.set() if m["type"] == "snapshot" and m.get("run") == want["sw2"] else None)
    s.start()
    lat = []
    for i in range(drags + 1):
        done.clear()
        want["sw2"] = i + 1  # the session numbers runs 1, 2, …
        t0 = time.perf_counter()
        s.handle(json.dumps({"type": "config", "state": {"mode": "init", "depth": depth, "width": width,
                                                          "sw2": 0.5 + 0.1 * i}}))
        done.wait(30)
        if i:  # the first builds the data set
            lat.append(time.perf_counter() - t0)
    s.close()
    s.thread.join()
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--drags", type=int, default=20)
    a = ap.parse_args()
    warm_up()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread; net {a.depth} x {a.width}, circle")
    ups, sps = train_rate(a.depth, a.width, a.seconds)
    print(f"train:     {ups:6.1f} updates/s   {sps:7.1f} steps/s   (goals: >= 20, >= 200)")
    print(f"fit alone: {fit_rate(a.depth, a.width):7.1f} steps/s")
    lat = sorted(drag_latency(a.depth, a.width, a.drags))
    print(f"at init:   slider -> histograms median {1000 * statistics.median(lat):.0f} ms, "
          f"90th pct {1000 * lat[int(0.9 * (len(lat) - 1))]:.0f} ms   (goal < 150 ms)")


if __name__ == "__main__":
    main()
