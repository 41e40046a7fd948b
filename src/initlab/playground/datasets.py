r"""TensorFlow Playground's data sets (its ``dataset.ts``), offline and seeded, as :class:`initlab.data.Dataset`.

Points live in [-6, 6]²; ``noise`` is the playground's 0–50 %. Classification labels are 0/1
(TensorFlow Playground's −1/+1), regression targets are floats in [-1, 1]:

=========== ================================================================================
circle      250 points inside radius 2.5 (label 1), 250 in the ring 3.5–5 (label 0); the label is
            that of the point moved by noise · U(−5, 5) per axis (noise flips labels near the edge)
xor         U(−5, 5)² pushed 0.3 away from the axes, label = [x·y ≥ 0] of the point, inputs moved
            by noise · U(−5, 5)
gauss       two Gaussian blobs at (2, 2) (label 1) and (−2, −2) (label 0), variance 0.5 + 7 · noise
spiral      two arms r = 5 i/n, t = 3.5 π i/n (+ π for the second), points moved by noise · U(−1, 1)
plane       regression: y = (x₁ + x₂)/12 on U(−6, 6)², inputs moved by noise · U(−6, 6)
multigauss  regression: a sum of six signed Gaussian bumps, clipped to [−1, 1]
mnist       the bundled 5,000 MNIST images (:func:`initlab.data.load` ``"mnist"``), 784 pixels in [0, 1]
=========== ================================================================================

Input features (2-D sets): ``x1, x2, x1sq (x₁²), x2sq, x1x2, sinx1, sinx2``. The split shuffles all
points with the seed and keeps ``train_pct`` % for training.

>>> d = make_dataset("xor", noise=0, train_pct=50, features=["x1", "x2", "x1x2"], seed=0)
>>> tuple(d.x_train.shape), tuple(d.x_test.shape), d.task
((250, 3), (250, 3), 'binary')
>>> bool(((d.x_train[:, 2] >= 0).long() == d.y_train).all())  # x1·x2 ≥ 0 ⇔ label 1 without noise
True
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from .. import data as _data

__all__ = ["make_dataset", "features", "points", "N_CLASSIFY", "N_REGRESS", "RANGE"]

N_CLASSIFY, N_REGRESS = 500, 1200
RANGE = 6.0


def _circle(n: int, noise: float, rs: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    radius = 5.0
    pts, labels = [], []
    for inside, (lo, hi) in ((True, (0.0, 0.5 * radius)), (False, (0.7 * radius, radius))):
        for _ in range(n // 2):
            r = rs.uniform(lo, hi)
            angle = rs.uniform(0, 2 * math.pi)
            x, y = r * math.sin(angle), r * math.cos(angle)
            nx, ny = rs.uniform(-radius, radius) * noise, rs.uniform(-radius, radius) * noise
            pts.append((x, y))
            labels.append(1 if math.hypot(x + nx, y + ny) < 0.5 * radius else 0)
    return np.array(pts), np.array(labels)


def _xor(n: int, noise: float, rs: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    x = rs.uniform(-5, 5, size=(n, 2))
    x += np.where(x > 0, 0.3, -0.3)
    labels = (x[:, 0] * x[:, 1] >= 0).astype(np.int64)
    return x + rs.uniform(-5, 5, size=(n, 2)) * noise, labels


def _gauss(n: int, noise: float, rs: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    std = math.sqrt(0.5 + 7.0 * noise)  # TF Playground: variance scaled from [0, .5] to [.5, 4]
    a = rs.normal(2.0, std, size=(n // 2, 2))
    b = rs.normal(-2.0, std, size=(n - n // 2, 2))
    return np.concatenate([a, b]), np.concatenate([np.ones(len(a), np.int64), np.zeros(len(b), np.int64)])


def _spiral(n: int, noise: float, rs: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    half = n // 2
    out, labels = [], []
    for label, dt in ((1, 0.0), (0, math.pi)):
        i = np.arange(half)
        r = i / half * 5
        t = 1.75 * i / half * 2 * math.pi + dt
        xy = np.stack([r * np.sin(t), r * np.cos(t)], 1) + rs.uniform(-1, 1, size=(half, 2)) * noise
        out.append(xy)
        labels.append(np.full(half, label, np.int64))
    return np.concatenate(out), np.concatenate(labels)


def _plane(n: int, noise: float, rs: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    x = rs.uniform(-RANGE, RANGE, size=(n, 2))
    y = (x[:, 0] + x[:, 1]) / (2 * RANGE)
    return x + rs.uniform(-RANGE, RANGE, size=(n, 2)) * noise, y


_BUMPS = ((-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1))


def _multigauss(n: int, noise: float, rs: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    x = rs.uniform(-RANGE, RANGE, size=(n, 2))
    y = np.zeros(n)
    for cx, cy, sign in _BUMPS:
        y += sign * np.exp(-((x[:, 0] - cx) ** 2 + (x[:, 1] - cy) ** 2) / 2)
    return x + rs.uniform(-RANGE, RANGE, size=(n, 2)) * noise, np.clip(y, -1, 1)


_MAKERS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral, "plane": _plane,
           "multigauss": _multigauss}


def points(name: str, noise: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """All points ``(n, 2)`` and labels/targets of a 2-D set, before the split (``noise`` in percent)."""
    if name not in _MAKERS:
        raise ValueError(f"name must be one of {sorted(_MAKERS)}, got {name!r}")
    if not (isinstance(noise, int) and 0 <= noise <= 50):
        raise ValueError(f"noise must be an int percentage in [0, 50], got {noise!r}")
    rs = np.random.RandomState(seed)
    n = N_REGRESS if name in ("plane", "multigauss") else N_CLASSIFY
    return _MAKERS[name](n, noise / 100.0, rs)


def features(xy: np.ndarray | torch.Tensor, names: Sequence[str]) -> torch.Tensor:
    """The input features ``names`` of points ``(n, 2)`` as a float32 tensor ``(n, len(names))``."""
    xy = torch.as_tensor(np.asarray(xy), dtype=torch.float64)
    x1, x2 = xy[:, 0], xy[:, 1]
    table = {"x1": x1, "x2": x2, "x1sq": x1 * x1, "x2sq": x2 * x2, "x1x2": x1 * x2, "sinx1": torch.sin(x1),
             "sinx2": torch.sin(x2)}
    bad = [f for f in names if f not in table]
    if bad or not names:
        raise ValueError(f"features must be a non-empty list of {list(table)}, got {list(names)!r}")
    return torch.stack([table[f] for f in names], 1).to(torch.float32)


def _split(n: int, train_pct: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.RandomState(seed + 1).permutation(n)
    k = max(1, min(n - 1, round(n * train_pct / 100)))
    return order[:k], order[k:]


def make_dataset(name: str, *, noise: int = 0, train_pct: int = 50, features: Sequence[str] = ("x1", "x2"),
                 seed: int = 0) -> _data.Dataset:
    """A playground data set as :class:`initlab.data.Dataset` (``task`` ``"binary"``, ``"multiclass"``
    or ``"regression"``); ``xy_train``/``xy_test`` of the 2-D sets are :func:`points` of each split."""
    if not (isinstance(train_pct, int) and 10 <= train_pct <= 90):
        raise ValueError(f"train_pct must be an int percentage in [10, 90], got {train_pct!r}")
    if name == "mnist":
        d = _data.load("mnist", seed=seed)
        x = torch.cat([d.x_train, d.x_test])
        y = torch.cat([d.y_train, d.y_test])
        tr, te = _split(len(x), train_pct, seed)
        return _data.Dataset(x[tr], y[tr], x[te], y[te], "mnist", "multiclass")
    xy, y = points(name, noise, seed)
    tr, te = _split(len(xy), train_pct, seed)
    regression = name in ("plane", "multigauss")
    yt = torch.as_tensor(y, dtype=torch.float32 if regression else torch.int64)
    f = _feature_names(features)
    return _data.Dataset(_features(xy[tr], f), yt[tr], _features(xy[te], f), yt[te], name,
                         "regression" if regression else "binary")


_features = features


def _feature_names(names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        raise ValueError(f"features must be a list of feature names, got the string {names!r}")
    return list(names)


def split_points(name: str, *, noise: int = 0, train_pct: int = 50, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(xy_train, y_train, xy_test, y_test)`` of a 2-D set: the raw points the page plots."""
    xy, y = points(name, noise, seed)
    tr, te = _split(len(xy), train_pct, seed)
    return xy[tr], y[tr], xy[te], y[te]
