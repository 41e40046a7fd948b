r"""Fused reductions: each statistic is a 0-d (or tiny) tensor on the input's device, never a sync.

The hooks call these on every recorded step, so each function does as few passes over the tensor
as it can and never calls ``.item()``, ``.cpu()`` or ``.tolist()``; the caller stacks the results
into one device buffer row and converts them on the host, rarely (see :mod:`initlab.probes.watcher`).

Raw reductions and the statistics derived from them on the host (n = numel). Sums are taken
around a *shift* c, the tensor's first entry (any value near the data will do; this one costs
no pass and needs no state): with d = x − c,

* ``shift`` = c, ``sum`` = Σd, ``sq`` = Σd², ``l1`` = Σ|x|  →  mean = c + Σd/n,
  std = √(Σd²/n − (Σd/n)²) (population), abs_mean = l1/n (Caffe's ``asum/count``, its
  ``debug_info`` number), ‖x‖ = √(n·(std² + mean²));
* counts (zeros, positives, saturated, non-finite) → fractions of n;
* the histogram uses the minimum and maximum as its range, so it needs no host round trip.

Why the shift: the textbook one-pass √(Σx²/n − mean²) subtracts two numbers that agree to
log₁₀(mean²/std²) digits, and float32 keeps about 7. A sigmoid output at 0.9526 ± 2.5·10⁻⁴
(mean²/std² ≈ 1.4·10⁷) loses every digit; around c the two terms are O(std²) and nothing cancels.

A *unit* is a feature (last dimension) of a ``(batch, …, features)`` tensor, or a channel (dim 1)
of a convolutional ``(batch, channels, *spatial)`` tensor.

>>> import torch
>>> x = torch.tensor([[1.0, -2.0], [3.0, 0.0]])
>>> [float(t) for t in core(x)]  # c = 1: Σd = (0 − 3 + 2 − 1), Σd² = 0 + 9 + 4 + 1, Σ|x|
[1.0, -2.0, 14.0, 6.0]
>>> float(sign_coherence(torch.tensor([[1.0, 0.0, 2.0], [1.0, -1.0, 0.0]])))
0.5
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from ..activations import RELU_FAMILY, Activation

__all__ = ["core", "grad_core", "sums", "abs_sum", "unit_dim", "minmax", "histogram", "distinct_units",
           "count_distinct", "projection", "moments", "alive_units", "dead_units", "saturation_bounds", "saturated", "sign_coherence", "derive", "RELU_FAMILY"]

ACC = torch.float32  # accumulation dtype of the watch path (inputs may be half/bfloat16)


# the accumulation dtype of each input dtype (torch.promote_types with ACC, without the call)
_ACC_OF = {torch.float32: torch.float32, torch.float64: torch.float64, torch.float16: torch.float32,
           torch.bfloat16: torch.float32}


def _acc(dtype: torch.dtype, acc: torch.dtype) -> torch.dtype:
    return _ACC_OF.get(dtype, dtype) if acc is ACC else torch.promote_types(dtype, acc)


def grad_core(g: Tensor, dtype: torch.dtype = ACC) -> tuple[Tensor, Tensor, Tensor]:
    """(c, Σd, Σd²) with d = g − c and c = g's first entry, accumulated in ``dtype`` or wider.

    One fused pass computes d (it also widens half/bfloat16 inputs: c has shape (1,), so it takes
    part in type promotion), then one pass each for Σd and Σd² (``dot``). Measured on CPU (131k
    floats): ``sum`` 3 µs, ``dot`` 8 µs, the subtraction 8 µs. :func:`sums` skips the subtraction, for
    tensors known to have |mean| ≲ 10·std.
    """
    v = g.reshape(-1)
    acc = _acc(v.dtype, dtype)
    c = v[:1].to(acc)
    if acc == torch.float64:  # a float32 value: the Watcher's float32 rows keep the shift exact (DDP merges it)
        c = c.float().to(acc)
    d = v - c
    return c.view(()), d.sum(), torch.dot(d, d)


def sums(g: Tensor, dtype: torch.dtype = ACC) -> tuple[Tensor, Tensor]:
    """(Σg, Σg²) accumulated in ``dtype`` or wider: :func:`grad_core` without the shift (c = 0, which
    the caller records by leaving the shift out), for tensors known to have |mean| ≲ 10·std."""
    v = g.reshape(-1)
    if v.dtype is not dtype:
        v = v.to(_acc(v.dtype, dtype))
    return v.sum(), torch.dot(v, v)


def abs_sum(x: Tensor, dtype: torch.dtype = ACC) -> Tensor:
    """Σ|x| accumulated in ``dtype`` or wider. ``abs().sum()`` (59 µs on 524k floats) is ~4× faster
    than ``vector_norm(x, 1)``."""
    return x.abs().sum(dtype=_acc(x.dtype, dtype))


def core(x: Tensor, dtype: torch.dtype = ACC) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(c, Σd, Σd², Σ|x|) with d = x − c (see :func:`grad_core`)."""
    return (*grad_core(x, dtype), abs_sum(x, dtype))


