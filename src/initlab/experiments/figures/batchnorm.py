"""``batchnorm``'s figure: test accuracy and a last-layer sigmoid's input percentiles (Ioffe & Szegedy Fig. 1)."""
from __future__ import annotations

from ..rundir import RunFiles
from .canvas import new_figure

LABELS = {"plain": "without BN", "bn_before": "BN before the sigmoid", "bn_after": "BN after the sigmoid"}
PERCENTILES = (15, 50, 85)


def draw(run: RunFiles) -> dict:
    cfg = run.config
    unit, last = cfg["unit"], len(cfg["hidden"])
    fig, axes = new_figure(2, 2, size=(5.2, 3.6))
    ax_acc = axes[0, 0]
    panels = {"plain": axes[0, 1], "bn_before": axes[1, 0], "bn_after": axes[1, 1]}
    for k, (v, label) in enumerate(LABELS.items()):
        ax_acc.plot(*run.series(v, "test", "accuracy_probe"), color=f"C{k}", label=label)
        ax = panels[v]
        for q in PERCENTILES:
            ax.plot(*run.series(v, "test", f"sigmoid_input_p{q}"), color=f"C{k}", lw=1.2 if q == 50 else 0.8,
                    ls="-" if q == 50 else "--", label=f"{q}th percentile")
        ax.set_xlabel("SGD update")
        ax.set_ylabel(f"input of sigmoid {unit}, layer {last}")
        ax.set_title(f"{label}: 15/50/85th percentiles (Fig. 1{'bc'[k] if k < 2 else ''})", fontsize=10)
        ax.legend(fontsize=7)
    ax_acc.set_xlabel("SGD update")
    ax_acc.set_ylabel("test accuracy")
    ax_acc.set_title("Test accuracy (Fig. 1a)", fontsize=10)
    ax_acc.legend(fontsize=8)
    ylo = min(a.get_ylim()[0] for a in panels.values())
    yhi = max(a.get_ylim()[1] for a in panels.values())
    for a in panels.values():
        a.set_ylim(ylo, yhi)
    fig.suptitle(f"MNIST, {'-'.join(map(str, cfg['hidden']))} sigmoid MLP, W ~ N(0, {cfg['init_std']}²), "
                 f"batch {cfg['batch_size']}, SGD lr {cfg['lr']} (Ioffe & Szegedy et al.)")
    return {"batchnorm": fig}
