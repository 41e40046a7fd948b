"""``vanishing-gradient``'s figure: the speed of learning ||∂C/∂b|| of each hidden layer, at init (beside
Nielsen's numbers) and during training (sigmoid vs ReLU + He)."""
from __future__ import annotations


from ..rundir import RunFiles
from .canvas import new_figure

PUBLISHED = {2: (0.07, 0.31), 3: (0.012, 0.060, 0.283), 4: (0.003, 0.017, 0.070, 0.285)}
TRAIN_LABELS = {"sigmoid": "sigmoid, N(0, 1/n_in), biases N(0, 1)", "relu_he": "ReLU, He N(0, 2/n_in), biases 0"}


def draw(run: RunFiles) -> dict:
    cfg = run.config
    ks = range(1, cfg["max_hidden_layers"] + 1)
    fig, axes = new_figure(2, 1, size=(5.4, 4.2))
    ax = axes[0, 0]
    for i, k in enumerate(ks):
        ax.plot(*run.series(f"k{k}", "init_median", "bias_grad_norm"), "o-", color=f"C{i}",
                label=f"{k} hidden layer{'s' if k > 1 else ''} (ours, median)")
        if k in PUBLISHED:
            ax.plot(range(1, k + 1), PUBLISHED[k], "x--", color=f"C{i}", ms=8, lw=0.8)
    ax.plot([], [], "kx--", lw=0.8, label="Nielsen (published, one draw)")
    ax.set_yscale("log")
    ax.set_xticks(list(ks))
    ax.set_xlabel("hidden layer (1 = nearest the input)")
    ax.set_ylabel("speed of learning ||∂C/∂b|| (log scale)")
    ax.set_title(f"At initialization, median of {cfg['seeds']} draws", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    k = cfg["max_hidden_layers"]
    for v, style in zip(TRAIN_LABELS, ("-", ":")):
        h = run.history(v)
        names = [str(n) for n in h["layers"]]
        for l in range(k):
            ax.plot(h["steps"], h["bias_grad_norm"][:, names.index(f"fc{l + 1}")], style, color=f"C{l}",
                    label=f"{TRAIN_LABELS[v].split(',')[0]}, hidden layer {l + 1}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (full-batch step on the 1,000 images)")
    ax.set_ylabel("speed of learning ||∂C/∂b|| (log scale)")
    ax.set_title(f"During training, {k} hidden layers:\nsigmoid (solid) vs ReLU + He (dotted)", fontsize=10)
    ax.legend(fontsize=6, ncol=2)
    fig.suptitle("Speed of learning of each hidden layer, [784, 30×k, 10] on MNIST, cross-entropy summed over outputs")
    return {"speed-of-learning": fig}


