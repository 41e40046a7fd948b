r"""What the page draws, measured on the live model: per-layer histograms of activations and gradients,
the mean-field prediction beside the measured std with its finite-width spread, the decision boundary,
the findings, and the (σ_w², σ_b²) facts.

Per hidden layer l the page shows the activation output :math:`a^l = \phi(h^l)` and the back-propagated
gradient :math:`\delta^l = \partial L/\partial h^l` of the training loss on a probe batch (the first B
training points; B × width ≥ 8,192 samples per layer where the budget allows). Gradients come from
``torch.autograd.grad``, so the model's ``.grad`` fields are untouched (training may be mid-step).

**Finite-width spread.** The mean-field line (:func:`initlab.theory.predict`) is the infinite-width
limit. At width N a layer's std fluctuates from draw to draw; the band is the 10–90 % range of the
pooled std over R = 32 simulated networks of the same widths and per-layer (σ_w², σ_b²) on 16 of the
probe inputs. The simulation is exact in distribution for Gaussian weights: given the previous layer's
outputs Φ (B × N), the next pre-activations are, unit by unit, independent N(0, K) over the batch with
:math:`K = \sigma_w^2 \Phi\Phi^\top/N + \sigma_b^2`, so each layer costs a B × B eigendecomposition and a
B × B × N product instead of an N × N weight draw. (Uniform and orthogonal draws differ slightly.)

>>> import torch, initlab as il
>>> from initlab.playground.state import validate
>>> from initlab.playground.training import build_model
>>> s = validate({"depth": 4, "width": 64, "activation": "tanh", "init": "xavier_normal"})
>>> model, _ = build_model(s, 2, 1)
>>> x = torch.randn(256, 2, generator=torch.Generator().manual_seed(0)); y = (x[:, 0] > 0).long()
>>> rows = layer_histograms(model, x, y, il.train.make_loss("bce"))
>>> len(rows), sorted(rows[0])
(4, ['act', 'grad', 'name'])
>>> band = finite_width_band(model, x, "tanh", generator=torch.Generator().manual_seed(0))
>>> bool(all(lo <= hi for lo, hi in zip(band["lo"], band["hi"])))
True
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from .. import activations, probes, theory
from ..probes import stats as probe_stats

__all__ = ["layer_histograms", "predicted_std", "finite_width_band", "boundary", "findings", "quick_theory",
           "slow_theory", "probe_size", "BINS"]

BINS = 40
_MAC_BUDGET = 4e7  # multiply-adds per probe pass (forward); the probe batch shrinks for big nets


def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def probe_size(model: nn.Module, n_available: int) -> int:
    """Probe-batch size: ≤ 512, ≤ the budget of multiply-adds, ≥ 32 (or all points if fewer)."""
    macs = sum(m.in_features * m.out_features for m in _linears(model))
    b = int(min(512, max(32, _MAC_BUDGET // max(macs, 1))))
    return max(1, min(b, n_available))


def _summary(t: Tensor) -> dict[str, Any]:
    t = t.detach().reshape(-1).to(torch.float64)
    finite = bool(torch.isfinite(t).all())
    if not finite or t.numel() == 0:
        return {"lo": None, "hi": None, "counts": [], "mean": None, "std": None, "finite": False}
    lo, hi = torch.aminmax(t)
    if float(hi - lo) <= 0:
        pad = max(abs(float(lo)) * 1e-6, 1e-12)
        lo, hi = lo - pad, hi + pad
    counts = probe_stats.histogram(t, lo, hi, BINS)
    return {"lo": float(lo), "hi": float(hi), "counts": [int(c) for c in counts.tolist()],
            "mean": float(t.mean()), "std": float(t.std(correction=0)), "finite": True}


def layer_histograms(model: nn.Sequential, x: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor]
                     ) -> list[dict[str, Any]]:
    """Per hidden layer (``act1``…): histogram, mean and std of its output and of δ = ∂L/∂h."""
    pre: list[Tensor] = []
    post: list[tuple[str, Tensor]] = []
    handles = []
    children = dict(model.named_children())
    for name, m in children.items():
        if name.startswith("fc") and name != "fc_out":
            handles.append(m.register_forward_hook(lambda _m, _a, out: pre.append(out)))
        elif name.startswith("act") and name != "act_out":
            handles.append(m.register_forward_hook(lambda _m, _a, out, n=name: post.append((n, out))))
    try:
        with torch.enable_grad():
            out = model(x)
            loss = loss_fn(out, y)
            grads = torch.autograd.grad(loss, pre, allow_unused=True) if loss.requires_grad else [None] * len(pre)
    finally:
        for h in handles:
            h.remove()
    rows = []
    for (name, a), g in zip(post, grads):
        rows.append({"name": name, "act": _summary(a), "grad": _summary(g) if g is not None else _summary(a[:0])})
    return rows


def predicted_std(model: nn.Module, q0: float) -> tuple[list[float | None], str]:
    """The mean-field std of each hidden layer's output (``theory.predict``), or Nones and why not."""
    n_hidden = len(_linears(model)) - 1
    try:
        pred = theory.predict(model, q0=q0)
    except ValueError as e:
        return [None] * n_hidden, str(e)
    vals = [float(p.post_std) if math.isfinite(p.post_std) else None for p in pred.layers[:n_hidden]]
    return vals, ""


def _sigmas(model: nn.Module) -> list[tuple[float, float]]:
    out = []
    for m in _linears(model):
        w = m.weight.detach().double()
        b = m.bias.detach().double() if m.bias is not None else torch.zeros(1, dtype=torch.float64)
        out.append((float(w.pow(2).mean()) * m.in_features, float(b.var(correction=0)) if b.numel() > 1 else 0.0))
    return out


