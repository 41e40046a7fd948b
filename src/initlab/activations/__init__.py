r"""Activation functions with their exact math: derivative, properties, Gaussian moments and gains.

One :class:`Activation` per registered name (``names()``), built by one general implementation per
family: leaky ReLU, PReLU, RReLU and noisy ReLU are all the parameterized ReLU
:math:`\phi(x) = \max(x, 0) + a\min(x, 0)`; SELU is a scaled ELU.

Random activations (RReLU, noisy ReLU) use their *eval* form for the derivative, the moments and the
gains: RReLU's mean slope :math:`(l + u)/2`, noisy ReLU's plain ReLU.

Gains (used by initializers as :math:`W \sim \mathcal N(0, g^2/\text{fan\_in})`):

* ``gain("torch")``: :func:`torch.nn.init.calculate_gain`, where torch defines one;
* ``gain("forward")`` :math:`= 1/\sqrt{\mathbb E[\phi(z)^2]}`, which keeps the second moment of a layer's
  output equal to that of its input (√2 for ReLU = He; ≈1.593 for tanh; 1 for SELU);
* ``gain("backward")`` :math:`= 1/\sqrt{\mathbb E[\phi'(z)^2]}`, which keeps gradient norms.

>>> import initlab as il
>>> relu = il.activations.get("relu")
>>> round(relu.gain("forward") ** 2, 12)
2.0
>>> il.activations.get("sigmoid").max_slope
0.25
"""
from __future__ import annotations

from .core import SELU_ALPHA, SELU_SCALE, Activation, GainKind, Moments
from .modules import Lambda, NoisyReLU, SteppedSigmoid
from .registry import (RELU_FAMILY, format_table, from_callable, from_function, from_module, get, names,
                       table)

__all__ = [
    "Activation", "Moments", "get", "names", "from_callable", "from_module", "table",
    "SteppedSigmoid", "NoisyReLU", "Lambda", "RELU_FAMILY", "from_function", "format_table", "GainKind",
    "SELU_ALPHA", "SELU_SCALE",
]
