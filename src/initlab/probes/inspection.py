r"""One-shot inspection: one forward and one backward pass, statistics of every probed layer call.

:func:`inspect` leaves the model as it found it: parameter values and ``.grad``, buffers (BatchNorm
running statistics and ``num_batches_tracked``), train/eval flags, hooks, and the global RNG states
(torch, CUDA, ``random``, NumPy). It runs in the model's current mode.

The loss (``loss_fn``):

* ``None`` (auto): cross-entropy for integer ``targets``, MSE for float ``targets``, and without
  targets the *probe loss* :math:`L = \frac1B\sum_b \langle r_b, y_b\rangle` with r ~ N(0, 1) drawn
  from a private generator (seed 0): δ at the output is r/B, a unit-variance signal sent backward
  whatever the output's scale, so the backward statistics show the network's own gain;
* ``"ce"``, ``"mse"``, ``"probe"``, or ``"none"`` (forward statistics only);
* a callable ``loss_fn(output, targets)`` (or ``loss_fn(output)`` without targets) returning a scalar.

>>> import torch, initlab as il
>>> torch.manual_seed(0) and None
>>> model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
>>> ins = il.inspect(model, torch.randn(64, 16))
>>> [(r.name, r.kind) for r in ins.layers]
[('0', 'linear'), ('1', 'activation'), ('2', 'linear')]
>>> ins.layers[0].activation
'tanh'
>>> ins.findings()
[]
"""
from __future__ import annotations

import math
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..formats import HTMLReportMixin
from ..structure import CONV_LAYERS
from .findings import Finding, Thresholds, diagnose
from .caffe import debug_info, net_param_norms
from .hooks import ModuleSpec, Recorder
from .output import LogitStats, logit_stats, model_output
from .transformer import TransformerProbes, transformer_table
from .transformer_findings import diagnose_transformer
from .records import LayerStats, finite, layer_stats
from .stats import derive, sign_coherence

__all__ = ["inspect", "Inspection", "LOSSES", "attach_activations"]

LOSSES = ("auto", "ce", "mse", "probe", "none")


