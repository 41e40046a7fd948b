"""``deep-relu``'s figure: ‖δ‖ by layer at init, and the training loss at 30 and 22 layers (He et al. Figs. 2, 3)."""
from __future__ import annotations

import math
from typing import Any, Mapping

from ..rundir import RunFiles
from ..series import running_mean
from .canvas import new_figure


def runs(cfg: Mapping[str, Any]) -> dict[str, tuple[str, int, str, float, int]]:
    """The trained runs of a config: name → (init, depth, optimizer, lr, steps)."""
    d, s = cfg["depth"], cfg["shallow_depth"]
    out = {f"xavier{d}": ("xavier", d, "sgd", cfg["lr"], cfg["steps"]), f"he{d}": ("he", d, "sgd", cfg["lr"], cfg["steps"])}
    if s:
        out.update({f"xavier{s}": ("xavier", s, "sgd", cfg["shallow_lr"], cfg["shallow_steps"]),
                    f"he{s}": ("he", s, "sgd", cfg["shallow_lr"], cfg["shallow_steps"])})
    if cfg["adam"]:
        out[f"xavier{d}_adam"] = ("xavier", d, "adam", cfg["adam_lr"], cfg["steps"])
    return out


def draw(run: RunFiles) -> dict:
    cfg = run.config
    fig, axes = new_figure(3, 1, size=(5.0, 4.0))
    for k, (name, (init, depth, opt, _, _)) in enumerate(runs(cfg).items()):
        if depth == cfg["depth"] and opt == "sgd":
            layers, g = run.series(init, "init", "delta_norm")
            axes[0, 0].semilogy(layers, g, "o-", ms=3, color=f"C{k}", label=f"{init}: first/last hidden {g[0] / g[-2]:.1e}")
        steps, losses = run.series(name, "train", "batch_loss")
        ax = axes[0, 1] if depth == cfg["depth"] else axes[0, 2]
        ax.plot(steps, running_mean(losses, 20), color=f"C{k}", ls="--" if opt == "adam" else "-",
                label=f"{init} {depth} layers" + (" (Adam)" if opt == "adam" else ""))
    axes[0, 0].set_xlabel("linear layer l (last = output)")
    axes[0, 0].set_ylabel("‖δ_l‖ = ‖∂L/∂z_l‖ at init")
    axes[0, 0].set_title(f"{cfg['depth']} layers: backward signal at init", fontsize=10)
    for ax, d in ((axes[0, 1], cfg["depth"]), (axes[0, 2], cfg["shallow_depth"])):
        ax.axhline(math.log(10), color="0.5", ls=":", lw=1, label="ln 10")
        ax.set_xlabel("update")
        ax.set_ylabel("training loss (running mean of 20 batches)")
        ax.set_title(f"{d} layers (He et al. Fig. {3 if d == 30 else 2})", fontsize=10)
    for ax in axes[0]:
        ax.legend(fontsize=7)
    fig.suptitle(f"Plain ReLU MLP, width {cfg['width']}, MNIST ({cfg['n_train']} images), "
                 f"SGD momentum {cfg['momentum']}")
    return {"deep-relu": fig}