@torch.no_grad()
def finite_width_band(model: nn.Module, x: Tensor, activation: str, *, replicas: int = 32, inputs: int = 16,
                      quantiles: tuple[float, float] = (0.1, 0.9), generator: torch.Generator | None = None
                      ) -> dict[str, list[float | None]]:
    """10–90 % range of each hidden layer's pooled output std over ``replicas`` simulated Gaussian nets of
    the model's widths and per-layer (σ_w², σ_b²) (module docstring), on the first ``inputs`` rows of x."""
    act = activations.get(activation)
    lins = _linears(model)[:-1]
    sig = _sigmas(model)
    xs = x[:inputs].detach().to(torch.float64)
    phi = xs.expand(replicas, *xs.shape)  # (R, B, fan_in)
    lo, hi = [], []
    for m, (sw, sb) in zip(lins, sig):
        n_in = phi.shape[-1]
        k = sw * phi @ phi.transpose(1, 2) / n_in + sb
        vals, vecs = torch.linalg.eigh(k)
        root = vecs * vals.clamp_min(0).sqrt().unsqueeze(1)  # K = root rootᵀ
        z = torch.randn(replicas, phi.shape[1], m.out_features, generator=generator, dtype=torch.float64)
        h = root @ z
        phi = act.fn(h)
        std = phi.reshape(replicas, -1).std(dim=1, correction=0)
        if not bool(torch.isfinite(std).all()):
            lo.append(None)
            hi.append(None)
            phi = torch.nan_to_num(phi)
            continue
        q = torch.quantile(std, torch.tensor(quantiles, dtype=torch.float64))
        lo.append(float(q[0]))
        hi.append(float(q[1]))
    return {"lo": lo, "hi": hi}


def grid_size(model: nn.Module, budget: float = 2e8) -> int:
    """Decision-boundary grid side: ≤ 40, ≥ 12, within ``budget`` multiply-adds (the page smooths it)."""
    macs = sum(m.in_features * m.out_features for m in _linears(model))
    return int(min(40, max(12, math.sqrt(budget / max(macs, 1)))))


@torch.no_grad()
def boundary(model: nn.Module, features: Callable[[np.ndarray], Tensor], regression: bool, size: int,
             extent: float = 6.0) -> list[int]:
    """The model's output on a ``size`` × ``size`` grid over [−extent, extent]² (row 0 at the top),
    as ints in [−100, 100]: 100·(2σ(z) − 1) for a logit, 100·clip(z, −1, 1) for regression."""
    ticks = np.linspace(-extent, extent, size)
    gx, gy = np.meshgrid(ticks, ticks[::-1])
    pts = np.stack([gx.ravel(), gy.ravel()], 1)
    was = model.training
    model.eval()
    try:
        z = model(features(pts)).reshape(-1).double()
    finally:
        model.train(was)
    v = z.clamp(-1, 1) if regression else 2 * torch.sigmoid(z) - 1
    v = torch.nan_to_num(v, nan=0.0)
    return [int(round(100 * float(t))) for t in v]


def findings(model: nn.Module, x: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor]
             ) -> list[dict[str, Any]]:
    """``il.inspect(...).findings()`` as dicts (severity, kind, layers, message, fix)."""
    ins = probes.inspect(model, x, y, loss_fn)
    return [{"severity": f.severity, "kind": f.kind, "layers": list(f.layers), "message": f.message, "fix": f.fix}
            for f in ins.findings()]


def _num(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def quick_theory(activation: str, sw2: float, sb2: float, q0: float) -> dict[str, Any]:
    """q* and χ₁ at (σ_w², σ_b²) (fast: one root and one Gaussian integral)."""
    out: dict[str, Any] = {"sw2": sw2, "sb2": sb2, "q0": q0, "q_star": None, "chi1": None, "message": ""}
    try:
        fp = theory.fixed_point(activation, sw2, sb2, q0)
        out["q_star"] = _num(fp.q_star)
        out["message"] = fp.message
        if fp.converged:
            out["chi1"] = _num(theory.chi1(activation, sw2, sb2, q_star=fp.q_star))
    except (ValueError, ArithmeticError) as e:
        out["message"] = str(e)
    return out


def slow_theory(activation: str, sw2: float, sb2: float, q0: float) -> dict[str, Any]:
    """``theory.mean_field`` (χ₁, ξ_c, phase; the correlation map is the slow part, seconds for tanh) and
    the critical line (cached per activation). Pure Python quadrature: the session runs it in a
    separate process so it does not hold the training thread's GIL."""
    out: dict[str, Any] = {"sw2": sw2, "sb2": sb2}
    try:
        mf = theory.mean_field(activation, sw2, sb2, q0)
        out.update(chi1=_num(mf.chi1), xi_c=_num(mf.xi_c), q_star=_num(mf.q_star), phase=mf.phase,
                   depth=_num(mf.trainable_depth), message=mf.message)
    except (ValueError, ArithmeticError) as e:
        out.update(chi1=None, xi_c=None, phase=None, depth=None, message=str(e))
    out["line"] = critical_line(activation)
    return out


SB2_GRID = (0.0, 0.01, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0)


@functools.lru_cache(maxsize=64)
def critical_line(activation: str) -> dict[str, Any]:
    """σ_w² on the critical line χ₁ = 1 at σ_b² in ``SB2_GRID`` (None where there is none)."""
    sw = []
    for b in SB2_GRID:
        try:
            sw.append(_num(theory.critical_sigma_w2(activation, b)))
        except (ValueError, ArithmeticError):
            sw.append(None)
    return {"sb2": list(SB2_GRID), "sw2": sw}
