r"""``chain-product``: the one-neuron-per-layer network of seed 002 (Nielsen, ch. 5).

:math:`z_j = w_j a_{j-1} + b_j`, :math:`a_j = \sigma(z_j)`, cost :math:`C = \tfrac12 (a_L - y)^2`
(y = 0), so :math:`\partial C/\partial b_l = \sigma'(z_l)\, w_{l+1}\sigma'(z_{l+1}) \cdots
w_L\sigma'(z_L)\,(a_L - y)`. Computed twice: by autograd in float64 and by the closed-form product of
:mod:`initlab.theory.chain`.

* vanishing: w, b ~ N(0, 1), ``chains`` independent draws; the factors :math:`|w\sigma'(z)|` are
  mostly below 1/4, so the gradient shrinks toward the input;
* exploding: w = 100, :math:`b_j = -100\,a_{j-1}` so every z = 0 and each factor is
  100·σ'(0) = 25.

Summary keys: ``exploding_growth_per_layer`` (|∂C/∂b_l| / |∂C/∂b_{l+1}|, geometric mean; 25),
``exploding_log10_ratio_first_last`` (log₁₀ |∂C/∂b₁|/|∂C/∂b_L| = (L−1) log₁₀ 25),
``vanishing_median_factor`` (median |w σ'(z)| over chains and layers),
``vanishing_fraction_factor_below_quarter``, ``vanishing_median_log10_ratio_first_last``
(median over chains of log₁₀ |∂C/∂b₁|/|∂C/∂b_L|), ``autograd_max_relative_error``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .context import RunContext
from .figures.chain_product import SHOWN_CHAINS
from .registry import register

SOURCE = "seed 002 (after Nielsen, Neural Networks and Deep Learning, ch. 5): w = 100, z = 0 → ×25 per layer"


@dataclass
class Config:
    depth: int = 10
    chains: int = 1000  # random (vanishing) chains
    w_explode: float = 100.0


def _autograd(w: np.ndarray, b: np.ndarray, a0: float) -> np.ndarray:
    """∂C/∂b_l by autograd, float64, C = ½ a_L²."""
    wt = torch.tensor(w, dtype=torch.float64)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    a = torch.tensor(a0, dtype=torch.float64)
    for j in range(len(w)):
        a = torch.sigmoid(wt[j] * a + bt[j])
    (0.5 * a ** 2).backward()
    return bt.grad.numpy().copy()


@register("chain-product", description="One neuron per layer: ∂C/∂b₁ is a product of factors w·σ'(z); "
          "with w ~ N(0,1) they are < 1/4 (vanishing), with w = 100 and z = 0 each is 25 (exploding)",
          reference="seed 002 / Nielsen, Neural Networks and Deep Learning, ch. 5 (the one-neuron chain)",
          config=Config, quick={"chains": 200},
          summary_keys={
              "exploding_growth_per_layer": "|∂C/∂b_l| / |∂C/∂b_{l+1}| in the w = 100, z = 0 chain "
                                            "(geometric mean over layers): w·σ'(0) = 25",
              "exploding_log10_ratio_first_last": "log₁₀ |∂C/∂b₁| / |∂C/∂b_L| in the exploding chain: "
                                                  "(L − 1)·log₁₀ 25",
              "vanishing_median_factor": "median |w_j σ'(z_j)| over random chains (w, b ~ N(0, 1)) and layers",
              "vanishing_fraction_factor_below_quarter": "fraction of factors |w σ'(z)| below 1/4 (w, b ~ N(0, 1))",
              "vanishing_median_log10_ratio_first_last": "median over random chains of log₁₀ |∂C/∂b₁| / |∂C/∂b_L|",
              "autograd_max_relative_error": "max relative difference, autograd (float64) vs the closed-form "
                                             "product, over every chain and layer",
          })
def measure(cfg: Config, ctx: RunContext) -> None:
    if cfg.depth < 2:
        raise ValueError(f"depth must be at least 2, got {cfg.depth!r}")
    ex_closed, worst_ex = _exploding(cfg, ctx)
    factors, van_closed, worst_van = _vanishing(cfg, ctx)
    L = cfg.depth
    growth = 10 ** (float(ex_closed[0] - ex_closed[-1]) / (L - 1))
    ratio = np.median(van_closed[:, 0] - van_closed[:, -1])
    worst = max(worst_ex, worst_van)
    ctx.summary("exploding_growth_per_layer", growth, reference=cfg.w_explode / 4, tolerance=1e-6, source=SOURCE)
    ctx.summary("exploding_log10_ratio_first_last", float(ex_closed[0] - ex_closed[-1]),
                reference=(L - 1) * math.log10(cfg.w_explode / 4), tolerance=1e-6, source=SOURCE)
    ctx.summary("vanishing_median_factor", float(np.median(factors)))
    ctx.summary("vanishing_fraction_factor_below_quarter", float(np.mean(factors < 0.25)))
    ctx.summary("vanishing_median_log10_ratio_first_last", float(ratio))
    ctx.summary("autograd_max_relative_error", worst)
    ctx.log(f"exploding ×{growth:.6g} per layer; vanishing median factor {np.median(factors):.3g}, "
            f"median log10 |dC/db1|/|dC/db_L| = {ratio:.2f}; autograd vs closed form {worst:.1e}")


def _compare(c) -> tuple[np.ndarray, np.ndarray, float]:
    """(log₁₀ |∂C/∂b_l| closed form, the same by autograd, max relative difference) of one chain."""
    g_closed = c.gradients(dC_daL=1.0)
    closed = c.gradients(dC_daL=float(g_closed.a[-1]))  # C = ½ a_L², y = 0
    auto = _autograd(np.asarray(c.weights), np.asarray(c.biases), c.a0)
    with np.errstate(divide="ignore"):
        log_auto = np.log(np.abs(auto))
    ok = np.isfinite(closed.log_abs_grad)
    worst = float(np.max(np.abs(np.expm1(log_auto[ok] - closed.log_abs_grad[ok])))) if ok.any() else 0.0
    return closed.log10_abs_grad, log_auto / math.log(10), worst


def _exploding(cfg: Config, ctx: RunContext) -> tuple[np.ndarray, float]:
    """The chain w = 100, b = −100·a_{j−1} (every z = 0)."""
    from ..theory import chain as th

    ex = th.exploding_chain(cfg.depth, w=cfg.w_explode, generator=ctx.seed_for("explode"))
    closed, auto, worst = _compare(ex)
    for l, v, va in zip(range(1, cfg.depth + 1), closed, auto):
        ctx.metric(l, "exploding", "closed_form", "log10_abs_grad_b", v)
        ctx.metric(l, "exploding", "autograd", "log10_abs_grad_b", va)
    return closed, worst


def _vanishing(cfg: Config, ctx: RunContext) -> tuple[np.ndarray, np.ndarray, float]:
    """``chains`` random chains w, b ~ N(0, 1): (factors |w σ'(z)|, log₁₀ gradients (chains, L), worst error)."""
    from ..theory import chain as th

    rng = np.random.default_rng(ctx.seed_for("vanish"))
    closed, auto, factors, worst = [], [], [], 0.0
    for _ in range(cfg.chains):
        c = th.vanishing_chain(cfg.depth, generator=rng)
        cl, au, w = _compare(c)
        closed.append(cl)
        auto.append(au)
        worst = max(worst, w)
        factors.append(np.exp(c.gradients().log_abs_factor[1:]))  # |w_j σ'(z_j)|, j = 2..L
    closed, auto = np.array(closed), np.array(auto)
    for l, v in enumerate(np.median(closed, axis=0), 1):
        ctx.metric(l, "vanishing", "closed_form", "median_log10_abs_grad_b", v)
    ctx.arrays("vanishing", {"closed_form": closed[:SHOWN_CHAINS], "autograd": auto[:SHOWN_CHAINS]})
    return np.array(factors), closed, worst
