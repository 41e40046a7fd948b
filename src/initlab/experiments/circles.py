"""The deeplearning.ai "Initialization" network on ``circles``: LINEAR→RELU→LINEAR→RELU→LINEAR→SIGMOID,
sizes [2, 10, 5, 1], and its decision boundary sampled on a grid (drawn by the figures).

The constants are shared with the figures, which never load torch: torch is imported where a model is.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["CIRCLES_SIZES", "DLAI_SOURCE", "circles_model", "boundary_grid"]

CIRCLES_SIZES = [2, 10, 5, 1]
DLAI_SOURCE = ("deeplearning.ai, Improving Deep Neural Networks, week 1 'Initialization' exercise "
               "(seed 003 figures 1-2)")


def circles_model(init: str, generator: torch.Generator, **options: Any) -> nn.Sequential:
    """The exercise's [2, 10, 5, 1] ReLU network (biases zero); the sigmoid is in the loss."""
    from .. import models

    return models.mlp(CIRCLES_SIZES, "relu", init=init, bias_init="zeros", generator=generator, **options)


def boundary_grid(model: nn.Module, x: torch.Tensor, points: int = 200,
                  margin: float = 0.3) -> dict[str, np.ndarray]:
    """Where the model predicts class 1 (logit > 0) on a ``points × points`` grid covering ``x``
    (± ``margin``), in eval mode: ``{"x0": (P,), "x1": (P,), "class1": (P, P) bool}``."""
    import torch

    xn = x.numpy()
    lo, hi = xn.min(0) - margin, xn.max(0) + margin
    x0, x1 = np.linspace(lo[0], hi[0], points), np.linspace(lo[1], hi[1], points)
    g0, g1 = np.meshgrid(x0, x1)
    grid = torch.tensor(np.c_[g0.ravel(), g1.ravel()], dtype=torch.float32)
    was = model.training
    model.eval()
    with torch.no_grad():
        z = model(grid).reshape(g0.shape).numpy()
    model.train(was)
    return {"x0": x0, "x1": x1, "class1": z > 0}
