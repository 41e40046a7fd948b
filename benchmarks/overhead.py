"""Step-time overhead of ``il.watch`` vs an uninstrumented loop and a naive per-statistic baseline.

    python benchmarks/overhead.py [--reps 5] [--block 16] [--models mlp,cnn] [--threads N] [--clock wall|cpu]
                                  [--warmup 112] [--modes naive,every=1,every=16,hist/4,default] [--device cuda]

Models (CPU): an MLP of 10 Linear(512, 512) + ReLU layers, batch 256, and a small CNN (3 conv + ReLU,
pool, linear; 16/32/64 channels), batch 32 of 3×32×32; SGD, cross-entropy. Each mode trains its own copy of the model
(identical weights). In each repetition every mode runs one block of ``--block`` steps, interleaved, so
that load from other processes hits all modes alike. Printed first: the median over repetitions of
the paired ratio step time (mode) / step time (plain, same repetition) — the figure to report; then
the ratio of the fastest block of each mode to the fastest plain block (other processes only add
time). The header names the initlab commit measured (``+dirty`` when its tree has changes).

modes
  naive       hooks that compute each statistic separately and copy it to the host (``.item()``):
              mean, std, mean |x| of outputs, ‖δ‖ and std δ, ‖∇W‖, ‖∇b‖, ‖ΔW‖/‖W‖ (weight copy)
  every=1     ``watch(every=1, hist_every=None)``: core statistics every step
  every=16    ``watch(every=16, hist_every=None)``
  hist/50     core every step + extended statistics every 50 steps, amortized:
              (t_core + Δ_ext / 50) / t_plain, with Δ_ext = the measured extra time of an extended
              step (fastest extended − fastest core step), from a watcher with ``hist_every=4`` (same code path; a 50-step period would need
              50-step blocks). ``hist/4`` shows that watcher's raw ratio.
  floor       hooks doing only what exact core statistics cannot skip: one ``sum`` and one ``dot`` per
              output and per δ (nothing else, nothing read back); opt-in through ``--modes``
  inactive    ``watch(every=10**9, hist_every=None)`` after its one recorded step: hooks installed, nothing
              recorded (what the steps between recorded ones cost); opt-in through ``--modes``
  default     ``watch(model)`` with its default arguments, measured directly: its blocks span a whole
              period (lcm of ``every`` and ``hist_every``, e.g. 50 steps: one extended step each), and
              its warm-up is whole periods too.

Warm-up: ``--warmup`` steps per mode before timing (a multiple of 16; default 112). Flushes (every
100 recorded rows: steps 99, 199, … at every=1, 495 at the default, 1,599 at every=16) fall outside the
timed blocks at the defaults (``--reps 5``: steps 112–191, 150–399 for ``default``), so the ratios are
those of the steps between flushes; a flush's one host copy and float64 derivation are not in them. The shift of the sums (exact std when |mean| ≫ std, one
more pass over each tensor) is planned from the first recorded step on, so layers with |mean| ≤ 10·std
skip it from the second recorded step: the warm-up no longer decides which path is timed.

``--device cuda`` runs the models on a GPU: blocks are timed between two ``torch.cuda.synchronize()``
(so ``hist/50``, which needs per-step times, is not derived), and a check then runs watched steps under
``torch.cuda.set_sync_debug_mode("error")`` and prints whether any made a host sync.

``--clock cpu`` times blocks with ``time.thread_time()`` (CPU time of the calling thread) instead of
the wall clock: on a machine shared with other jobs it counts this process's work only (use it with
``--threads 1``, so that forward, backward and hooks all run on the timed thread).

Goals (CPU, issue 12 §3): MLP every=1 ≤ 1.10×, every=16 ≤ 1.02×, default ≤ 1.05×; CNN every=1 ≤ 1.20×,
every=16 ≤ 1.03×.
"""
from __future__ import annotations

import argparse
import copy
import inspect
import math
import os
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F
from torch import nn

import initlab as il


def mlp() -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(10):
        layers += [nn.Linear(512, 512), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(512, 10))


def cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


MODELS = {"mlp": (mlp, (256, 512)), "cnn": (cnn, (32, 3, 32, 32))}


class Naive:
    """What per-statistic tools do: one reduction and one host copy per number, every step."""

    def __init__(self, model: nn.Module):
        self.model, self.log, self.handles = model, [], []
        self.mods = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ReLU))]
        self.weighted = [m for m in self.mods if hasattr(m, "weight")]
        self.prev = [m.weight.detach().clone() for m in self.weighted]

    def __enter__(self) -> "Naive":
        for m in self.mods:
            self.handles.append(m.register_forward_hook(self._fwd))
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()

    def _fwd(self, module, args, y) -> None:
        d = y.detach()
        self.log += [d.mean().item(), d.std().item(), d.abs().mean().item()]
        if y.requires_grad:
            y.register_hook(lambda g: self.log.extend([g.norm().item(), g.std().item()]))

    def step(self) -> None:
        for m, prev in zip(self.weighted, self.prev):
            w = m.weight.detach()
            self.log += [m.weight.grad.norm().item(), m.bias.grad.norm().item(),
                         ((w - prev).norm() / prev.norm()).item()]
            prev.copy_(w)
        self.log.clear()