def unit_dim(x: Tensor, channels_first: bool) -> int:
    """The dimension that indexes units: 1 for 2-d tensors and channel-first maps, else the last."""
    if x.dim() <= 1:
        return 0
    if x.dim() == 2 or channels_first:
        return 1
    return x.dim() - 1


def _other_dims(x: Tensor, dim: int) -> tuple[int, ...]:
    return tuple(d for d in range(x.dim()) if d != dim)


def minmax(x: Tensor) -> tuple[Tensor, Tensor]:
    """(min, max) in float32 or wider (NaN when x holds a NaN)."""
    lo, hi = torch.aminmax(x)
    return lo.to(torch.promote_types(lo.dtype, ACC)), hi.to(torch.promote_types(hi.dtype, ACC))


def histogram(x: Tensor, lo: Tensor, hi: Tensor, bins: int) -> Tensor:
    """Counts (``bins``,) float32 of x's entries over [lo, hi], on x's device.

    Unlike :func:`torch.histc` the range stays a tensor, so nothing waits for the device. (With
    non-finite entries the range is NaN/inf and the counts are meaningless; the layer is flagged
    non-finite anyway.)
    """
    x = x.reshape(-1)
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(ACC)
    scale = bins / (hi - lo).clamp_min(torch.finfo(ACC).tiny)
    # the bin coordinate (x − lo)·scale, truncated (= floor once clamped to [0, bins − 1]); sub + mul_
    # is ~5× faster than one addcmul with 0-d operands on CPU
    idx = torch.sub(x, lo).mul_(scale).clamp_(0, bins - 1).nan_to_num_(0.0)
    if x.device.type == "cpu":  # bincount is the fastest on CPU (int32: 2× faster than int64); on CUDA
        return torch.bincount(idx.to(torch.int32), minlength=bins).to(ACC)  # it would sync (it takes a max)
    out = torch.zeros(bins, dtype=ACC, device=x.device)
    return out.index_add_(0, idx.to(torch.int64), torch.ones(1, dtype=ACC, device=x.device).expand(idx.numel()))


@lru_cache(maxsize=16)
def projection(n: int, device: torch.device, stream: int = 0) -> Tensor:
    """A fixed random direction of length n (float64), from a private generator (the global RNG state is
    never touched); ``stream`` picks another fixed direction (DDP: rank r's part of a longer one)."""
    g = torch.Generator().manual_seed(0x1417 + 7919 * stream + n)
    p = torch.randn(n, generator=g, dtype=torch.float64)
    if device.type == "cuda":  # pinned + non-blocking: even the first (cache-miss) copy does not sync
        return p.pin_memory().to(device, non_blocking=True)
    return p.to(device)


def distinct_units(x: Tensor, dim: int) -> Tensor:
    """How many units have distinct activation vectors over the batch (a float 0-d tensor).

    Each unit's vector (its values over examples and positions) is hashed by a fixed random
    projection in float64; units whose hashes agree to 1e-9 relative count once. Identical units
    (zero or constant init, seed 000) give one distinct unit per group.
    """
    u = x.detach().movedim(dim, 0).reshape(x.shape[dim], -1).to(torch.float64)  # (units, samples)
    return count_distinct(u @ projection(u.shape[1], u.device))


def count_distinct(h: Tensor) -> Tensor:
    """How many of the hashes ``h`` (units,) differ, agreeing to 1e-9 relative counting once (float 0-d)."""
    h = torch.sort(h).values
    tol = 1e-9 * h.abs().amax().clamp_min(1e-300)
    return ((h.diff().abs() > tol).sum(dtype=ACC) + 1.0) if h.numel() > 1 else h.new_ones((), dtype=ACC)


def alive_units(positive: Tensor, dim: int) -> Tensor:
    """Per unit along ``dim``: whether its 0/1 mask ``positive`` is 1 anywhere (uint8; uint8 amax is
    ~30× faster than any(dims))."""
    if positive.dim() <= 1:
        return positive.view(torch.uint8)
    return positive.view(torch.uint8).amax(dim=_other_dims(positive, dim))


def dead_units(y: Tensor, dim: int, positive: Tensor | None = None) -> Tensor:
    """Fraction of units of a ReLU-family output that are ≤ 0 on every example (y > 0 ⇔ input > 0).

    ``positive``: ``y > 0`` when the caller has it already (it counts positives from the same mask).
    """
    alive = alive_units((y > 0) if positive is None else positive, dim)
    return 1.0 - alive.sum(dtype=ACC) / max(alive.numel(), 1)


