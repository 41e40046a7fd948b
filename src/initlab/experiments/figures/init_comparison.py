"""``init-comparison``'s figures: the cost curves and the decision boundaries after training."""
from __future__ import annotations

from ..rundir import RunFiles
from .canvas import decision_boundary, new_figure

LABELS = {"zeros": "zeros", "x10": "N(0,1) × 10", "he": "He: N(0, 2/n_prev)"}


def draw(run: RunFiles) -> dict:
    variants = run.config["variants"]
    fig, axes = new_figure(1, 1, size=(6.5, 4.2))
    ax = axes[0, 0]
    for i, v in enumerate(variants):
        ax.plot(*run.series(v, "train", "loss"), color=f"C{i}", label=LABELS[v])
    ax.set_yscale("log")
    ax.set_xlabel("gradient-descent step (full batch)")
    ax.set_ylabel("cost: binary cross-entropy (nats, log scale)")
    ax.set_title(f"Training cost on circles, [2,10,5,1] ReLU net, lr {run.config['lr']:g}")
    ax.legend()
    curves = fig

    fig, axes = new_figure(len(variants), 1, size=(4.0, 3.8))
    x, y = run.array("x_train"), run.array("y_train")
    for i, v in enumerate(variants):
        train, test = run.value(v, "train", "accuracy"), run.value(v, "test", "accuracy")
        decision_boundary(axes[0, i], run.arrays(f"{v}/boundary"), x, y,
                          f"{LABELS[v]}: train {train:.1%}, test {test:.1%}")
    fig.suptitle("Decision boundaries after training (blue region: predicted class 1; points: training set)")
    return {"cost-curves": curves, "decision-boundaries": fig}