class Floor(Naive):
    """The least any exact in-hook method pays: for every output and every δ of the modules ``watch``
    probes here (Linear, Conv2d, ReLU), one ``sum`` and one ``dot`` on the device, nothing read back,
    nothing else (no parameter statistics, no bookkeeping)."""

    def _fwd(self, module, args, y) -> None:
        v = y.detach().reshape(-1)
        self.log += [v.sum(), torch.dot(v, v)]
        if y.requires_grad:
            y.register_hook(self._bwd)

    def _bwd(self, g) -> None:
        v = g.reshape(-1)
        self.log += [v.sum(), torch.dot(v, v)]

    def step(self) -> None:
        self.log.clear()


class Plain:
    def __enter__(self) -> "Plain":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def step(self) -> None:
        pass


MODES = ("naive", "every=1", "every=16", "hist/4", "default")


def defaults() -> dict[str, object]:
    """``il.watch``'s default keyword arguments."""
    return {k: p.default for k, p in inspect.signature(il.watch).parameters.items()
            if p.default is not inspect.Parameter.empty}


def default_period() -> int:
    """Steps of one period of the default watcher (every and hist_every both divide it)."""
    d = defaults()
    return math.lcm(d["every"], d["hist_every"] or d["every"])


def make_modes(base: nn.Module, names=MODES) -> dict[str, tuple[nn.Module, object]]:
    modes = {}
    for name in ("plain", *names):
        m = copy.deepcopy(base)
        if name == "plain":
            ctx: object = Plain()
        elif name == "naive":
            ctx = Naive(m)
        elif name == "floor":
            ctx = Floor(m)
        elif name == "every=1":
            ctx = il.watch(m, every=1, hist_every=None, flush_every=100)
        elif name == "every=16":
            ctx = il.watch(m, every=16, hist_every=None, flush_every=100)
        elif name == "hist/4":
            ctx = il.watch(m, every=1, hist_every=4, flush_every=100)
        elif name == "default":
            ctx = il.watch(m)
        elif name == "inactive":
            ctx = il.watch(m, every=10**9, hist_every=None, flush_every=100)
        else:
            raise SystemExit(f"unknown mode {name!r}; valid: {', '.join((*MODES, 'inactive', 'floor'))}")
        modes[name] = (m, ctx)
    return modes