# --------------------------------------------------------------------------------------------------
@dataclass
class Inspection(HTMLReportMixin):
    """The result of :func:`inspect`: one :class:`LayerStats` per probed call, in forward order."""

    layers: list[LayerStats]
    loss: float | None = None
    loss_kind: str = "none"
    batch_size: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, repr=False)
    # transformers (additive): the residual stream per block call, attention per call, the output
    # logits, and what could not be seen (see initlab.probes.transformer)
    blocks: list = field(default_factory=list, repr=False)
    attention: list = field(default_factory=list, repr=False)
    logits: LogitStats | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list, repr=False)

    def __getitem__(self, label: str) -> LayerStats:
        for r in self.layers:
            if r.label == label:
                return r
        raise KeyError(f"no layer {label!r}; layers: {[r.label for r in self.layers]}")

    def findings(self, thresholds: Thresholds | Mapping[str, float] | None = None) -> list[Finding]:
        """The diagnosis of these statistics (see :mod:`initlab.probes.findings` and, for the residual
        stream, attention and logits, :mod:`initlab.probes.transformer_findings`)."""
        return diagnose(self.layers, thresholds, self.blocks) + diagnose_transformer(self, thresholds)

    def to_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "loss_kind": self.loss_kind, "batch_size": self.batch_size,
                "layers": [r.to_dict() for r in self.layers],
                "findings": [f.to_dict() for f in self.findings()],
                "blocks": [b.to_dict() for b in self.blocks], "attention": [a.to_dict() for a in self.attention],
                "logits": None if self.logits is None else self.logits.to_dict(), "notes": list(self.notes)}

    def caffe(self) -> str:
        """Caffe ``debug_info`` lines (:func:`initlab.probes.caffe.debug_info`): top data, bottom and
        param diffs (asum/count), and the net's parameter norms."""
        return debug_info(self.layers, self.meta.get("net_params"))

    def table(self) -> str:
        """A fixed-width table: one row per layer call."""
        def f(v: float | None, spec: str = ".3g") -> str:
            return "-" if v is None else format(v, spec)

        def pct(v: float | None) -> str:
            return "-" if v is None or not math.isfinite(v) else f"{100 * v:.0f}%"

        head = ["#", "layer", "kind", "type", "act", "fan_in", "fan_out", "mean", "std", "|x|", "zero",
                "sat", "dead", "distinct", "|δ|", "|∇W|", "|∇W|/|W|"]
        rows = [[str(i), r.label, r.kind, r.module_type, r.activation or "-", f(r.fan_in, "d"), f(r.fan_out, "d"),
                 f(r.mean), f(r.std), f(r.abs_mean), pct(r.zero_fraction), pct(r.saturated_fraction),
                 pct(r.dead_fraction), f(r.distinct_units, "d") if r.distinct_units is not None else "-",
                 f(r.grad_norm), f(r.weight_grad_norm), f(r.grad_weight_ratio)]
                for i, r in enumerate(self.layers)]
        widths = [max(len(x) for x in col) for col in zip(head, *rows)]
        line = lambda cells: "  ".join(c.rjust(w) if j >= 5 else c.ljust(w)  # noqa: E731
                                       for j, (c, w) in enumerate(zip(cells, widths))).rstrip()
        title = f"loss ({self.loss_kind}) = {f(self.loss, '.6g')}, batch = {self.batch_size}"
        extra = transformer_table(self.blocks, self.attention, self.logits, self.notes)
        return "\n".join([title, line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
                         + (["", extra] if extra else []))

    def __str__(self) -> str:
        return self.table()


# --------------------------------------------------------------------------------------------------
@contextmanager
def _preserved(model: nn.Module) -> Iterator[list[tuple[nn.Parameter, Tensor | None]]]:
    """Save and restore grads, buffers, train flags and the global RNG states around a pass."""
    params = list(dict.fromkeys(model.parameters()))
    grads = [(p, p.grad) for p in params]
    buffers = [(m, k, b, b.detach().clone()) for m in model.modules() for k, b in m._buffers.items()
               if isinstance(b, Tensor)]
    flags = [(m, m.training) for m in model.modules()]
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    py_rng, np_rng = random.getstate(), np.random.get_state()
    for p in params:
        p.grad = None
    try:
        yield grads
    finally:
        for p, g in grads:
            p.grad = g
        with torch.no_grad():
            for m, k, b, saved in buffers:
                if m._buffers.get(k) is not b:
                    m._buffers[k] = b
                b.copy_(saved)
        for m, t in flags:
            m.training = t
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        random.setstate(py_rng)
        np.random.set_state(np_rng)


def _call_args(inputs: Any) -> tuple[tuple, dict]:
    """Model call arguments; floating tensors are detached and require grad (δ for the first layer)."""
    def prep(x: Any) -> Any:
        if isinstance(x, Tensor) and x.is_floating_point():
            return x.detach().requires_grad_(True)
        return x
    if isinstance(inputs, Mapping):
        return (), {k: prep(v) for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return tuple(prep(x) for x in inputs), {}
    return (prep(inputs),), {}


def _shape_of(inputs: Any) -> str:
    if isinstance(inputs, Tensor):
        return str(tuple(inputs.shape))
    if isinstance(inputs, Mapping):
        return str({k: tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__ for k, v in inputs.items()})
    if isinstance(inputs, (tuple, list)):
        return str([tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__ for v in inputs])
    return type(inputs).__name__


def expected_input(specs: list[ModuleSpec]) -> str:
    """What the first weight layer expects, in words (for error messages)."""
    for s in specs:
        m = s.module
        if isinstance(m, nn.Linear):
            return f"inputs whose last dimension is in_features={m.in_features} (first layer {s.name}: {m})"
        if isinstance(m, CONV_LAYERS):
            dims = len(m.kernel_size)
            spatial = ", ".join("HWD"[:dims]) if dims > 1 else "L"
            return (f"inputs of shape (batch, in_channels={m.in_channels}, {spatial}) "
                    f"(first layer {s.name}: {m})")
        if isinstance(m, nn.Embedding):
            return f"integer token ids in [0, {m.num_embeddings}) (first layer {s.name}: {m})"
    return "inputs the model's forward accepts"


def _loss(y: Tensor | None, targets: Any, loss_fn: Any, model_loss: Any = None) -> tuple[Tensor | None, str]:
    kind = loss_fn if isinstance(loss_fn, str) or loss_fn is None else "custom"
    if (kind is None or kind == "auto") and targets is None and isinstance(model_loss, Tensor) \
            and model_loss.numel() == 1:
        return model_loss.reshape(()), "model"  # a Hugging Face model given labels returns its loss
    if kind is None or kind == "auto":
        if targets is None:
            kind = "probe"
        elif isinstance(targets, Tensor) and not targets.is_floating_point():
            kind = "ce"
        else:
            kind = "mse"
    if kind not in LOSSES and kind != "custom":
        raise ValueError(f"loss_fn must be a callable or one of {LOSSES}, got {loss_fn!r}")
    if kind == "none":
        return None, kind
    if y is None:
        raise ValueError("cannot form a loss: the model returned no tensor (expected a tensor, or a "
                         "tuple/dict whose first tensor is the output)")
    if kind == "custom":
        try:
            loss = loss_fn(y, targets) if targets is not None else loss_fn(y)
        except Exception as e:
            raise ValueError(f"cannot form the loss with loss_fn={loss_fn!r} on an output of shape "
                             f"{tuple(y.shape)}: {e}") from e
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError(f"loss_fn must return a scalar tensor, got {type(loss).__name__}"
                             f"{'' if not isinstance(loss, Tensor) else ' of shape ' + str(tuple(loss.shape))}")
        return loss.reshape(()), kind
    if kind == "probe":
        g = torch.Generator().manual_seed(0)
        r = torch.randn(y.shape, generator=g, dtype=torch.float32).to(device=y.device, dtype=y.dtype)
        return (y * r).sum() / (y.shape[0] if y.dim() > 1 else 1), kind
    if not isinstance(targets, Tensor):
        raise ValueError(f"loss {kind!r} needs a targets tensor, got {type(targets).__name__}")
    if kind == "ce":
        if targets.is_floating_point() and targets.shape != y.shape:
            raise ValueError(f"cross-entropy needs integer class targets of shape {(y.shape[0],) + tuple(y.shape[2:])} "
                             f"(or class probabilities of the output's shape {tuple(y.shape)}), got "
                             f"{targets.dtype} targets of shape {tuple(targets.shape)}")
        try:
            return F.cross_entropy(y, targets.to(y.device)), kind
        except Exception as e:
            raise ValueError(f"cross-entropy needs outputs (batch, classes, …) and integer targets (batch, …) "
                             f"in [0, classes); got output {tuple(y.shape)} and targets {tuple(targets.shape)} "
                             f"{targets.dtype}: {e}") from e
    if targets.shape != y.shape:
        raise ValueError(f"mse needs targets of the output's shape {tuple(y.shape)}, got {tuple(targets.shape)}")
    return F.mse_loss(y, targets.to(device=y.device, dtype=y.dtype)), kind


def attach_activations(layers: list[LayerStats]) -> None:
    """Set ``activation`` of each linear/conv record that has none to the activation module after it."""
    for i, r in enumerate(layers):
        if r.kind not in ("linear", "conv") or r.activation is not None:
            continue
        for nxt in layers[i + 1:]:
            if nxt.kind == "activation":
                r.activation, r.activation_spec = nxt.activation, nxt.activation_spec
                break
            if nxt.kind in ("linear", "conv"):
                break


def _param_stats(spec: ModuleSpec) -> dict[str, Any]:
    """Weight/bias statistics of one module (float64 on the host; this runs once per inspection)."""
    out: dict[str, Any] = {}
    w, b = spec.weight, spec.bias
    with torch.no_grad():
        if w is not None:
            wd = w.detach().double()
            out["weight_std"] = float(wd.std(correction=0)) if wd.numel() > 1 else 0.0
            out["weight_abs_mean"] = float(wd.abs().mean())
            if spec.transposed:  # Hugging Face Conv1D stores (in, out): statistics in torch's layout
                wd = wd.t()
            if w.grad is not None:
                gd = w.grad.detach().double()
                gd = gd.t() if spec.transposed else gd
                gn, wn = float(gd.norm()), float(wd.norm())
                out["weight_grad_norm"] = gn
                out["grad_weight_ratio"] = gn / wn if wn > 0 else (math.inf if gn > 0 else math.nan)
                out["weight_grad_abs_mean"] = float(gd.abs().mean())
                if spec.kind in ("linear", "conv") and gd.dim() >= 2:
                    out["sign_coherence"] = float(sign_coherence(gd))
        if b is not None:
            bd = b.detach().double()
            out["bias_std"] = float(bd.std(correction=0)) if bd.numel() > 1 else 0.0
            out["bias_abs_mean"] = float(bd.abs().mean())
            out["bias_mean"] = float(bd.mean())
            if b.grad is not None:
                out["bias_grad_norm"] = float(b.grad.detach().double().norm())
                out["bias_grad_abs_mean"] = float(b.grad.detach().double().abs().mean())
    return out


# the raw reduction each derived statistic comes from (present ⇔ recorded, even when NaN)
_SOURCE = {"mean": "sum", "std": "sum", "abs_mean": "sum", "min": "min", "max": "max", "zero_fraction": "zero",
           "positive_fraction": "pos", "saturated_fraction": "sat", "dead_fraction": "dead",
           "distinct_units": "distinct", "grad_norm": "gsq", "grad_std": "gsq", "grad_abs_mean": "gl1",
           "input_positive_fraction": "in_pos", "nonfinite_forward": "sum", "nonfinite_backward": "gsq"}


def build_records(rec: Recorder, values: list[float], param: dict[int, dict[str, Any]] | None = None,
                  hists: dict[tuple[int, int], list[float]] | None = None) -> list[LayerStats]:
    """LayerStats for the slots of ``rec``'s current frame, from the host copy of ``rec.vals``."""
    raw: dict[tuple[int, int], dict[str, float]] = {}
    for (slot, key), v in zip(rec.keys, values):
        raw.setdefault(slot, {})[key] = v
    out = []
    for slot in rec.slots:
        spec = rec.specs[slot[0]]
        n, batch, units = rec.meta[slot]
        r = raw.get(slot, {})
        d = derive({k: np.float64(v) for k, v in r.items()}, np.float64(n),
                   np.float64(rec.input_numel.get(slot, math.nan)), np.bool_("sum" in r), np.bool_("gsq" in r))
        d.pop("grad_mean")  # the Watcher plans its shifts with it; LayerStats has no such field
        val = {k: (float(v) if _SOURCE.get(k, k) in r else None) for k, v in d.items()}
        ls = layer_stats(spec.name, spec.kind, spec.module_type, slot[1], spec.fan_in, spec.fan_out,
                         spec.activation, activation_spec=spec.activation_spec, units=units, batch_size=batch,
                         **val)
        if hists and slot in hists and finite(ls.min) and finite(ls.max):
            ls.hist_counts = hists[slot]
            ls.hist_edges = np.linspace(ls.min, ls.max, len(hists[slot]) + 1).tolist()
        if "bl1" in r:  # Caffe's bottom diff (precise mode)
            source, numel = rec.bottoms[slot]
            ls.extra["bottom_blob"] = source if source is not None else f"{ls.label}.input"
            ls.extra["bottom_diff_abs_mean"] = r["bl1"] / numel
        for k, v in (param or {}).get(spec.index, {}).items():
            if hasattr(ls, k) and k != "extra":
                setattr(ls, k, v)
            else:
                ls.extra[k] = v
        out.append(ls)
    attach_activations(out)
    return out


# --------------------------------------------------------------------------------------------------
def inspect(model: nn.Module, inputs: Any, targets: Any = None,
            loss_fn: str | Callable[..., Tensor] | None = None, *, bins: int = 30,
            saturation_margin: float = 0.01) -> Inspection:
    """Run one forward (and backward) pass of ``model`` on ``inputs`` and record every layer call.

    Args:
        model: any ``nn.Module`` with Linear/Conv/norm/activation modules.
        inputs: a tensor, a tuple of positional inputs, or a dict of keyword inputs.
        targets: optional targets for ``loss_fn``.
        loss_fn: ``None`` (auto), ``"ce"``, ``"mse"``, ``"probe"``, ``"none"`` or a callable (module docs).
        bins: histogram bins per layer.
        saturation_margin: how close to a saturating activation's bound counts as saturated.

    Raises:
        ValueError: no probed layers, inputs the model rejects (naming what the first layer
            expects), or a loss that cannot be formed. Non-finite values are findings, not errors.
    """
    rec = Recorder(model, bins=bins, saturation_margin=saturation_margin, precise=True)
    args, kwargs = _call_args(inputs)
    loss_val, kind, logits = None, "none", None
    with _preserved(model):
        rec.install()
        rec.active = rec.extended = True
        tp = TransformerProbes(model)
        try:
            with torch.enable_grad(), rec.exclusive():  # a Watcher on this model ignores this pass
                with tp:
                    try:
                        out = model(*args, **kwargs)
                    except Exception as e:
                        raise ValueError(f"the model rejected inputs of shape {_shape_of(inputs)}; it expects "
                                         f"{expected_input(rec.specs)}. The error was: {type(e).__name__}: {e}") from e
                y, source = model_output(out)
                loss, kind = _loss(y, targets, loss_fn, getattr(out, "loss", None))
                if y is not None and y.is_floating_point() and y.dim() >= 2 and (source == "logits" or kind == "ce"):
                    logits = logit_stats(y, -1 if source == "logits" or y.dim() == 2 else 1, source)
                if loss is not None:
                    loss_val = float(loss.detach())
                    if loss.requires_grad:
                        loss.backward()
            tp.collect()
            rec.active = False
            values = torch.stack([v.to(torch.float64) for v in rec.vals]).cpu().tolist() if rec.vals else []
            hists = {slot: h.cpu().tolist() for slot, h in rec.hists}
            ran = {sl[0] for sl in rec.slots}
            params = {s.index: _param_stats(s) for s in rec.specs if s.index in ran}
            layers = build_records(rec, values, params, hists)
            net_params = net_param_norms(model) if loss_val is not None else None
        finally:
            rec.remove()
    if not layers:
        raise ValueError("none of the model's probed layers ran on these inputs (or their outputs were "
                         "not floating-point tensors)")
    batch = layers[0].batch_size
    return Inspection(layers, loss_val, kind, batch, {"net_params": net_params} if net_params else {},
                      blocks=tp.blocks, attention=tp.attention, logits=logits, notes=tp.notes)
