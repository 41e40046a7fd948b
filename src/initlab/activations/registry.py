r"""The named activations: one general implementation per family (:func:`get`, :func:`names`), and
recognising activations in models (:func:`from_module`, :func:`from_function`, :func:`from_callable`),
the properties table (:func:`table`).

>>> from initlab.activations import get
>>> get("leaky_relu", slope=0.2).spec
'leaky_relu(slope=0.2)'
"""
from __future__ import annotations

import ast
import math
import warnings
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import validate
from .core import SELU_ALPHA, SELU_SCALE, Activation
from .modules import Lambda, NoisyReLU, SteppedSigmoid, stepped_sigmoid

__all__ = ["get", "names", "from_callable", "from_module", "from_function", "table", "format_table", "RELU_FAMILY"]


# ---------------------------------------------------------------------------------------------------
# Families: one general implementation each
def _check(name: str, value: float, ok: bool, valid: str) -> float:
    return float(validate.check(name, value, ok, valid))


# the activations built by _param_relu: max(x, 0) + a·min(x, 0); a unit is "dead" when its input is
# ≤ 0 on every example (seed 004), and He's formula with a = the slope is their init
RELU_FAMILY = frozenset({"relu", "leaky_relu", "prelu", "rrelu", "noisy_relu"})


def _param_relu(name: str, slope: float, module: Callable[[], nn.Module], *, random: bool = False,
                params: dict | None = None, torch_gain=None, description: str = "") -> Activation:
    r"""The parameterized ReLU :math:`\max(x,0) + a\min(x,0)`, a ∈ [0, 1): relu (a=0), leaky, PReLU, RReLU."""
    a = slope

    def fn(x: Tensor) -> Tensor:
        return torch.where(x > 0, x, a * x)

    def deriv(x: Tensor) -> Tensor:
        return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, a))

    return Activation(name, fn, deriv, module, params or {}, (0.0,), torch_gain, random, description)


def _elu(name: str, alpha: float, scale: float, module: Callable[[], nn.Module], torch_gain=None,
         params: dict | None = None, description: str = "") -> Activation:
    r"""Scaled ELU :math:`s\,(x \text{ if } x>0 \text{ else } \alpha(e^x - 1))`: elu (s=1) and selu."""

    def fn(x: Tensor) -> Tensor:
        return scale * torch.where(x > 0, x, alpha * torch.expm1(torch.clamp(x, max=0)))

    def deriv(x: Tensor) -> Tensor:
        return scale * torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(torch.clamp(x, max=0)))

    return Activation(name, fn, deriv, module, params or {}, (0.0,), torch_gain, False, description)


def _sigmoid_d(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s)


def _gelu_d(x: Tensor) -> Tensor:
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return cdf + x * pdf


_GELU_C = math.sqrt(2 / math.pi)


def _gelu_tanh_d(x: Tensor) -> Tensor:
    # φ = x/2·(1 + tanh u), u = √(2/π)(x + 0.044715 x³): φ' = (1 + tanh u)/2 + x/2·sech²u·du/dx
    t = torch.tanh(_GELU_C * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x)


def _hardtanh(name: str, lo: float, hi: float, module: Callable[[], nn.Module], params: dict,
              description: str) -> Activation:
    """clamp(x, lo, hi); φ' = 1 strictly inside (lo, hi), 0 elsewhere (torch's hardtanh_backward)."""

    def deriv(x: Tensor) -> Tensor:
        return ((x > lo) & (x < hi)).to(x.dtype)

    return Activation(name, lambda x: torch.clamp(x, lo, hi), deriv, module, params, (lo, hi),
                      description=description)