def commit() -> str:
    """The git commit of the initlab package measured (``+dirty`` when its tree has changes)."""
    where = os.path.dirname(os.path.abspath(il.__file__))
    try:
        run = lambda *a: subprocess.run(["git", "-C", where, *a], capture_output=True, text=True,  # noqa: E731
                                        timeout=30, check=True).stdout.strip()
        head = run("rev-parse", "--short", "HEAD")
        return head + ("+dirty" if run("status", "--porcelain", "--", ".") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"


def bench(kind: str, reps: int, block: int, clock=time.perf_counter, warmup: int = 112,
          names=MODES, device: str = "cpu") -> dict[str, float]:
    make, shape = MODELS[kind]
    torch.manual_seed(0)
    base = make().to(device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g).to(device)
    y = torch.randint(0, 10, (shape[0],), generator=g).to(device)
    cuda = torch.device(device).type == "cuda"
    modes = make_modes(base, names)
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3) for k, (m, _) in modes.items()}
    times: dict[str, list[float]] = {k: [] for k in modes}  # seconds per step, one entry per block
    ext_steps: list[float] = []
    core_steps: list[float] = []
    period = default_period()
    steps = {k: block for k in modes}
    warm = {k: warmup for k in modes}
    if "default" in modes:  # whole periods
        steps["default"] = period * max(1, round(block / period))
        warm["default"] = period * -(-warmup // period)
    for _, ctx in modes.values():
        ctx.__enter__()
    try:
        def run(name: str, n: int) -> list[float]:
            m, ctx = modes[name]
            opt, out = opts[name], []
            if cuda:  # the block's time, synchronized at both ends (per-step times would need a sync each)
                torch.cuda.synchronize()
                t0 = clock()
            for _ in range(n):
                t1 = clock()
                opt.zero_grad()
                F.cross_entropy(m(x), y).backward()
                opt.step()
                ctx.step()
                out.append(clock() - t1)
            if cuda:
                torch.cuda.synchronize()
                out = [(clock() - t0) / n] * n
            return out

        for name in modes:  # warm-up, and align every=16 / hist/4 / default to their periods
            run(name, warm[name])
        for _ in range(reps):
            for name in modes:
                st = run(name, steps[name])
                times[name].append(sum(st) / len(st))
                if name == "hist/4" and not cuda:  # steps 0, 4, 8, … of each aligned block are extended
                    ext_steps += [t for i, t in enumerate(st) if i % 4 == 0]
                    core_steps += [t for i, t in enumerate(st) if i % 4 != 0]
    finally:
        for _, ctx in modes.values():
            ctx.__exit__(None, None, None)
    # the median of same-repetition (paired) ratios is the reported figure; other processes only
    # ever add time, so the fastest block of each mode is its least disturbed measurement
    plain = times["plain"]
    best = {k: min(v) for k, v in times.items()}
    ratio = {k: best[k] / best["plain"] for k in times if k != "plain"}
    med = {k: statistics.median(t / p for t, p in zip(v, plain)) for k, v in times.items() if k != "plain"}
    ext = max(min(ext_steps) - min(core_steps), 0.0) if ext_steps else math.nan
    if "every=1" in times:
        ratio["hist/50"] = (best["every=1"] + ext / 50) / best["plain"]
        med["hist/50"] = med["every=1"] + ext / 50 / statistics.median(plain)
    ratio["plain_ms"] = 1e3 * best["plain"]
    ratio["ext_ms"] = 1e3 * ext
    ratio["median"] = med  # type: ignore[assignment]
    return ratio


def sync_check(kind: str, device: str, steps: int = 40) -> str:
    """Run watched steps under ``torch.cuda.set_sync_debug_mode("error")`` (after a warm-up that fills
    the caches): "none" or the error a synchronizing call raised."""
    make, shape = MODELS[kind]
    torch.manual_seed(0)
    m = make().to(device)
    x, y = torch.randn(shape, device=device), torch.randint(0, 10, (shape[0],), device=device)
    opt = torch.optim.SGD(m.parameters(), lr=1e-3)
    with il.watch(m, every=1, hist_every=4, flush_every=10**9) as w:
        def train(n: int) -> None:
            for _ in range(n):
                opt.zero_grad()
                F.cross_entropy(m(x), y).backward()
                opt.step()
                w.step()
        train(8)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            train(steps)
            return "none"
        except RuntimeError as e:
            return f"FOUND: {e}"
        finally:
            torch.cuda.set_sync_debug_mode("default")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--block", type=int, default=16, help="steps per timed block (a multiple of 16)")
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"watched modes to time (of {', '.join(MODES)}, inactive, floor)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=112, help="untimed steps per mode (a multiple of 16)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (blocks timed between synchronizations; "
                    "then also checks that watched steps make no host sync between flushes)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: time.perf_counter; cpu: time.thread_time (this thread's CPU time)")
    a = ap.parse_args()
    if a.block % 16 or a.warmup % 16:
        raise SystemExit("--block and --warmup must be multiples of 16")
    names = tuple(n for n in a.modes.split(",") if n)
    if a.threads:
        torch.set_num_threads(a.threads)
    cols = [c for c in ("naive", "floor", "every=1", "every=16", "hist/50", "hist/4", "default", "inactive")
            if c in names or (c == "hist/50" and {"every=1", "hist/4"} <= set(names))]
    clock = time.thread_time if a.clock == "cpu" else time.perf_counter
    d = defaults()
    print(f"initlab {commit()}, torch {torch.__version__}, {torch.get_num_threads()} threads, reps={a.reps}, "
          f"block={a.block}, warmup={a.warmup}, clock={a.clock}; default = watch(every={d['every']}, "
          f"hist_every={d['hist_every']}, flush_every={d['flush_every']})")
    print(f"{'model':6s} {'plain ms':>9s} {'ext ms':>7s} " + " ".join(f"{c:>9s}" for c in cols))
    for kind in a.models.split(","):
        r = bench(kind, a.reps, a.block, clock, a.warmup, names, a.device)
        print(f"{kind:6s} {r['plain_ms']:9.1f} {r['ext_ms']:7.1f} "
              + " ".join(f"{r['median'][c]:8.3f}×" for c in cols) + "   (median of paired ratios)")
        print(f"{'':6s} {'':9s} {'':7s} " + " ".join(f"{r[c]:8.3f}×" for c in cols) + "   (fastest blocks)")
    print("goals: MLP every=1 ≤ 1.10×, every=16 ≤ 1.02×, default ≤ 1.05×; CNN every=1 ≤ 1.20×, every=16 ≤ 1.03×"
          "; GPU ≤ 1.05× every step, no host sync between flushes")
    if torch.device(a.device).type == "cuda":
        for kind in a.models.split(","):
            print(f"{kind}: host syncs between flushes (watch every=1, hist_every=4, flush_every=10**9): "
                  f"{sync_check(kind, a.device)}")


if __name__ == "__main__":
    main()
