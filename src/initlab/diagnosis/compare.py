r"""Mean-field predictions beside measurements, layer by layer.

For every Linear/Conv layer l of an :class:`~initlab.probes.Inspection` (or a Watcher's first step):

* std: predicted :math:`\mathrm{std}(\phi_l(h^l))` (:func:`initlab.theory.predict`) vs. the measured ``std`` of the
  activation module's output (of the layer's own output where no activation follows, e.g. the last layer);
* gradient norm: measured ``grad_norm`` = ‖∂L/∂(that same output)‖ — the *activation output* a^l, not the
  pre-activation — vs. the predicted relative norm scaled so that the last layer matches its measurement
  (the theory predicts how gradients change with depth, not the loss's scale); the last row's ratio is 1 by
  construction.

``std_ratio`` and ``grad_ratio`` are measured / predicted. Weights are read from the record (σ_w² =
weight_std² · fan_in, σ_b² = bias_std²); ``q0`` is the input's second moment (1 for N(0, 1) inputs).

>>> import torch, initlab as il
>>> from torch import nn
>>> g = torch.Generator().manual_seed(0)
>>> model = nn.Sequential(nn.Linear(300, 300), nn.Tanh(), nn.Linear(300, 300), nn.Tanh())
>>> x = torch.randn(256, 300, generator=g)
>>> for m in model[::2]:
...     _ = nn.init.normal_(m.weight, std=(1 / 300) ** 0.5, generator=g); _ = nn.init.zeros_(m.bias)
>>> cmp = compare(il.inspect(model, x))
>>> [round(r.std_ratio, 1) for r in cmp.rows]
[1.0, 1.0]
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

from ..theory.predict import Prediction, predict

__all__ = ["ComparisonRow", "Comparison", "compare"]


@dataclass(frozen=True)
class ComparisonRow:
    """Prediction and measurement of one layer's output (``measured_at``: the module measured)."""

    index: int
    layer: str
    measured_at: str
    activation: str | None
    predicted_std: float
    measured_std: float | None
    std_ratio: float | None
    predicted_grad_norm: float | None
    measured_grad_norm: float | None
    grad_ratio: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """Rows in forward order, and the :class:`~initlab.theory.predict.Prediction` they come from."""

    rows: list[ComparisonRow] = field(default_factory=list)
    prediction: Prediction | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"q0": self.prediction.q0 if self.prediction else None, "rows": [r.to_dict() for r in self.rows]}

    def __str__(self) -> str:
        def f(v: float | None) -> str:
            return "-" if v is None else f"{v:.4g}"

        head = ["layer", "measured at", "pred std", "std", "ratio", "pred grad", "grad", "ratio"]
        body = [[r.layer, r.measured_at, f(r.predicted_std), f(r.measured_std), f(r.std_ratio),
                 f(r.predicted_grad_norm), f(r.measured_grad_norm), f(r.grad_ratio)] for r in self.rows]
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
        return "\n".join(lines)


def _layer_stats(obj: Any) -> list[Any]:
    """The LayerStats list of an Inspection, a list of LayerStats, or a Watcher's first recorded step."""
    if isinstance(obj, (list, tuple)):
        return list(obj)
    history = getattr(obj, "history", None)
    if isinstance(history, list):  # a Watcher: its first recorded step
        if not history:
            raise ValueError("the Watcher has recorded no step yet")
        return list(history[0].layers)
    layers = getattr(obj, "layers", None)
    if isinstance(layers, (list, tuple)) and (not layers or hasattr(layers[0], "kind")):
        return list(layers)
    raise ValueError(f"compare needs an Inspection, a list of LayerStats or a Watcher, got {type(obj).__name__}")


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return a / b


def compare(obj: Any, *, q0: float = 1.0, prediction: Prediction | None = None) -> Comparison:
    """Join :func:`~initlab.theory.predict.predict` with the measured std and gradient norm of ``obj``.

    Args:
        obj: an ``Inspection``, a list of ``LayerStats`` or a ``Watcher`` (its first recorded step).
        q0: the input's second moment (1 for N(0, 1) inputs).
        prediction: use this (e.g. ``predict(model)`` taken at initialization) instead of predicting from
            the records' weight_std. A Watcher's history has no weight statistics: without ``prediction``
            its ``model``'s current weights are used (with a warning when it has trained since step 0).
    """
    stats = _layer_stats(obj)
    if prediction is not None:
        pred = prediction
    elif any(s.kind in ("linear", "conv") and s.weight_std is None for s in stats):
        model = getattr(obj, "model", None)
        if model is None:
            raise ValueError("the records have no weight_std (a Watcher's history); pass prediction=predict(model) "
                             "taken at initialization")
        if len(getattr(obj, "history", [])) > 1:
            warnings.warn("compare: the Watcher's model has trained since its first recorded step; predicting "
                          "from its current weights (pass prediction=predict(model) taken at init)", stacklevel=2)
        pred = predict(model, q0=q0)
    else:
        pred = predict(stats, q0=q0)
    by_name: dict[str, Any] = {}
    for s in stats:  # a module called several times: its first call
        by_name.setdefault(s.name, s)
    missing = [r.name for r in pred.layers if r.name not in by_name]
    if missing:
        raise ValueError(f"layers {missing} of the prediction were not measured; measured: {list(by_name)}")
    measured = [by_name.get(r.activation_module or r.name) or by_name[r.name] for r in pred.layers]
    anchor = measured[-1].grad_norm if measured else None
    rows = []
    for r, s in zip(pred.layers, measured):
        pg = r.grad_norm * anchor if anchor is not None and math.isfinite(anchor) else None
        rows.append(ComparisonRow(
            index=r.index, layer=r.name, measured_at=s.name, activation=r.activation, predicted_std=r.post_std,
            measured_std=s.std, std_ratio=_ratio(s.std, r.post_std), predicted_grad_norm=pg,
            measured_grad_norm=s.grad_norm, grad_ratio=_ratio(s.grad_norm, pg)))
    return Comparison(rows, pred)