def _prelu(slope: float | tuple[float, ...]) -> Activation:
    """PReLU with one slope, or a mixture of units with per-channel slopes (exact: see Activation.units)."""
    if isinstance(slope, float):
        return _param_relu("prelu", slope, lambda: nn.PReLU(init=slope), params={"slope": slope},
                           description="leaky ReLU with a learnable slope (initial slope shown)")
    slopes = slope

    def module() -> nn.Module:
        m = nn.PReLU(num_parameters=len(slopes))
        with torch.no_grad():
            m.weight.copy_(torch.tensor(slopes))
        return m

    values, counts = np.unique(np.array(slopes), return_counts=True)
    units = tuple((float(c) / len(slopes), _prelu(float(v))) for v, c in zip(values, counts))
    mean = float(np.mean(slopes))
    base = _param_relu("prelu", mean, module, params={"slope": slopes})
    return Activation(base.name, base.fn, base.deriv, module, base.params, base.kinks,
                      description=f"PReLU with {len(slopes)} per-channel slopes (mean {mean:.4g}); moments "
                                  f"average over the channels", units=units)


def _silu_d(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


def _softplus(beta: float) -> tuple[Callable, Callable]:
    # exact log(1 + e^{βx})/β (torch's module switches to x above βx > 20; the difference is < 2e-9)
    return (lambda x: torch.logaddexp(beta * x, torch.zeros_like(x)) / beta,
            lambda x: torch.sigmoid(beta * x))


def _builtin(name: str, **params: Any) -> Activation:
    if name == "sigmoid":
        return Activation(name, torch.sigmoid, _sigmoid_d, nn.Sigmoid, {}, (), ("sigmoid", None),
                          description="logistic 1/(1+e^-x)")
    if name == "tanh":
        return Activation(name, torch.tanh, lambda x: 1 - torch.tanh(x) ** 2, nn.Tanh, {}, (),
                          ("tanh", None), description="hyperbolic tangent")
    if name == "identity":
        return Activation(name, lambda x: x, torch.ones_like, nn.Identity, {}, (), ("linear", None),
                          description="no nonlinearity")
    if name == "relu":
        return _param_relu(name, 0.0, nn.ReLU, torch_gain=("relu", None), description="max(0, x)")
    if name == "leaky_relu":
        s = _check("slope", params.get("slope", 0.01), 0 <= params.get("slope", 0.01) < 1, "in [0, 1)")
        return _param_relu(name, s, lambda: nn.LeakyReLU(s), params={"slope": s},
                           torch_gain=("leaky_relu", s), description="max(0,x) + slope·min(0,x)")
    if name == "prelu":  # learned slopes are unconstrained: any finite value, or one per channel
        return _prelu(params.get("slope", 0.25))
    if name == "relu6":
        return _hardtanh(name, 0.0, 6.0, nn.ReLU6, {}, "min(max(0, x), 6)")
    if name == "hardtanh":
        lo, hi = float(params.get("min_val", -1.0)), float(params.get("max_val", 1.0))
        _check("max_val", hi, hi > lo, f"> min_val={lo}")
        return _hardtanh(name, lo, hi, lambda: nn.Hardtanh(lo, hi), {"min_val": lo, "max_val": hi},
                         "clamp(x, min_val, max_val)")
    if name == "rrelu":
        lo, up = params.get("lower", 1 / 8), params.get("upper", 1 / 3)
        _check("lower", lo, 0 <= lo < 1, "in [0, 1)")
        _check("upper", up, lo <= up < 1, f"in [lower={lo}, 1)")
        return _param_relu(name, (lo + up) / 2, lambda: nn.RReLU(lo, up), random=True,
                           params={"lower": float(lo), "upper": float(up)},
                           description="random slope U(lower, upper) in training, mean slope in eval")
    if name == "noisy_relu":
        sigma = _check("sigma", params.get("sigma", 1.0), params.get("sigma", 1.0) >= 0, ">= 0")
        return _param_relu(name, 0.0, lambda: NoisyReLU(sigma), random=True, params={"sigma": sigma},
                           description="max(0, x + N(0, sigma²)) in training, ReLU in eval")
    if name == "elu":
        alpha = _check("alpha", params.get("alpha", 1.0), params.get("alpha", 1.0) > 0, "> 0")
        return _elu(name, alpha, 1.0, lambda: nn.ELU(alpha), params={"alpha": alpha},
                    description="x if x>0 else alpha·(e^x − 1)")
    if name == "selu":
        return _elu(name, SELU_ALPHA, SELU_SCALE, nn.SELU, torch_gain=("selu", None),
                    description="self-normalizing scaled ELU")
    if name == "softplus":
        beta = _check("beta", params.get("beta", 1.0), params.get("beta", 1.0) > 0, "> 0")
        fn, d = _softplus(beta)
        return Activation(name, fn, d, lambda: nn.Softplus(beta), {"beta": beta},
                          description="log(1 + e^(beta·x))/beta")
    if name == "gelu" and params.get("approximate", "none") == "tanh":
        return Activation(name, lambda x: F.gelu(x, approximate="tanh"), _gelu_tanh_d,
                          lambda: nn.GELU(approximate="tanh"), {"approximate": "tanh"},
                          description="x/2·(1 + tanh(√(2/π)(x + 0.044715x³))), tanh form")
    if name == "gelu":
        return Activation(name, lambda x: F.gelu(x, approximate="none"), _gelu_d, nn.GELU,
                          description="x·Φ(x), erf form")
    if name == "silu":
        return Activation(name, F.silu, _silu_d, nn.SiLU, description="x·σ(x) (swish)")
    if name == "softsign":
        return Activation(name, F.softsign, lambda x: 1 / (1 + x.abs()) ** 2, nn.Softsign, {}, (0.0,),
                          description="x/(1 + |x|)")
    if name == "stepped_sigmoid":
        return Activation(name, stepped_sigmoid, lambda x: stepped_sigmoid(x, derivative=True), SteppedSigmoid,
                          description="Σ_{i≥1} σ(x − i + 0.5), error < 1.4e-16")
    raise ValueError(f"activation must be one of {names()}, got {name!r}")


_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu", "softplus", "elu", "selu",
          "gelu", "silu", "softsign", "identity", "stepped_sigmoid", "noisy_relu", "relu6", "hardtanh")
