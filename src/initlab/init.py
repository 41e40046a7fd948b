r"""Tensor-level initializers in ``torch.nn.init`` conventions.

Every function works in place on a weight tensor, ends in ``_``, returns the tensor and takes
``generator=`` for its random draws. Where :mod:`torch.nn.init` has the formula we delegate to it;
fans follow PyTorch (:func:`fans`): a ``(out, in)`` Linear weight has fan_in = in, fan_out = out; a
``(C_out, C_in/groups, *kernel)`` conv weight has fan_in = C_in/groups · ∏kernel and
fan_out = C_out · ∏kernel (for a transposed conv, whose weight is ``(C_in, C_out/groups, *kernel)``,
PyTorch reads dim 1 as "in", and so do we).

The schemes of seed 003 side by side, for a weight with fan_in = n, fan_out = m:

=====================  ===========================================  ==========================
function               distribution                                 source
=====================  ===========================================  ==========================
``zeros_``             0                                            (the symmetry problem)
``normal_``            N(0, std²), std = 0.01 ("randn × 0.01")      —
``uniform_fan_in_``    U(±1/√n)                                     LeCun 1998; seed 004
``xavier_uniform_``    U(±g·√(6/(n+m)))                             Glorot & Bengio 2010
``xavier_normal_``     N(0, g²·2/(n+m))                             Glorot & Bengio 2010
``he_uniform_``        U(±√(6/((1+a²)·n)))                          He et al. 2015
``he_normal_``         N(0, 2/((1+a²)·n))                           He et al. 2015
``lecun_normal_``      N(0, 1/n)                                    LeCun 1998; Klambauer 2017
``orthogonal_``        g · (semi-)orthogonal                        Saxe et al. 2014
``delta_orthogonal_``  centre tap g · orthogonal, other taps 0      Xiao et al. 2018
=====================  ===========================================  ==========================

>>> import torch
>>> w = he_normal_(torch.empty(256, 512), generator=torch.Generator().manual_seed(0))
>>> round(w.std().item() * 512 ** 0.5, 1)   # ≈ √2
1.4
"""
from __future__ import annotations

import math
from typing import Callable, Literal

import torch
from torch import Tensor

__all__ = [
    "fans", "zeros_", "constant_", "normal_", "uniform_fan_in_", "xavier_uniform_", "xavier_normal_",
    "he_uniform_", "he_normal_", "lecun_normal_", "orthogonal_", "delta_orthogonal_",
]

