r"""The training check behind :attr:`FixReport.trains_better <initlab.diagnosis.fix.FixReport>`: does the
fixed model train better than the broken one?

**Held-out check** (when ``data`` is given: ``data(generator) -> (inputs, targets)`` draws a training
batch). For each of S seeds s (default 3) the broken model and the fixed model *drawn with seed s* (the
fix is a random re-initialization: the model :func:`~initlab.diagnosis.fix.fix` returns is draw 0, the
others re-apply the same schemes to the same layers with other generators) each take k = ``steps`` steps
of the user's optimizer (same class and learning rate) on the same fresh batches :math:`\mathrm{data}(G_s)`,
and each is then scored on one held-out batch that neither trained on. With
:math:`F = \{L^{\text{fixed}}_k(s)\}`, :math:`B = \{L^{\text{broken}}_k(s)\}`:

.. math::

    \text{trains\_better} \iff \min B - \max F > \max F - \min F
    \ \text{and}\ \max F < L^{\text{fixed}}_0 .

Every fixed run ends below every broken run, by more than the fixed runs' own spread (the variation that
the fix's random draw and the batch order alone produce), and the fixed model's held-out loss fell (it
learned something that generalizes). Why the spread and not just "below": two draws of one healthy
initialization train to consistently different losses (the benchmark's ``--null`` check, each healthy
model against other draws of itself: a first version of this check, which varied only the batch order
and compared ranks, called 3 of 6 pairs "separated"; this rule calls 0 of 6), so a difference only
counts when it is larger than what another draw of the fix would give. For S draws of
one distribution and one more draw y, y − max X > range X has probability of a few per cent (Gaussian,
S = 3). A fixed fraction of the loss is no measure of "clearly" for a loss that starts at ln V and falls
by tenths of a nat. The held-out batch is why this measures training and not memorization: a model that
fits one batch fast (large output weights act as a large output learning rate) shows it; a model that
learns the data's structure shows it on new data.

**One-batch check** (no ``data``): both models take k steps on ``inputs``/``targets``; trains_better
when the fixed loss after k steps is ≤ ``margin`` × the broken one (default 0.9), or only the fixed one is
finite. This measures optimization on that batch, and says so in the report's notes.

>>> import torch
>>> from torch import nn
>>> g = torch.Generator().manual_seed(0)
>>> w = torch.randn(8, 3, generator=g)
>>> def data(gen):
...     x = torch.randn(32, 8, generator=gen)
...     return x, (x @ w).argmax(1)
>>> def net(scale):  # tanh MLP, weights N(0, scale²/fan_in); scale 0: all units identical
...     torch.manual_seed(0)
...     m = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3))
...     for layer in m[::2]:
...         _ = nn.init.normal_(layer.weight, std=scale / layer.in_features ** 0.5, generator=g); _ = nn.init.zeros_(layer.bias)
...     return m
>>> r = heldout_check(net(0.0), lambda s: net(1.0), data, steps=30, optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))
>>> len(r.broken), len(r.fixed), r.trains_better
(3, 3, True)
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..probes.output import model_output
from ..structure import call

__all__ = ["train_losses", "heldout_check", "HeldoutCheck", "HELDOUT_SEED", "loss_of", "heldout_curve"]

HELDOUT_SEED = 2**31 - 1  # the held-out batch's generator seed when none is given (the training seeds are 0..S-1)
Optimizer = Callable[[Any], torch.optim.Optimizer]


def loss_of(out: Any, targets: Any, loss_fn: Any) -> Tensor | None:
    """The loss of a model output: ``loss_fn``, else the output's own ``loss`` (Hugging Face with labels),
    else cross-entropy for integer targets and MSE for float ones (None: no loss can be formed)."""
    y, _ = model_output(out)
    if callable(loss_fn):
        return loss_fn(y, targets) if targets is not None else loss_fn(y)
    if targets is None:
        lo = getattr(out, "loss", None)
        return lo if isinstance(lo, Tensor) else None
    if isinstance(targets, Tensor) and not targets.is_floating_point():
        seq = y.dim() > 2 and y.shape[:-1] == targets.shape
        return F.cross_entropy(y.reshape(-1, y.shape[-1]) if seq else y, targets.reshape(-1) if seq else targets)
    return F.mse_loss(y, targets)


def _adam(p: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(p, lr=1e-3)


def train_losses(model: nn.Module, inputs: Any, targets: Any = None, loss_fn: Any = None,
                 optimizer: Optimizer | None = None, steps: int = 30) -> list[float]:
    """Losses of ``steps`` optimizer steps on one batch (``steps + 1`` values; stops at NaN/Inf)."""
    opt = (optimizer or _adam)(model.parameters())
    model.train()
    out: list[float] = []
    for i in range(steps + 1):
        opt.zero_grad()
        loss = loss_of(call(model, inputs), targets, loss_fn)
        if loss is None:
            return []
        out.append(float(loss.detach()))
        if i == steps or not math.isfinite(out[-1]):
            break
        loss.backward()
        opt.step()
    return out


def _eval(model: nn.Module, batch: tuple[Any, Any], loss_fn: Any) -> float:
    was = model.training
    model.eval()
    with torch.no_grad():
        loss = loss_of(call(model, batch[0]), batch[1], loss_fn)
    model.train(was)
    return float(loss) if loss is not None else math.nan


def heldout_curve(model: nn.Module, data: Callable[[torch.Generator], tuple[Any, Any]], seed: int, steps: int,
                  loss_fn: Any, optimizer: Optimizer | None, heldout: tuple[Any, Any], every: int | None = None,
                  until: Callable[[list[float]], bool] | None = None) -> list[float]:
    """Held-out losses while training on batches ``data(G)``, G seeded ``seed`` (dropout too, without
    touching the caller's global RNG): after ``steps`` steps (``every`` None), or at steps 0, every,
    2·every, … ≤ ``steps``, stopping early once ``until(curve)``; ``inf`` once the training loss is not
    finite."""
    gen = torch.Generator().manual_seed(seed)
    opt = (optimizer or _adam)(model.parameters())
    curve: list[float] = []
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(steps + 1):
            if (every is not None and i % every == 0) or i == steps:
                curve.append(_eval(model, heldout, loss_fn))
                if i == steps or (until is not None and until(curve)):
                    break
            x, y = data(gen)
            opt.zero_grad()
            loss = loss_of(call(model, x), y, loss_fn)
            if loss is None:
                raise ValueError("the training check found no loss: give targets, a loss_fn, or inputs with labels")
            if not math.isfinite(float(loss.detach())):
                return curve + [math.inf]
            loss.backward()
            opt.step()
    return curve


@dataclass
class HeldoutCheck:
    """Held-out losses after ``steps`` steps, one per seed, and before training (``*_start``)."""

    steps: int
    broken: list[float] = field(default_factory=list)
    fixed: list[float] = field(default_factory=list)
    broken_start: float = math.nan
    fixed_start: float = math.nan

    @property
    def trains_better(self) -> bool:
        """min(broken) − max(fixed) > max(fixed) − min(fixed), and the fixed held-out loss fell (module docs)."""
        f, b = self.fixed, [v if math.isfinite(v) else math.inf for v in self.broken]  # a diverged broken run
        if not f or not b or not all(math.isfinite(v) for v in f):  # a diverged fixed run never passes
            return False
        fell = not math.isfinite(self.fixed_start) or max(f) < self.fixed_start
        return min(b) - max(f) > max(f) - min(f) and fell


def heldout_check(broken: nn.Module, fixed: nn.Module | Callable[[int], nn.Module],
                  data: Callable[[torch.Generator], tuple[Any, Any]], *, steps: int = 30, seeds: int = 3,
                  loss_fn: Any = None, optimizer: Optimizer | None = None,
                  heldout: tuple[Any, Any] | None = None) -> HeldoutCheck:
    """Train copies of ``broken`` and of ``fixed`` on ``data`` with ``seeds`` seeds; score on ``heldout``
    (default: ``data`` drawn with seed :data:`HELDOUT_SEED`). ``fixed``: a model, or ``fixed(s)`` giving the
    fix's draw s (a fresh model). The models given are not changed."""
    if not callable(data):
        raise ValueError(f"data must be a callable data(generator) -> (inputs, targets), got {type(data).__name__}")
    if not (isinstance(seeds, int) and seeds >= 1):
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    draw = fixed if not isinstance(fixed, nn.Module) else (lambda s: copy.deepcopy(fixed))
    held = heldout if heldout is not None else data(torch.Generator().manual_seed(HELDOUT_SEED))
    first = draw(0)
    out = HeldoutCheck(steps, broken_start=_eval(broken, held, loss_fn), fixed_start=_eval(first, held, loss_fn))
    for s in range(seeds):
        out.broken.append(heldout_curve(copy.deepcopy(broken), data, s, steps, loss_fn, optimizer, held)[-1])
        out.fixed.append(heldout_curve(first if s == 0 else draw(s), data, s, steps, loss_fn, optimizer, held)[-1])
    return out