_PARAMS = {"leaky_relu": ("slope",), "prelu": ("slope",), "rrelu": ("lower", "upper"), "noisy_relu": ("sigma",),
           "elu": ("alpha",), "softplus": ("beta",), "gelu": ("approximate",), "hardtanh": ("min_val", "max_val")}
_CHOICES = {"approximate": ("none", "tanh")}  # string-valued parameters
_ALIASES = {"linear": "identity", "none": "identity", "swish": "silu", "logistic": "sigmoid",
            "leaky": "leaky_relu", "leakyrelu": "leaky_relu"}
_CACHE: dict[tuple, Activation] = {}


def names() -> list[str]:
    """The registered activation names."""
    return list(_NAMES)


def get(name: str | Activation, **params: Any) -> Activation:
    """The registered activation ``name`` with ``params`` (e.g. ``get("leaky_relu", slope=0.2)``), or the one
    a spec string names (``get("leaky_relu(slope=0.2)")``, see :attr:`Activation.spec`).

    Aliases: ``linear``/``none`` → identity, ``swish`` → silu, ``logistic`` → sigmoid.
    Raises ``ValueError`` for an unknown name or a parameter outside its range.

    >>> get("gelu(approximate='tanh')").params, get("prelu", slope=[0.1, 0.3]).spec
    ({'approximate': 'tanh'}, 'prelu(slope=(0.1, 0.3))')
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise ValueError(f"activation must be a name (one of {names()}) or an Activation, got {name!r}")
    if "(" in name:
        if params:
            raise ValueError(f"pass parameters either in the spec or as keywords, not both: {name!r}, {params}")
        name, params = _parse_spec(name)
    key_name = _ALIASES.get(name.lower(), name.lower())
    if key_name not in _NAMES:
        raise ValueError(f"activation must be one of {names()}, got {name!r}")
    allowed = _PARAMS.get(key_name, ())
    bad = set(params) - set(allowed)
    if bad:
        raise ValueError(f"activation {key_name!r} takes parameters {sorted(allowed)}, got {sorted(bad)}")
    params = {k: _check_param(key_name, k, v) for k, v in params.items()}
    if key_name == "gelu" and params.get("approximate") == "none":
        params = {}
    key = (key_name, tuple(sorted(params.items())))
    if key not in _CACHE:
        _CACHE[key] = _builtin(key_name, **params)
    return _CACHE[key]


def _parse_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``"name(k=literal, ...)"`` → (name, params); literals only (no code is run)."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args
                and all(kw.arg for kw in node.keywords)):
            raise SyntaxError
        return node.func.id, {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}  # type: ignore[misc]
    except (SyntaxError, ValueError):
        raise ValueError(f"activation spec must look like 'name' or 'name(param=value, ...)' with literal "
                         f"values, got {text!r}") from None


def _number(k: str, v: Any) -> float:
    return float(validate.check(k, v, validate.is_number(v), "a finite number"))


def _check_param(name: str, k: str, v: Any) -> Any:
    if k in _CHOICES:
        return validate.one_of(k, v, _CHOICES[k])
    if name == "prelu" and isinstance(v, (list, tuple, np.ndarray, Tensor)):
        slopes = tuple(_number(k, float(a) if isinstance(a, (np.floating, Tensor)) else a)
                       for a in (v.tolist() if isinstance(v, (np.ndarray, Tensor)) else v))
        if not slopes:
            raise ValueError(f"{k} must be a number or a non-empty sequence of numbers, got {v!r}")
        return slopes[0] if len(set(slopes)) == 1 else slopes
    return _number(k, v)


def from_callable(fn: Callable[[Tensor], Tensor], name: str | None = None, *,
                  kinks: tuple[float, ...] = (), derivative: Callable[[Tensor], Tensor] | None = None
                  ) -> Activation:
    """Wrap a custom elementwise function; its derivative comes from autograd unless given.

    ``kinks`` lists points where ``fn`` is not smooth (they make the Gaussian moments exact).

    >>> act = from_callable(lambda x: x * torch.sigmoid(1.702 * x), name="quick_gelu")
    >>> round(act.gain("forward"), 3)
    1.539
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {fn!r}")
    label = name or getattr(fn, "__name__", "custom")

    def deriv(x: Tensor) -> Tensor:
        if derivative is not None:
            return derivative(x)
        with torch.enable_grad():
            xx = x.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(fn(xx).sum(), xx)
        return g.detach()

    return Activation(label, fn, deriv, lambda: Lambda(fn, label), {}, tuple(float(k) for k in kinks),
                      description="custom (derivative by autograd)" if derivative is None else "custom")


