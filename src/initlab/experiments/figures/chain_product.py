"""``chain-product``'s figure: log₁₀ |∂C/∂b_l| by layer in the exploding and the vanishing chains."""
from __future__ import annotations

from ..rundir import RunFiles
from .canvas import new_figure

SHOWN_CHAINS = 20  # vanishing chains drawn one by one


def draw(run: RunFiles) -> dict:
    cfg = run.config
    w, chains = cfg["w_explode"], cfg["chains"]
    fig, axes = new_figure(2, 1, size=(5.2, 4.0))
    ax = axes[0, 0]
    ax.plot(*run.series("exploding", "closed_form", "log10_abs_grad_b"), "-", color="C3", label="closed-form product")
    ax.plot(*run.series("exploding", "autograd", "log10_abs_grad_b"), "o", mfc="none", color="k",
            label="autograd (float64)")
    ax.set_title(f"Exploding: w = {w:g}, b = −{w:g}·a (z = 0)\n"
                 f"×{run.ours('exploding_growth_per_layer'):.4g} per layer toward the input", fontsize=10)
    ax2 = axes[0, 1]
    shown = run.arrays("vanishing")
    layers = range(1, cfg["depth"] + 1)
    for i, (closed, auto) in enumerate(zip(shown["closed_form"], shown["autograd"])):
        ax2.plot(layers, closed, "-", color="0.75", lw=0.7, label="closed form, one chain" if i == 0 else None)
        ax2.plot(layers, auto, ".", color="0.4", ms=3, label="autograd, one chain" if i == 0 else None)
    ax2.plot(*run.series("vanishing", "closed_form", "median_log10_abs_grad_b"), "-", color="C0", lw=2.5,
             label=f"median of {chains} chains")
    ax2.set_title("Vanishing: w, b ~ N(0, 1)\n|w σ'(z)| mostly < 1/4", fontsize=10)
    for a in (ax, ax2):
        a.set_xlabel("layer l (1 = nearest the input)")
        a.set_ylabel("log₁₀ |∂C/∂b_l|")
        a.legend(fontsize=8)
    fig.suptitle(f"One neuron per layer, {cfg['depth']} sigmoid layers, C = ½ a_L²: gradient of each bias")
    return {"chain-gradients": fig}
