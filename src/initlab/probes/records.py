"""``LayerStats``: the per-call record that inspection, watching and the diagnosis share.

Plain data: floats are Python floats, ``None`` when a statistic does not apply or was not computed
(docs/CONTRACTS.md). The fields after ``nonfinite`` are additive extras.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LayerStats", "KINDS", "layer_stats"]

KINDS = ("linear", "conv", "norm", "activation", "other")


@dataclass
class LayerStats:
    """Statistics of one module call: its output (forward) and ∂L/∂output = δ (backward).

    mean, std (population), abs_mean (Caffe's asum/count) of the output; fractions are of all its
    entries; ``dead_fraction`` and ``distinct_units`` count units (features, or channels of a
    convolutional map); ``grad_*`` describe δ; ``weight_grad_norm`` = ‖∂L/∂W‖, ``bias_grad_norm`` =
    ‖∂L/∂b‖ (Nielsen's speed of learning for a loss averaged over examples), ``grad_weight_ratio``
    = ‖∂L/∂W‖/‖W‖, ``update_ratio`` = ‖ΔW‖/‖W‖ of an optimizer step (watch only).
    """

    # identity
    name: str
    kind: str
    module_type: str
    call_index: int = 0
    fan_in: int | None = None
    fan_out: int | None = None
    weight_std: float | None = None
    bias_std: float | None = None
    activation: str | None = None
    # forward: the module's output
    mean: float | None = None
    std: float | None = None
    abs_mean: float | None = None
    min: float | None = None
    max: float | None = None
    zero_fraction: float | None = None
    positive_fraction: float | None = None
    saturated_fraction: float | None = None
    dead_fraction: float | None = None
    distinct_units: int | None = None
    hist_counts: list[float] | None = None
    hist_edges: list[float] | None = None
    # backward
    grad_norm: float | None = None
    grad_std: float | None = None
    bias_grad_norm: float | None = None
    weight_grad_norm: float | None = None
    grad_weight_ratio: float | None = None
    sign_coherence: float | None = None
    nonfinite: bool | None = None
    # extras (additive)
    update_ratio: float | None = None
    input_positive_fraction: float | None = None
    grad_abs_mean: float | None = None
    weight_abs_mean: float | None = None
    nonfinite_forward: bool | None = None
    nonfinite_backward: bool | None = None
    units: int | None = None
    batch_size: int | None = None
    activation_spec: str | None = None  # the exact activation, e.g. "leaky_relu(slope=0.5)" (activations.get reads it)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        """``name`` for a module's first call, ``name#k`` for its k-th repeated call."""
        return self.name if self.call_index == 0 else f"{self.name}#{self.call_index}"

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-ready data (non-finite floats stay floats: NaN/inf)."""
        d = asdict(self)
        d.pop("extra")
        return d


def layer_stats(name: str, kind: str, module_type: str, call_index: int, fan_in: int | None,
                fan_out: int | None, activation: str | None, **values: Any) -> LayerStats:
    """A record from derived statistics (floats, None where not recorded), as inspect and watch build it.

    ``distinct_units`` becomes an int (None when not finite), the ``nonfinite_*`` flags bools, and
    ``nonfinite`` is set when either flag is.
    """
    du = values.pop("distinct_units", None)
    nf_f, nf_b = values.pop("nonfinite_forward", None), values.pop("nonfinite_backward", None)
    r = LayerStats(name, kind, module_type, call_index, fan_in, fan_out, activation=activation,
                   distinct_units=int(du) if finite(du) else None,
                   nonfinite_forward=None if nf_f is None else bool(nf_f),
                   nonfinite_backward=None if nf_b is None else bool(nf_b), **values)
    r.nonfinite = bool(r.nonfinite_forward or r.nonfinite_backward)
    return r


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
