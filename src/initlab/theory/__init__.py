r"""Mean-field theory of signal propagation at initialization (Poole et al. 2016; Schoenholz et al. 2017).

* :mod:`~initlab.theory.maps` (with :mod:`~initlab.theory.qmap`, :mod:`~initlab.theory.cmap`): the variance map and its fixed point q*, χ₁, the correlation map and c*,
  the depth scales ξ_q, ξ_c, the critical line χ₁ = 1 (pure float64 numerics on the activations' moments);
* :mod:`~initlab.theory.predict`: per-layer predictions (std, gradient norm) for a concrete model;
* :mod:`~initlab.theory.chain`: the one-neuron-per-layer chain of seed 002 (∂C/∂b₁ as a product);
* :mod:`~initlab.theory.plot`: the (σ_w², σ_b²) phase diagram (matplotlib, imported lazily).

Torch's tanh gain 5/3 (σ_w² = 25/9) is not the critical one: χ₁ ≈ 1.21, slightly chaotic.

>>> import initlab as il
>>> mf = il.theory.mean_field("tanh", 25 / 9, 0.0)
>>> mf.phase, round(mf.chi1, 4)
('chaotic', 1.2098)
>>> il.theory.critical_sigma_w2("relu", 0.0)
2.0
"""
from __future__ import annotations

from typing import Any

from .chain import Chain, ChainGradients, chain_gradients, exploding_chain, vanishing_chain
from .maps import (CRITICAL_TOL, CriticalPoint, FixedPoint, GaussianMoments, MeanField, as_activation,
                   c_fixed_point, c_map, chi1, chi_c, correlation_expectation, critical_line, critical_point,
                   critical_sigma_w2, depth_scales, fixed_point, gaussian_moments, mean_field, phase,
                   phase_grid, q_map, q_map_slope, q_sequence)
from .predict import LayerPrediction, Prediction, predict

__all__ = [
    # maps
    "CRITICAL_TOL", "CriticalPoint", "FixedPoint", "GaussianMoments", "MeanField", "as_activation",
    "c_fixed_point", "c_map", "chi1", "chi_c", "correlation_expectation", "critical_line", "critical_point",
    "critical_sigma_w2", "depth_scales", "fixed_point", "gaussian_moments", "mean_field", "phase",
    "phase_grid", "q_map", "q_map_slope", "q_sequence",
    # predictions
    "LayerPrediction", "Prediction", "predict",
    # chain (seed 002)
    "Chain", "ChainGradients", "chain_gradients", "exploding_chain", "vanishing_chain",
    # plotting (matplotlib, imported lazily)
    "phase_diagram",
]


def __getattr__(name: str) -> Any:
    if name == "phase_diagram":  # matplotlib loads only when a figure is drawn
        from .plot import phase_diagram

        return phase_diagram
    raise AttributeError(f"module 'initlab.theory' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
