r"""Diagnosis: per-layer statistics → findings, each with its evidence and a fix from the references.

Each rule reads only :class:`~initlab.probes.records.LayerStats` (in forward order) and a named,
overridable threshold of :class:`Thresholds`. The rules and their sources (seeds 000–004):

============================  ===========================================================================
kind                          fires when (default threshold)
============================  ===========================================================================
``nonfinite``                 NaN/Inf in a layer's output (first in forward order) or δ (first in backward)
``forward_collapse``          output std shrinks by a factor < ``depth_step`` for ≥ ``min_run`` weight
                              layers in a row, ``collapse_ratio`` overall (Var(z) = n·Var(w)·Var(x), seed 001);
                              the depth trends read the main path (:func:`main_path`: a repeated block is
                              one step, read at its output, the stream)
``exploding_activations``     the same growth (> 1/``depth_step``, ``exploding_ratio`` overall), or any
                              abs_mean > ``activation_max``
``vanishing_gradients``       ‖δ‖ shrinks the same way from the last to the first layer
                              (``vanishing_ratio``; Nielsen ch. 5, seed 002)
``exploding_gradients``       ‖δ‖ grows from the last to the first layer (``exploding_ratio``)
``saturation``                > ``saturated_fraction`` of an activation's outputs saturated (seed 000)
``dead_units``                > ``dead_fraction`` of a ReLU's units ≤ 0 on the whole batch (seed 004);
                              "info" below ``dead_min_batch`` examples (a live unit looks dead w.p. 2⁻ᴮ)
``symmetric_units``           a hidden layer with ≤ ``symmetric_fraction`` distinct units (zero/constant
                              init, seed 000, 003)
``non_zero_centered``         all-positive inputs (≥ ``positive_inputs``) and ≥ ``sign_coherence`` of
                              the units' weight-gradient rows of one sign (sigmoid's zig-zag, seed 000);
                              not for layers fed by a ReLU (positive by design, He init accounts for it)
``uncontrolled_magnitudes``   a ReLU's mean |output| > ``relu_magnitude`` (seed 001)
``update_ratio``              ‖ΔW‖/‖W‖ outside [``update_ratio_low``, ``update_ratio_high``] (~1e-3 is
                              healthy; watch only)
============================  ===========================================================================

>>> from initlab.probes.records import LayerStats
>>> layers = [LayerStats("fc1", "linear", "Linear", std=1.0, distinct_units=1, units=64),
...           LayerStats("fc2", "linear", "Linear", std=1.0)]
>>> [f.kind for f in diagnose(layers)]
['symmetric_units']
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .records import LayerStats, finite
from .stats import RELU_FAMILY

__all__ = ["Finding", "Thresholds", "diagnose", "resolve_thresholds", "main_path", "PathStep", "SEVERITIES"]

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Thresholds:
    """Named thresholds of the diagnosis (see the module table); override any by name."""

    vanishing_ratio: float = 1e-2
    exploding_ratio: float = 1e2
    collapse_ratio: float = 1e-2
    depth_step: float = 0.7
    min_run: int = 3
    activation_max: float = 1e4
    relu_magnitude: float = 100.0
    saturated_fraction: float = 0.2
    dead_fraction: float = 0.3
    dead_min_batch: int = 16
    symmetric_fraction: float = 0.1
    sign_coherence: float = 0.9
    positive_inputs: float = 0.99
    update_ratio_low: float = 1e-5
    update_ratio_high: float = 1e-1
    # transformers (initlab.probes.transformer_findings); tuned on the diagnosis zoo (benchmarks/diagnosis.py)
    residual_growth: float = 4.0
    branch_ratio: float = 10.0
    residual_grad_ratio: float = 1e2
    attention_entropy: float = 0.3
    collapse_heads: float = 0.5
    logit_entropy: float = 0.5


def resolve_thresholds(thresholds: Thresholds | Mapping[str, float] | None) -> Thresholds:
    """A :class:`Thresholds` from None (defaults), a Thresholds, or a dict of overrides."""
    if thresholds is None:
        return Thresholds()
    if isinstance(thresholds, Thresholds):
        return thresholds
    if not isinstance(thresholds, Mapping):
        raise ValueError(f"thresholds must be a Thresholds, a dict or None, got {thresholds!r}")
    valid = [f.name for f in dataclasses.fields(Thresholds)]
    bad = sorted(set(thresholds) - set(valid))
    if bad:
        raise ValueError(f"unknown threshold name(s) {bad}; valid names: {valid}")
    return Thresholds(**dict(thresholds))


@dataclass
class Finding:
    """One diagnosis: what (kind, severity), where (layers), why (evidence), what to do (fix)."""

    kind: str
    severity: str
    layers: list[str]
    evidence: dict[str, float]
    message: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        where = f" [{', '.join(self.layers[:6])}{', …' if len(self.layers) > 6 else ''}]" if self.layers else ""
        return f"{self.severity.upper():7s} {self.kind}{where}: {self.message} Fix: {self.fix}"


# --------------------------------------------------------------------------------------------------
def _run(values: Sequence[float | None], grow: bool, step: float) -> tuple[int, int, float]:
    """Longest run of consecutive factors v[i+1]/v[i] < step (or > 1/step when grow).

    Returns (start, end, product) with indices into ``values`` (run covers start..end).
    """
    best, start, cur_prod, best_prod = (0, 0), None, 1.0, 1.0
    for i in range(len(values) - 1):
        a, b = values[i], values[i + 1]
        ok = finite(a) and finite(b) and a > 0 and b >= 0
        f = b / a if ok else math.nan
        hit = ok and ((f > 1 / step) if grow else (f < step))
        if hit:
            if start is None:
                start, cur_prod = i, 1.0
            cur_prod *= f
            if i + 1 - start > best[1] - best[0]:
                best, best_prod = (start, i + 1), cur_prod
        else:
            start = None
    return best[0], best[1], best_prod


def _weight_layers(layers: Sequence[LayerStats]) -> list[LayerStats]:
    return [r for r in layers if r.kind in ("linear", "conv")]


def _label_list(rs: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for r in rs:
        if r.label not in out:
            out.append(r.label)
    return out


def diagnose(layers: Sequence[LayerStats], thresholds: Thresholds | Mapping[str, float] | None = None,
             blocks: Sequence[Any] = ()) -> list[Finding]:
    """The findings for per-layer statistics in forward order, most severe first.

    ``blocks``: the repeated blocks' stream records (:class:`~initlab.probes.residual.BlockStats`: ``name``,
    ``std``, ``grad_norm``), if any: the depth trends then read the main path (:func:`main_path`)."""
    t = resolve_thresholds(thresholds)
    out: list[Finding] = []
    out += _nonfinite(layers)
    out += _depth_trends(main_path(layers, blocks), layers, t)
    clean = [r for r in layers if not r.nonfinite_forward]  # NaN outputs say nothing about the rest
    out += _saturation(clean, t)
    out += _dead(clean, t)
    out += _symmetric(clean, t)
    out += _non_zero_centered(clean, t)
    out += _magnitudes(clean, t)
    out += _update_ratio(layers, t)
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    return sorted(out, key=lambda f: order[f.severity])


def _nonfinite(layers: Sequence[LayerStats]) -> list[Finding]:
    out = []
    fwd = [r for r in layers if r.nonfinite_forward]
    if fwd:
        r = fwd[0]
        out.append(Finding(
            "nonfinite", "error", [r.label], {"layer_index": float(layers.index(r)), "layers_affected": float(len(fwd))},
            f"The first non-finite (NaN/Inf) output appears at layer {r.label} ({r.module_type}); "
            f"{len(fwd)} layer call(s) are affected.",
            "Check that layer's weights and inputs for NaN/Inf (a bad checkpoint or init), lower the "
            "learning rate, and clip gradients (torch.nn.utils.clip_grad_norm_)."))
        return out
    bwd = [r for r in layers if r.nonfinite_backward]
    if bwd:
        r = bwd[-1]
        out.append(Finding(
            "nonfinite", "error", [r.label], {"layer_index": float(layers.index(r)), "layers_affected": float(len(bwd))},
            f"Outputs are finite but the gradient first becomes NaN/Inf at layer {r.label} going backward.",
            "Check the loss for NaN/Inf (log of 0, division by 0), lower the learning rate, and clip "
            "gradients (torch.nn.utils.clip_grad_norm_)."))
    return out


@dataclass(frozen=True)
class PathStep:
    """One step of the main path: a weight layer, or a repeated block read at its output (the stream)."""

    label: str
    std: float | None
    grad_norm: float | None


def main_path(layers: Sequence[LayerStats], blocks: Sequence[Any] = ()) -> list[PathStep]:
    r"""The weight layers in forward order, with each repeated block's layers replaced by the block itself.

    The depth trends compare consecutive entries as if each fed the next (δ_l = J_lᵀ δ_{l+1}). Inside a
    residual block that is false: q, k and v are parallel, and a branch's last layer feeds the stream
    x_{l+1} = x_l + f(x_l), not the next branch — the δ of a branch-internal layer is the stream gradient
    times the branch's Jacobian (small when the branch is initialized small, e.g. N(0, 0.02²)), so a chain
    through them reads a "vanishing" gradient the stream does not have. On the main path a block is one
    step, measured at its output: the stream's std and ‖∂L/∂x_{l+1}‖ (for a block that is not residual
    its output *is* its last layer's activation, so nothing is lost).

    >>> ls = [LayerStats(n, "linear", "Linear", std=1.0, grad_norm=g) for n, g in (("h.0.q", .1), ("h.0.o", .2), ("head", 1.))]
    >>> from types import SimpleNamespace as NS
    >>> [s.label for s in main_path(ls, [NS(name="h.0", std=1.0, grad_norm=0.9)])]
    ['h.0', 'head']
    """
    w = _weight_layers(layers)
    if not blocks:
        return [PathStep(r.label, r.std, r.grad_norm) for r in w]
    names = list(dict.fromkeys(b.name for b in blocks))
    out: list[PathStep] = []
    seen: set[str] = set()
    for r in w:
        owner = next((n for n in names if r.name.startswith(n + ".")), None)
        if owner is None:
            out.append(PathStep(r.label, r.std, r.grad_norm))
        elif owner not in seen:
            seen.add(owner)
            out += [PathStep(b.name if k == 0 else f"{b.name}#{k}", b.std, b.grad_norm)
                    for k, b in enumerate(x for x in blocks if x.name == owner)]
    return out


def _depth_trends(w: Sequence[PathStep], layers: Sequence[LayerStats], t: Thresholds) -> list[Finding]:
    out: list[Finding] = []
    if len(w) < 2:
        return out
    std = [r.std for r in w]
    # forward: collapse / growth of the output std with depth
    s, e, prod = _run(std, grow=False, step=t.depth_step)
    if e - s >= t.min_run and prod < t.collapse_ratio:
        named = [r for r in w[s + 1:e + 1] if finite(r.std) and finite(w[s].std) and r.std < w[s].std * t.depth_step]
        f = prod ** (1 / (e - s))
        out.append(Finding(
            "forward_collapse", "warning", _label_list(named),
            {"std_first": float(std[s]), "std_last": float(std[e]), "ratio": prod, "per_layer_factor": f,
             "layers_in_run": float(e - s + 1)},
            f"Output std shrinks geometrically with depth, ×{f:.3g} per layer from {w[s].label} "
            f"({std[s]:.3g}) to {w[e].label} ({std[e]:.3g}).",
            "Scale the initial weights to Var(w) = gain²/fan_in (Xavier for tanh/sigmoid, He for ReLU) "
            "instead of a small fixed std, or add normalization layers."))
    s, e, prod = _run(std, grow=True, step=t.depth_step)
    big = [r for r in layers if finite(r.abs_mean) and r.abs_mean > t.activation_max]
    grow = e - s >= t.min_run and prod > t.exploding_ratio
    if grow or big:
        named = _label_list(list(w[s + 1:e + 1] if grow else []) + big)
        ev: dict[str, float] = {"max_abs_mean": max((r.abs_mean for r in big), default=math.nan)}
        if grow:
            ev.update({"std_first": float(std[s]), "std_last": float(std[e]), "ratio": prod,
                       "per_layer_factor": prod ** (1 / (e - s))})
        msg = (f"Output std grows geometrically with depth, ×{ev['per_layer_factor']:.3g} per layer "
               f"from {w[s].label} to {w[e].label}." if grow else
               f"Activations reach a mean |output| of {ev['max_abs_mean']:.3g} at {big[0].label}.")
        out.append(Finding(
            "exploding_activations", "warning", named, ev, msg,
            "Scale the initial weights to Var(w) = gain²/fan_in (He for ReLU, Xavier for tanh), add "
            "normalization, and clip gradients (torch.nn.utils.clip_grad_norm_) while training."))
    # backward: δ norms, from the last layer towards the first
    g = [r.grad_norm for r in reversed(w)]
    wr = list(reversed(w))
    s, e, prod = _run(g, grow=False, step=t.depth_step)
    if e - s >= t.min_run and prod < t.vanishing_ratio:
        named = wr[s + 1:e + 1]
        f = prod ** (1 / (e - s))
        out.append(Finding(
            "vanishing_gradients", "warning", _label_list(reversed(named)),
            {"grad_norm_last": float(g[s]), "grad_norm_first": float(g[e]), "ratio": prod, "per_layer_factor": f},
            f"The gradient norm ‖δ‖ falls by a factor {1 / prod:.3g} from {wr[s].label} back to "
            f"{wr[e].label} (×{f:.3g} per layer), so the early layers barely learn.",
            "Initialize with Xavier (tanh/sigmoid) or He (ReLU) scaling, prefer ReLU-family activations "
            "over sigmoid, or add normalization or residual connections."))
    s, e, prod = _run(g, grow=True, step=t.depth_step)
    if e - s >= t.min_run and prod > t.exploding_ratio:
        named = wr[s + 1:e + 1]
        f = prod ** (1 / (e - s))
        out.append(Finding(
            "exploding_gradients", "warning", _label_list(reversed(named)),
            {"grad_norm_last": float(g[s]), "grad_norm_first": float(g[e]), "ratio": prod, "per_layer_factor": f},
            f"The gradient norm ‖δ‖ grows by a factor {prod:.3g} from {wr[s].label} back to {wr[e].label}.",
            "Clip gradients (torch.nn.utils.clip_grad_norm_), scale the initial weights to "
            "Var(w) = gain²/fan_in, and lower the learning rate."))
    return out


def _saturation(layers: Sequence[LayerStats], t: Thresholds) -> list[Finding]:
    sat = [r for r in layers if r.kind == "activation" and finite(r.saturated_fraction)
           and r.saturated_fraction > t.saturated_fraction]
    if not sat:
        return []
    worst = max(sat, key=lambda r: r.saturated_fraction)
    return [Finding(
        "saturation", "warning", _label_list(sat),
        {"max_saturated_fraction": worst.saturated_fraction, "layers": float(len(sat))},
        f"{worst.saturated_fraction:.0%} of the outputs of {worst.label} ({worst.module_type}) sit in the "
        f"flat tails, where the derivative and so the gradient is nearly zero.",
        "Use smaller initial weights (Xavier: Var(w) = 2/(fan_in + fan_out)), normalize the inputs or "
        "pre-activations, or switch to a non-saturating activation (ReLU family).")]


def _dead(layers: Sequence[LayerStats], t: Thresholds) -> list[Finding]:
    dead = [r for r in layers if finite(r.dead_fraction) and r.dead_fraction > t.dead_fraction]
    if not dead:
        return []
    worst = max(dead, key=lambda r: r.dead_fraction)
    batch = min((r.batch_size for r in dead if r.batch_size), default=0)
    small = 0 < batch < t.dead_min_batch
    msg = (f"{worst.dead_fraction:.0%} of the units of {worst.label} output 0 on every example of the batch"
           + (f", but a batch of {batch} is too small to tell (a live unit looks dead with probability 2^-{batch})."
              if small else ", so they get no gradient and stop learning."))
    return [Finding(
        "dead_units", "info" if small else "warning", _label_list(dead),
        {"max_dead_fraction": worst.dead_fraction, "batch_size": float(batch)}, msg,
        "Lower the learning rate, use LeakyReLU/PReLU, and initialize with He (Kaiming) scaling.")]


def _symmetric(layers: Sequence[LayerStats], t: Thresholds) -> list[Finding]:
    w = _weight_layers(layers)
    hidden = w[:-1]  # the output layer may start symmetric (zero-init head): its δ differ per unit
    sym = [r for r in hidden if r.distinct_units is not None and r.units and r.units >= 2
           and r.distinct_units <= max(1.0, t.symmetric_fraction * r.units)]
    if not sym:
        return []
    r = sym[0]
    return [Finding(
        "symmetric_units", "error", _label_list(sym),
        {"distinct_units": float(r.distinct_units), "units": float(r.units), "layers": float(len(sym))},
        f"Layer {r.label} has only {r.distinct_units} distinct unit(s) out of {r.units}: identical "
        f"weights make units compute and learn the same thing.",
        "Initialize weights randomly (Xavier/He) instead of zeros or a constant; biases may stay 0.")]


def _non_zero_centered(layers: Sequence[LayerStats], t: Thresholds) -> list[Finding]:
    # A layer fed by a ReLU-family activation has positive inputs by design (He init accounts for their
    # second moment); the finding is about an offset nothing accounts for: the data's, or a sigmoid's.
    w = _weight_layers(layers)
    fed = [r for i, r in enumerate(w) if i == 0 or (w[i - 1].activation or "") not in RELU_FAMILY]
    hits = [r for r in fed if finite(r.sign_coherence) and finite(r.input_positive_fraction)
            and r.input_positive_fraction >= t.positive_inputs and r.sign_coherence >= t.sign_coherence]
    if not hits:
        return []
    r = min(hits, key=lambda x: x.sign_coherence)
    return [Finding(
        "non_zero_centered", "warning", _label_list(hits),
        {"min_sign_coherence": r.sign_coherence, "input_positive_fraction": r.input_positive_fraction},
        f"The inputs of {r.label} are all positive, so {r.sign_coherence:.0%} of its units update all "
        f"their weights with one sign, and gradient descent zig-zags.",
        "Use a zero-centered activation (tanh) or normalization (BatchNorm/LayerNorm), and center the inputs.")]


def _magnitudes(layers: Sequence[LayerStats], t: Thresholds) -> list[Finding]:
    big = [r for r in layers if r.kind == "activation" and (r.activation or "") in RELU_FAMILY
           and finite(r.abs_mean) and r.abs_mean > t.relu_magnitude]
    if not big:
        return []
    worst = max(big, key=lambda r: r.abs_mean)
    return [Finding(
        "uncontrolled_magnitudes", "warning", _label_list(big),
        {"max_abs_mean": worst.abs_mean, "max": worst.max if finite(worst.max) else math.nan},
        f"ReLU outputs are not bounded: mean |output| reaches {worst.abs_mean:.3g} at {worst.label}.",
        "Initialize with He scaling (Var(w) = 2/fan_in), add BatchNorm before the activation, or "
        "use a bounded activation.")]


def _update_ratio(layers: Sequence[LayerStats], t: Thresholds) -> list[Finding]:
    rs = [r for r in layers if finite(r.update_ratio) and r.update_ratio > 0]
    high = [r for r in rs if r.update_ratio > t.update_ratio_high]
    low = [r for r in rs if r.update_ratio < t.update_ratio_low]
    out = []
    for hits, pick, key, how, fix in (
            (high, max, "max_update_ratio", "{:.2g} of their norm (~1e-3 is healthy): the learning rate is too high",
             "Lower the learning rate (or use warm-up), and clip gradients."),
            (low, min, "min_update_ratio", "only {:.2g} of their norm (~1e-3 is healthy): the layer barely learns",
             "Raise the learning rate, or fix vanishing gradients (initialization, normalization).")):
        if hits:
            r = pick(hits, key=lambda x: x.update_ratio)
            out.append(Finding("update_ratio", "warning", _label_list(hits), {key: r.update_ratio},
                               f"Each optimizer step changes the weights of {r.label} by {how.format(r.update_ratio)}.",
                               fix))
    return out
