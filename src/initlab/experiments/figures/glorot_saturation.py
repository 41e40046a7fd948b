"""``glorot-saturation``'s figures: each hidden layer's activation mean ± std during training (Fig. 2),
the activation histograms at the end (Figs. 4, 6) and the back-propagated gradients at init (Fig. 7)."""
from __future__ import annotations


from ..rundir import RunFiles
from .canvas import new_figure

# variant: (activation, init) as written in the titles
TITLES = {
    "sigmoid_standard": ("sigmoid", "standard"),
    "tanh_standard": ("tanh", "standard"),
    "tanh_normalized": ("tanh", "normalized"),
    "softsign_standard": ("softsign", "standard"),
    "softsign_normalized": ("softsign", "normalized"),
}


def draw(run: RunFiles) -> dict:
    cfg = run.config
    n = len(TITLES)
    fig_mean, ax_mean = new_figure(n, 1, size=(3.6, 3.4))
    fig_hist, ax_hist = new_figure(n, 1, size=(3.6, 3.2))
    fig_grad, ax_grad = new_figure(n, 1, size=(3.6, 3.2))
    for k, (v, (act, init)) in enumerate(TITLES.items()):
        _means(ax_mean[0, k], run.history(v), cfg["layers"])
        ax_mean[0, k].set_title(f"{act}, {init} init", fontsize=10)
        _fractions(ax_hist[0, k], run.arrays(f"{v}/end_hist"))
        ax_hist[0, k].set_title(f"{act}, {init} init (end)", fontsize=10)
        ax_hist[0, k].set_xlabel("activation value")
        _densities(ax_grad[0, k], run.arrays(f"{v}/delta_hist"))
        ax = ax_grad[0, k]
        ax.set_yscale("log")
        ax.set_title(f"{act}, {init} init (at init)", fontsize=10)
        ax.set_xlabel("back-propagated gradient δ = ∂L/∂z")
    for axs in (ax_mean, ax_hist, ax_grad):
        axs[0, 0].legend(fontsize=7)
    fig_mean.suptitle(f"Mean ± std of each hidden layer's activations during training (Glorot & Bengio Fig. 2); "
                      f"{cfg['layers']} × {cfg['width']}, MNIST")
    fig_hist.suptitle("Activation histograms per hidden layer at the end of training (Figs. 4, 6)")
    fig_grad.suptitle("Back-propagated gradient histograms per hidden layer at init (Fig. 7)")
    return {"activation-mean-std": fig_mean, "activation-histograms": fig_hist, "gradient-histograms": fig_grad}


def _means(ax, history: dict, layers: int) -> None:
    names = [str(s) for s in history["layers"]]
    cols = [names.index(f"act{i}") for i in range(1, layers + 1)]
    steps, means, stds = history["steps"], history["mean"][:, cols], history["std"][:, cols]
    for i in range(layers):
        ax.plot(steps, means[:, i], color=f"C{i}", label=f"layer {i + 1}")
        ax.fill_between(steps, means[:, i] - stds[:, i], means[:, i] + stds[:, i], color=f"C{i}", alpha=0.12)
    ax.set_xlabel("update")
    ax.set_ylabel("activation mean ± std")


def _fractions(ax, hist: dict) -> None:
    """One line per layer: the fraction of outputs in each bin (``counts`` (layers, B), ``edges`` (layers, B+1))."""
    for i, (c, e) in enumerate(zip(hist["counts"], hist["edges"])):
        ax.plot(0.5 * (e[1:] + e[:-1]), c / max(c.sum(), 1), color=f"C{i}", label=f"layer {i + 1}")
    ax.set_ylabel("fraction of outputs")


def _densities(ax, hist: dict) -> None:
    """One step outline per layer: density histograms (``counts`` (layers, B), ``edges`` (layers, B+1))."""
    for i, (c, e) in enumerate(zip(hist["counts"], hist["edges"])):
        ax.hist(e[:-1], bins=e, weights=c, histtype="step", label=f"layer {i + 1}")  # one value per bin
    ax.set_ylabel("density")