_MODULE_MAP: dict[type, Callable[[nn.Module], Activation]] = {
    nn.Sigmoid: lambda m: get("sigmoid"),
    nn.Tanh: lambda m: get("tanh"),
    nn.ReLU: lambda m: get("relu"),
    nn.ReLU6: lambda m: get("relu6"),
    nn.Hardtanh: lambda m: get("hardtanh", min_val=m.min_val, max_val=m.max_val),
    nn.LeakyReLU: lambda m: get("leaky_relu", slope=m.negative_slope),
    nn.PReLU: lambda m: get("prelu", slope=m.weight.detach().double().reshape(-1).tolist()),
    nn.RReLU: lambda m: get("rrelu", lower=m.lower, upper=m.upper),
    nn.ELU: lambda m: get("elu", alpha=m.alpha),
    nn.SELU: lambda m: get("selu"),
    nn.GELU: lambda m: get("gelu", approximate=m.approximate),
    nn.SiLU: lambda m: get("silu"),
    nn.Softsign: lambda m: get("softsign"),
    nn.Softplus: lambda m: _softplus_module(m),
    nn.Identity: lambda m: get("identity"),
    SteppedSigmoid: lambda m: get("stepped_sigmoid"),
    NoisyReLU: lambda m: get("noisy_relu", sigma=m.sigma),
}

