"""``pretrained-init``'s figure: the target task's loss and test accuracy from scratch vs pretrained."""
from __future__ import annotations

from ..rundir import RunFiles
from .canvas import new_figure

LABELS = {"scratch": "He init, from scratch", "pretrained": "pretrained (0–4), all layers trained",
          "frozen": "pretrained (0–4), first layers frozen"}


def draw(run: RunFiles) -> dict:
    cfg = run.config
    fig, axes = new_figure(2, 1, size=(5.2, 4.0))
    for k, (v, label) in enumerate(LABELS.items()):
        axes[0, 0].plot(*run.series(v, "train", "loss"), color=f"C{k}", label=f"{label}, train")
        axes[0, 0].plot(*run.series(v, "test", "loss"), "--", color=f"C{k}", label=f"{label}, test")
        axes[0, 1].plot(*run.series(v, "test", "accuracy"), color=f"C{k}", label=label)
        reach = run.ours(f"steps_to_target_{v}")
        if reach is not None:
            axes[0, 1].axvline(reach, color=f"C{k}", ls=":", lw=1)
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_xlabel("full-batch update")
    axes[0, 0].set_ylabel("cross-entropy")
    axes[0, 0].set_title("Target task loss (dashed: test)", fontsize=10)
    axes[0, 1].axhline(cfg["target_accuracy"], color="0.5", ls="--", lw=0.8)
    axes[0, 1].set_xlabel("full-batch update")
    axes[0, 1].set_ylabel("test accuracy")
    axes[0, 1].set_title(f"Target task test accuracy (dotted: first ≥ {cfg['target_accuracy']})", fontsize=10)
    for ax in axes[0]:
        ax.legend(fontsize=7)
    fig.suptitle(f"Source: digits {''.join(map(str, cfg['source_digits']))} → target: digits "
                 f"{''.join(map(str, cfg['target_digits']))} with {cfg['n_target']} training images; "
                 f"MLP {'-'.join(map(str, cfg['hidden']))} {cfg['activation']}")
    return {"pretrained-init": fig}
