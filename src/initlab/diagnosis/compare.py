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

import dataclasses
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

from ..theory.predict import Prediction, predict

__all__ = ["ComparisonRow", "Comparison", "compare", "segments"]


@dataclass(frozen=True)
class ComparisonRow:
    """Prediction and measurement of one layer's output (``measured_at``: the module measured)."""

    index: int
    layer: str
    measured_at: str
    activation: str | None
    predicted_std: float | None
    measured_std: float | None
    std_ratio: float | None
    predicted_grad_norm: float | None
    measured_grad_norm: float | None
    grad_ratio: float | None
    note: str = ""  # where no prediction applies (predicted_std None): why; else the input it starts from

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """Rows in forward order, and the :class:`~initlab.theory.predict.Prediction` they come from (None when
    they come from several, one per chain: :func:`segments`)."""

    rows: list[ComparisonRow] = field(default_factory=list)
    prediction: Prediction | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"q0": self.prediction.q0 if self.prediction else None, "rows": [r.to_dict() for r in self.rows]}

    def __str__(self) -> str:
        def f(v: float | None) -> str:
            return "-" if v is None else f"{v:.4g}"

        notes = any(r.note for r in self.rows)
        head = ["layer", "measured at", "pred std", "std", "ratio", "pred grad", "grad", "ratio"] + ["note"] * notes
        body = [[r.layer, r.measured_at, f(r.predicted_std), f(r.measured_std), f(r.std_ratio),
                 f(r.predicted_grad_norm), f(r.measured_grad_norm), f(r.grad_ratio)] + [r.note] * notes
                for r in self.rows]
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
        obj: an ``Inspection``, a list of ``LayerStats`` or a ``Watcher`` (its first recorded step). With
            repeated blocks (a transformer: ``Inspection.blocks``): per chain (:func:`segments`).
        q0: the input's second moment (1 for N(0, 1) inputs).
        prediction: use this (e.g. ``predict(model)`` taken at initialization) instead of predicting from
            the records' weight_std. A Watcher's history has no weight statistics: without ``prediction``
            its ``model``'s current weights are used (with a warning when it has trained since step 0).
    """
    stats = _layer_stats(obj)
    if prediction is None and getattr(obj, "blocks", None):
        return _by_segments(stats, q0)
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
    by_name = _first_calls(stats)
    missing = [r.name for r in pred.layers if r.name not in by_name]
    if missing:
        raise ValueError(f"layers {missing} of the prediction were not measured; measured: {list(by_name)}")
    return Comparison(_rows(pred, by_name, anchored=True), pred)


def _first_calls(stats: list[Any]) -> dict[str, Any]:
    """Records by module name; a module called several times: its first call."""
    by_name: dict[str, Any] = {}
    for s in stats:
        by_name.setdefault(s.name, s)
    return by_name


def _rows(pred: Prediction, by_name: dict[str, Any], anchored: bool, note: str = "") -> list[ComparisonRow]:
    """One row per predicted layer, measured at its activation's output (else its own); the predicted
    gradient norm scaled so that the last layer matches its measurement (none unless ``anchored``)."""
    measured = [by_name.get(r.activation_module or r.name) or by_name[r.name] for r in pred.layers]
    anchor = measured[-1].grad_norm if measured and anchored else None
    rows = []
    for r, s in zip(pred.layers, measured):
        pg = r.grad_norm * anchor if anchor is not None and math.isfinite(anchor) else None
        rows.append(ComparisonRow(
            index=r.index, layer=r.name, measured_at=s.name, activation=r.activation, predicted_std=r.post_std,
            measured_std=s.std, std_ratio=_ratio(s.std, r.post_std), predicted_grad_norm=pg,
            measured_grad_norm=s.grad_norm, grad_ratio=_ratio(s.grad_norm, pg), note=note))
    return rows


# --- models with repeated blocks (transformers: an Inspection's ``blocks``): the chains whose input is known.
# (A BN net without repeated blocks still goes to predict(), which refuses normalization layers: segments
# cannot start a chain at norm → activation → weight layer.)
_PROJ = ("query", "key", "value", "q_proj", "k_proj", "v_proj", "q_lin", "k_lin", "v_lin")
_NA_MIX = ("its input is not a measured normalization output nor a predicted layer's activation (an attention-"
           "weighted mix of values, a residual sum, an embedding or an unrecorded functional activation): "
           "no mean-field map")


def _second_moment(s: Any) -> float | None:
    if s.std is None or not math.isfinite(s.std):
        return None
    return s.std ** 2 + s.mean ** 2 if s.mean is not None and math.isfinite(s.mean) else s.std ** 2


def segments(stats: list[Any], q0: float = 1.0) -> tuple[list[tuple[float, str, list[Any]]], dict[str, str]]:
    r"""The chains of a model with normalization layers that mean-field theory predicts, and why the rest not.

    A chain starts where its input's second moment :math:`q_0` is known: the model's first weight layer
    (``q0``), or a weight layer right after a normalization layer: :math:`q_0` = the measured second moment
    (std² + mean²) of the norm's output — 1 for a LayerNorm at init.
    Parallel projections of that same input (BERT's ``query``/``key``/``value``) each start a chain of their
    own. A chain continues through a *recorded* activation to the next weight layer (the MLP of a block:
    ``c_fc → GELU → c_proj``). Anything else — an attention output projection (its input is the softmax-
    weighted mix of the values), a layer after a residual sum, an embedding, a layer after a functional
    activation the probes did not see — is not applicable, with that reason.

    Returns ``([(q0, start, records)], {layer name: reason})``.
    """
    out: list[tuple[float, str, list[Any]]] = []
    na: dict[str, str] = {}
    src: tuple[float, str] | None = (q0, "the model's input")
    seg: list[Any] | None = None
    first_parent = None
    prev = None
    for s in stats:
        if s.kind == "norm":
            m = _second_moment(s)
            src, seg, first_parent = ((m, f"{s.name} output") if m else None), None, None
        elif s.kind == "activation":
            if seg is not None and prev is not None and prev.kind in ("linear", "conv") and prev.name == seg[-1].name:
                seg[-1] = prev  # the chain goes through this activation: predict the layer with it
                seg.append(s)
            else:
                seg, src = None, None
        elif s.kind in ("linear", "conv"):
            parent, leaf = s.name.rpartition(".")[0], s.name.rpartition(".")[2]
            bare = dataclasses.replace(s, activation=None, activation_spec=None)  # until an activation record follows
            if seg is not None and prev is not None and prev.kind == "activation" and prev is seg[-1]:
                seg.append(bare)
            elif src is not None and (first_parent is None or (parent == first_parent and leaf in _PROJ)):
                first_parent = parent if first_parent is None else first_parent
                seg = [bare]
                out.append((src[0], src[1], seg))
                if leaf not in _PROJ:
                    src = None  # only named parallel projections share the input
            else:
                na.setdefault(s.name, _NA_MIX)
                seg, src = None, None
        else:
            seg, src = None, None
        prev = s
    return out, na


def _by_segments(stats: list[Any], q0: float) -> Comparison:
    """One :func:`predict` per chain of :func:`segments`; rows in forward order, the rest marked n/a."""
    chains, na = segments(stats, q0)
    by_name = _first_calls(stats)
    rows: dict[str, ComparisonRow] = {}
    for q_in, start, recs in chains:
        if any(r.weight_std is None for r in recs if r.kind in ("linear", "conv")):
            raise ValueError("compare for a model with normalization layers needs weight statistics: an Inspection")
        pred = predict(recs, q0=q_in)  # a one-layer chain has no gradient prediction (its anchor is itself)
        rows.update((r.layer, r) for r in _rows(pred, by_name, anchored=len(pred.layers) > 1,
                                                 note=f"from {start} (q0 = {q_in:.3g})"))
    out: list[ComparisonRow] = []
    seen: set[str] = set()
    for s in stats:
        if s.kind not in ("linear", "conv") or s.name in seen:
            continue
        seen.add(s.name)
        row = rows.get(s.name) or ComparisonRow(
            index=0, layer=s.name, measured_at=s.name, activation=s.activation, predicted_std=None, measured_std=s.std,
            std_ratio=None, predicted_grad_norm=None, measured_grad_norm=s.grad_norm, grad_ratio=None,
            note="n/a: " + na.get(s.name, _NA_MIX))
        out.append(dataclasses.replace(row, index=len(out) + 1))
    return Comparison(out, None)