FanMode = Literal["fan_in", "fan_out"]
MODES = ("fan_in", "fan_out")
# the nonlinearities torch.nn.init.calculate_gain knows (kaiming_* accept these)
NONLINEARITIES = ("leaky_relu", "relu", "linear", "tanh", "sigmoid", "selu", "conv1d", "conv2d",
                   "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


# ---------------------------------------------------------------------------------------------------
# helpers
def fans(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight tensor, computed as PyTorch does.

    Raises ``ValueError`` for a tensor with fewer than 2 dimensions (a bias has no fans).

    >>> fans(torch.empty(64, 3, 7, 7))
    (147, 3136)
    """
    if tensor.dim() < 2:
        raise ValueError(f"tensor must have at least 2 dimensions (out, in, *kernel) to have fans, "
                         f"got shape {tuple(tensor.shape)}")
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(tensor)
    return int(fan_in), int(fan_out)


def fan(tensor: Tensor, mode: str) -> int:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    fan_in, fan_out = fans(tensor)
    if (fan_in if mode == "fan_in" else fan_out) == 0:
        raise ValueError(f"tensor of shape {tuple(tensor.shape)} has {mode} = 0; cannot initialize it")
    return fan_in if mode == "fan_in" else fan_out


def check_slope(a: float) -> float:
    if not (isinstance(a, (int, float)) and 0 <= a < 1):
        raise ValueError(f"a (the leaky-ReLU negative slope) must be in [0, 1), got {a!r}")
    return float(a)


def check_nonlinearity(nonlinearity: str) -> str:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    return nonlinearity


def check_gain(gain: float) -> float:
    if not (isinstance(gain, (int, float)) and math.isfinite(gain) and gain >= 0):
        raise ValueError(f"gain must be a finite number >= 0, got {gain!r}")
    return float(gain)


def with_generator(tensor: Tensor, generator: torch.Generator | None,
                    fill: Callable[[Tensor, torch.Generator | None], Tensor]) -> Tensor:
    """Run ``fill(t, generator)``; when the generator lives on another device than ``tensor`` (a CPU
    generator for a CUDA weight), draw on the generator's device and copy, so seeds stay portable."""
    if generator is None or generator.device.type == tensor.device.type:
        return fill(tensor, generator)
    tmp = torch.empty(tensor.shape, dtype=tensor.dtype, device=generator.device)
    fill(tmp, generator)
    with torch.no_grad():
        tensor.copy_(tmp)
    return tensor


# ---------------------------------------------------------------------------------------------------
# deterministic
def zeros_(tensor: Tensor) -> Tensor:
    r"""Fill with :math:`0`. All units of a layer then compute the same function and get the same
    gradient, so they stay identical during training (the symmetry problem, seeds 000/003/004).

    >>> zeros_(torch.empty(2, 3)).abs().sum().item()
    0.0
    """
    return torch.nn.init.zeros_(tensor)


def constant_(tensor: Tensor, val: float) -> Tensor:
    r"""Fill with :math:`w = \text{val}`; like :func:`zeros_`, units stay identical (symmetry).

    >>> constant_(torch.empty(2), 0.5).tolist()
    [0.5, 0.5]
    """
    if not (isinstance(val, (int, float)) and math.isfinite(val)):
        raise ValueError(f"val must be a finite number, got {val!r}")
    return torch.nn.init.constant_(tensor, float(val))


# ---------------------------------------------------------------------------------------------------
# random, scale fixed or from fan_in
def normal_(tensor: Tensor, std: float = 0.01, *, generator: torch.Generator | None = None) -> Tensor:
    r"""Fill with :math:`w \sim \mathcal N(0, \text{std}^2)`, independent of the fans.

    ``std=0.01`` is the "small random numbers" (``randn × 0.01``) of seed 003: activations shrink
    layer by layer; ``std=10`` saturates tanh.

    Args:
        tensor: any shape.
        std: standard deviation, ``>= 0``.
        generator: source of randomness.

    >>> w = normal_(torch.empty(1000, 1000), 0.01, generator=torch.Generator().manual_seed(0))
    >>> round(w.std().item(), 3)
    0.01
    """
    if not (isinstance(std, (int, float)) and math.isfinite(std) and std >= 0):
        raise ValueError(f"std must be a finite number >= 0, got {std!r}")
    return with_generator(tensor, generator,
                           lambda t, g: torch.nn.init.normal_(t, 0.0, float(std), generator=g))


def uniform_fan_in_(tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    r"""Fill with :math:`w \sim U\left(-\tfrac{1}{\sqrt{n}}, \tfrac{1}{\sqrt{n}}\right)`, n = fan_in.

    The "commonly used heuristic" of Glorot & Bengio (2010, eq. 1), LeCun et al. (1998); seed 004.
    Var(w) = 1/(3n): signals shrink by √3 per linear layer.

    Args:
        tensor: a weight with at least 2 dimensions.
        generator: source of randomness.

    >>> w = uniform_fan_in_(torch.empty(10, 100), generator=torch.Generator().manual_seed(0))
    >>> bool(w.abs().max() <= 0.1)
    True
    """
    bound = 1.0 / math.sqrt(fan(tensor, "fan_in"))
    return with_generator(tensor, generator,
                           lambda t, g: torch.nn.init.uniform_(t, -bound, bound, generator=g))


def lecun_normal_(tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    r"""Fill with :math:`w \sim \mathcal N(0, 1/n)`, n = fan_in (not truncated).

    LeCun et al., "Efficient BackProp" (1998); the init SELU networks need (Klambauer et al. 2017).

    Args:
        tensor: a weight with at least 2 dimensions.
        generator: source of randomness.

    >>> w = lecun_normal_(torch.empty(500, 400), generator=torch.Generator().manual_seed(0))
    >>> round(w.std().item() * 20, 2)
    1.0
    """
    std = 1.0 / math.sqrt(fan(tensor, "fan_in"))
    return with_generator(tensor, generator,
                           lambda t, g: torch.nn.init.normal_(t, 0.0, std, generator=g))


# ---------------------------------------------------------------------------------------------------
# Glorot / He (delegated to torch.nn.init)
def xavier_uniform_(tensor: Tensor, gain: float = 1.0, *, generator: torch.Generator | None = None) -> Tensor:
    r"""Fill with :math:`w \sim U(-b, b)`, :math:`b = g\sqrt{6/(n_{in} + n_{out})}`.

    Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks"
    (AISTATS 2010), eq. 16 ("normalized initialization"); seeds 001/003.

    Args:
        tensor: a weight with at least 2 dimensions.
        gain: g (``torch.nn.init.calculate_gain``; 5/3 for tanh).
        generator: source of randomness.

    >>> w = xavier_uniform_(torch.empty(200, 800), generator=torch.Generator().manual_seed(0))
    >>> bool(w.abs().max() <= (6 / 1000) ** 0.5)
    True
    """
    fans(tensor)
    gain = check_gain(gain)
    return with_generator(tensor, generator,
                           lambda t, g: torch.nn.init.xavier_uniform_(t, gain, generator=g))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, *, generator: torch.Generator | None = None) -> Tensor:
    r"""Fill with :math:`w \sim \mathcal N(0, \sigma^2)`, :math:`\sigma = g\sqrt{2/(n_{in} + n_{out})}`.

    Glorot & Bengio (2010); the normal variant with the same variance as :func:`xavier_uniform_`.

    Args:
        tensor: a weight with at least 2 dimensions.
        gain: g.
        generator: source of randomness.

    >>> w = xavier_normal_(torch.empty(200, 800), generator=torch.Generator().manual_seed(0))
    >>> round(w.std().item(), 3)   # √(2/1000)
    0.045
    """
    fans(tensor)
    gain = check_gain(gain)
    return with_generator(tensor, generator,
                           lambda t, g: torch.nn.init.xavier_normal_(t, gain, generator=g))


def he_uniform_(tensor: Tensor, a: float = 0.0, mode: FanMode = "fan_in",
                nonlinearity: str = "leaky_relu", *, generator: torch.Generator | None = None) -> Tensor:
    r"""Fill with :math:`w \sim U(-b, b)`, :math:`b = \sqrt{\dfrac{6}{(1 + a^2)\, n}}`, n = fan_in or fan_out.

    He et al., "Delving Deep into Rectifiers" (ICCV 2015); ``torch.nn.init.kaiming_uniform_``.
    Var(w) = 2/((1+a²)n), so a (leaky) ReLU layer keeps the second moment of its input.

    Note: seed 003 writes the bound as √6/√(n + a² + 1); that is a typo. The bound is
    √(6/((1 + a²)·n)) (for a = 0: √(6/n)), as implemented here and in PyTorch.

    Args:
        tensor: a weight with at least 2 dimensions.
        a: negative slope of the leaky ReLU that follows, in [0, 1) (0 = ReLU).
        mode: ``"fan_in"`` keeps forward variances, ``"fan_out"`` backward ones.
        nonlinearity: a ``torch.nn.init.calculate_gain`` name; with ``"leaky_relu"`` (default) the
            gain is √(2/(1+a²)).
        generator: source of randomness.

    >>> w = he_uniform_(torch.empty(100, 800), generator=torch.Generator().manual_seed(0))
    >>> bool(w.abs().max() <= (6 / 800) ** 0.5)   # bound 0.0866
    True
    """
    a, nonlinearity = check_slope(a), check_nonlinearity(nonlinearity)
    fan(tensor, mode)
    return with_generator(tensor, generator, lambda t, g: torch.nn.init.kaiming_uniform_(
        t, a=a, mode=mode, nonlinearity=nonlinearity, generator=g))  # type: ignore[arg-type]


def he_normal_(tensor: Tensor, a: float = 0.0, mode: FanMode = "fan_in",
               nonlinearity: str = "leaky_relu", *, generator: torch.Generator | None = None) -> Tensor:
    r"""Fill with :math:`w \sim \mathcal N(0, \sigma^2)`, :math:`\sigma = \sqrt{\dfrac{2}{(1 + a^2)\, n}}`.

    He et al., "Delving Deep into Rectifiers" (ICCV 2015), eq. 10; ``torch.nn.init.kaiming_normal_``.

    Args:
        tensor: a weight with at least 2 dimensions.
        a: negative slope of the leaky ReLU that follows, in [0, 1) (0 = ReLU).
        mode: ``"fan_in"`` (forward) or ``"fan_out"`` (backward).
        nonlinearity: a ``torch.nn.init.calculate_gain`` name (default ``"leaky_relu"`` with ``a``).
        generator: source of randomness.

    >>> w = he_normal_(torch.empty(64, 3, 7, 7), mode="fan_out", generator=torch.Generator().manual_seed(0))
    >>> round(w.std().item(), 3)   # √(2/3136) = 0.02525
    0.025
    """
    a, nonlinearity = check_slope(a), check_nonlinearity(nonlinearity)
    fan(tensor, mode)
    return with_generator(tensor, generator, lambda t, g: torch.nn.init.kaiming_normal_(
        t, a=a, mode=mode, nonlinearity=nonlinearity, generator=g))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# orthogonal
def orthogonal_(tensor: Tensor, gain: float = 1.0, *, generator: torch.Generator | None = None) -> Tensor:
    r"""Fill with a (semi-)orthogonal matrix times g: :math:`WW^\top = g^2 I` (wide) or
    :math:`W^\top W = g^2 I` (tall); trailing dims are flattened.

    Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear dynamics of learning in deep linear
    neural networks" (ICLR 2014); ``torch.nn.init.orthogonal_`` (QR of a Gaussian matrix).

    Args:
        tensor: a weight with at least 2 dimensions.
        gain: g.
        generator: source of randomness.

    >>> w = orthogonal_(torch.empty(3, 5), generator=torch.Generator().manual_seed(0))
    >>> torch.allclose(w @ w.T, torch.eye(3), atol=1e-5)
    True
    """
    fans(tensor)
    gain = check_gain(gain)
    return with_generator(tensor, generator,
                           lambda t, g: torch.nn.init.orthogonal_(t, gain, generator=g))


def delta_orthogonal_(tensor: Tensor, gain: float = 1.0, *,
                      generator: torch.Generator | None = None) -> Tensor:
    r"""Conv kernel that is zero except its centre tap, a (semi-)orthogonal matrix times g:

    .. math:: W[:, :, k_1/2, \dots] = g\,H,\quad HH^\top = I \text{ or } H^\top H = I,\qquad
              W[\dots, \text{other taps}] = 0.

    Xiao et al., "Dynamical Isometry and a Mean Field Theory of CNNs" (ICML 2018), Algorithm 1: the
    conv then acts as an orthogonal map on the channels at every position. The centre index is
    ``k // 2`` in each spatial dim. A 2-D tensor (a Linear weight, no taps) gets :func:`orthogonal_`.

    Args:
        tensor: a weight ``(out, in, *kernel)`` with at least 2 dimensions.
        gain: g.
        generator: source of randomness.

    >>> w = delta_orthogonal_(torch.empty(8, 4, 3, 3), generator=torch.Generator().manual_seed(0))
    >>> centre = w[:, :, 1, 1]
    >>> torch.allclose(centre.T @ centre, torch.eye(4), atol=1e-5), w.abs().sum().item() == centre.abs().sum().item()
    (True, True)
    """
    fans(tensor)
    gain = check_gain(gain)
    if tensor.dim() == 2:
        return orthogonal_(tensor, gain, generator=generator)
    centre_index = tuple(k // 2 for k in tensor.shape[2:])
    centre = torch.empty(tensor.shape[0], tensor.shape[1], dtype=tensor.dtype, device=tensor.device)
    orthogonal_(centre, gain, generator=generator)
    with torch.no_grad():
        tensor.zero_()
        tensor[(slice(None), slice(None), *centre_index)] = centre
    return tensor
