"""``dropout``'s figure: train/test curves with and without dropout, and the average of sampled
sub-networks vs weight scaling (Srivastava et al. Fig. 11)."""
from __future__ import annotations

from ..rundir import RunFiles
from .canvas import new_figure

LABELS = {"standard": "no dropout", "inverted": "dropout, inverted (nn.Dropout)",
          "classic": "dropout, classic (scale at test)"}


def draw(run: RunFiles) -> dict:
    cfg = run.config
    fig, axes = new_figure(3, 1, size=(5.0, 4.0))
    for k, (v, label) in enumerate(LABELS.items()):
        for split, ls in (("train", "--"), ("test", "-")):
            axes[0, 0].plot(*run.series(v, split, "loss"), ls, color=f"C{k}", label=f"{label}, {split}")
            axes[0, 1].plot(*run.series(v, split, "accuracy"), ls, color=f"C{k}", label=f"{label}, {split}")
    ax = axes[0, 2]
    ax.plot(*run.series("inverted", "mc", "test_error_percent"), "o-", color="C1",
            label="average of k sampled sub-networks")
    ax.axhline(run.value("inverted", "weight_scaled", "test_error_percent"), color="k", ls="--",
               label="weight scaling (one pass)")
    ax.set_xscale("log")
    ax.set_xlabel("k, sub-networks averaged (Monte-Carlo)")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"Ensemble of 2^{run.ours('subnetworks_log2')} sub-networks\n(Srivastava et al. Fig. 11)",
                 fontsize=10)
    ax.legend(fontsize=7)
    for ax, what in ((axes[0, 0], "cross-entropy"), (axes[0, 1], "accuracy")):
        ax.set_xlabel("SGD update")
        ax.set_ylabel(what)
        ax.set_title(f"{what}: train (dashed, with dropout active) vs test", fontsize=10)
    axes[0, 0].set_yscale("log")
    axes[0, 1].legend(fontsize=6)
    sizes = run.array("sizes").tolist()
    fig.suptitle(f"MLP {'-'.join(map(str, sizes))} ({cfg['activation']}) on {cfg['n_train']} MNIST images; "
                 f"dropout p = {cfg['p_input']} input, {cfg['p_hidden']} hidden")
    return {"dropout": fig}