_FUNCTION_MAP: dict[Any, str] = {
    torch.relu: "relu", F.relu: "relu", torch.tanh: "tanh", F.tanh: "tanh",
    torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", F.gelu: "gelu", F.silu: "silu", F.relu6: "relu6",
    F.hardtanh: "hardtanh", F.rrelu: "rrelu",
    F.selu: "selu", torch.selu: "selu", F.elu: "elu", F.softplus: "softplus", F.softsign: "softsign",
    F.leaky_relu: "leaky_relu", "relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid",
    "relu_": "relu", "tanh_": "tanh", "sigmoid_": "sigmoid",
}


def _softplus_module(m: nn.Module) -> Activation:
    # torch returns x where βx > threshold; the registered softplus is exact: they differ by at most
    # log(1 + e^-threshold)/β (2e-9 at the default threshold 20)
    gap = math.log1p(math.exp(-float(m.threshold))) / float(m.beta)
    if gap > 1e-6:
        warnings.warn(f"Softplus(beta={m.beta}, threshold={m.threshold}) is read as the exact softplus, which "
                      f"differs from it by up to {gap:.2g} above the threshold", stacklevel=3)
    return get("softplus", beta=m.beta)


def from_module(module: nn.Module) -> Activation | None:
    """The :class:`Activation` a module computes (``nn.ReLU()`` → relu), or ``None`` if it is not one."""
    if isinstance(module, Lambda):
        return from_callable(module.fn, module.name)
    for cls in type(module).__mro__:
        if cls in _MODULE_MAP:
            return _MODULE_MAP[cls](module)
    return None


def from_function(target: Any, kwargs: dict | None = None) -> Activation | None:
    """The :class:`Activation` of a functional call (``F.relu``, ``torch.tanh``, ``x.relu()``), or None."""
    try:
        name = _FUNCTION_MAP.get(target)
    except TypeError:
        return None
    if name is None:
        return None
    kwargs = kwargs or {}
    if name == "leaky_relu":
        return get(name, slope=kwargs.get("negative_slope", 0.01))
    if name == "elu":
        return get(name, alpha=kwargs.get("alpha", 1.0))
    if name == "softplus" and kwargs.get("beta", 1.0) != 1.0:
        return get(name, beta=kwargs["beta"])
    if name == "gelu":
        return get(name, approximate=kwargs.get("approximate", "none"))
    if name == "hardtanh":
        return get(name, min_val=kwargs.get("min_val", -1.0), max_val=kwargs.get("max_val", 1.0))
    if name == "rrelu":
        return get(name, lower=kwargs.get("lower", 1 / 8), upper=kwargs.get("upper", 1 / 3))
    return get(name)


def table(activations: list[str | Activation] | None = None) -> list[dict[str, Any]]:
    """One row (a dict, see :meth:`Activation.properties`) per activation, registered ones by default."""
    return [get(a).properties() for a in (activations or names())]


def format_table(rows: list[dict[str, Any]] | None = None) -> str:
    """:func:`table` as aligned text."""
    rows = rows if rows is not None else table()

    def fmt_range(r: tuple[float, float]) -> str:
        return "(" + ", ".join("∞" if v == math.inf else "-∞" if v == -math.inf else f"{v:.4g}" for v in r) + ")"

    def yn(b: bool) -> str:
        return "yes" if b else "no"

    head = ["name", "range", "zero-ctr", "saturates(L,R)", "monotonic", "max|φ'|", "sparse",
            "E[φ²]", "E[φ'²]", "gain torch", "gain fwd", "gain bwd"]
    body = [[
        r["name"] + ("*" if r["random"] else ""), fmt_range(r["range"]), yn(r["zero_centered"]),
        f"{yn(r['saturating_left'])},{yn(r['saturating_right'])}", yn(r["monotonic"]),
        f"{r['max_slope']:.4g}", yn(r["sparse"]), f"{r['second_moment']:.6f}",
        f"{r['deriv_second_moment']:.6f}", "-" if r["gain_torch"] is None else f"{r['gain_torch']:.6f}",
        f"{r['gain_forward']:.6f}", f"{r['gain_backward']:.6f}",
    ] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    lines.append("* random in training; its eval form is shown. Moments for z ~ N(0, 1).")
    return "\n".join(lines)