@lru_cache(maxsize=64)
def saturation_bounds(act: Activation, margin: float) -> tuple[float | None, float | None]:
    """(low, high): outputs below ``low`` or above ``high`` count as saturated (None: no such side).

    A side saturates when φ' → 0 there and φ tends to a finite value; tanh: |y| > 1 − margin,
    sigmoid: y < margin or y > 1 − margin, ELU: y < −α + margin. A flat side at 0 (ReLU, softplus,
    GELU, SiLU) is sparsity, not saturation, unless the other side saturates too (sigmoid).
    """
    left, right = act.saturating
    lo_v, hi_v = (float(v) for v in act.numpy(np.array([-1e4, 1e4])))  # φ's limits (not inf/sup: GELU)
    both = left and right and math.isfinite(lo_v) and math.isfinite(hi_v)
    low = lo_v + margin if left and math.isfinite(lo_v) and (both or abs(lo_v) > 1e-9) else None
    high = hi_v - margin if right and math.isfinite(hi_v) and (both or abs(hi_v) > 1e-9) else None
    return low, high


def saturated(y: Tensor, low: float | None, high: float | None) -> Tensor:
    """Count of entries beyond the saturation bounds (int64 0-d tensor; exact)."""
    if low is not None and high is not None:
        return torch.count_nonzero((y < low) | (y > high))
    if low is not None:
        return torch.count_nonzero(y < low)
    return torch.count_nonzero(y > high)


def sign_coherence(grad: Tensor) -> Tensor:
    """Fraction of units (rows of ∂L/∂W, shape (out, …)) whose non-zero entries all share one sign.

    For a unit fed by all-positive inputs x (sigmoid outputs), ∂L/∂w_ij = δ_i x_j has δ_i's sign for
    every j, so all of the unit's weights move together: the zig-zag path of seed 000.
    NaN when every row is zero.
    """
    g = grad.detach().reshape(grad.shape[0], -1)
    lo, hi = g.amin(dim=1), g.amax(dim=1)  # two passes, yet ~10× faster than aminmax(dim=1) on CPU
    pos, neg = hi > 0, lo < 0
    nonzero = (pos | neg).sum(dtype=ACC)
    frac = (pos ^ neg).sum(dtype=ACC) / nonzero.clamp_min(1.0)
    return torch.where(nonzero > 0, frac, torch.full_like(frac, math.nan))


def moments(c: np.ndarray, s: np.ndarray, sq: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, population variance) from the shifted sums of n entries: c + s/n and max(sq/n − (s/n)², 0)."""
    m = s / n
    return c + m, np.maximum(sq / n - m ** 2, 0.0)


def derive(raw: dict[str, np.ndarray], n: np.ndarray, input_n: np.ndarray | None = None,
           rec_f: np.ndarray | None = None, rec_b: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Host side: raw reductions (float64 arrays of one shape) → statistics.

    ``n`` is the number of entries of each output (and of δ, which has the output's shape); the sums
    are shifted (``shift``/``gshift``: see the module docs); ``std``/``gstd``, when given (inspection's
    two-pass float64 values), replace the one-pass ones;
    ``rec_f``/``rec_b`` mark where the forward/backward reductions were recorded (default: where
    they are not NaN), so that a recorded NaN reads as non-finite rather than as missing.
    """
    nan = np.full(np.shape(n), np.nan)
    get = lambda k: np.asarray(raw.get(k, nan), dtype=np.float64)  # noqa: E731
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        n = np.asarray(n, dtype=np.float64)
        mean, var = moments(get("shift"), get("sum"), get("sq"), n)
        std = get("std") if "std" in raw else np.sqrt(var)
        std = np.where(np.isfinite(mean), std, np.nan)
        gmean, gvar = moments(get("gshift"), get("gsum"), get("gsq"), n)
        gstd = get("gstd") if "gstd" in raw else np.sqrt(gvar)
        out = {
            "mean": mean, "std": std, "abs_mean": get("l1") / n,
            "min": get("min"), "max": get("max"),
            "zero_fraction": get("zero") / n, "positive_fraction": get("pos") / n,
            "saturated_fraction": get("sat") / n, "dead_fraction": get("dead"),
            "distinct_units": get("distinct"),
            "grad_norm": np.sqrt(n * (gvar + gmean ** 2)),
            "grad_std": np.where(np.isfinite(gmean), gstd, np.nan), "grad_mean": gmean,
            "grad_abs_mean": get("gl1") / n,
            "input_positive_fraction": get("in_pos") / (input_n if input_n is not None else nan),
        }
        if rec_f is None:
            rec_f = ~np.isnan(get("sum"))
        if rec_b is None:
            rec_b = ~np.isnan(get("gsq"))
        if "nonfinite" in raw:
            nf_f = get("nonfinite") > 0
        else:
            nf_f = rec_f & ~(np.isfinite(get("sum")) & np.isfinite(get("sq")))
        if "gnonfinite" in raw:
            nf_b = get("gnonfinite") > 0
        else:
            nf_b = rec_b & ~(np.isfinite(get("gsum")) & np.isfinite(get("gsq")))
    out["nonfinite_forward"] = np.where(rec_f, nf_f.astype(np.float64), np.nan)
    out["nonfinite_backward"] = np.where(rec_b, nf_b.astype(np.float64), np.nan)
    return out
