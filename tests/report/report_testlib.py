"""Helpers for the report tests: run directories written by hand to docs/CONTRACTS.md (format 1).

These mimic what experiments write, so the report can be tested independently of them; tests with
real runs (experiments, probes) live beside these and fail, never skip, when a part is missing.
"""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np


def watcher_arrays(steps: int, layers: int, *, bins: int = 40, hist_every: int = 1, seed: int = 0,
                   scale: float = 1.0, uniform_edges: bool = True,
                   names: list[str] | None = None) -> dict[str, np.ndarray]:
    """A Watcher history (CONTRACTS.md) of a fake net whose activations shrink with depth
    (layers ``fc1 … fcL`` unless ``names`` are given)."""
    rng = np.random.default_rng(seed)
    st = np.arange(steps, dtype=np.int64)
    decay = scale * 0.7 ** np.arange(layers)                      # (L,)
    drift = 1 + 0.3 * np.sin(st / max(1, steps) * 6)[:, None]     # (S, 1)
    std = drift * decay[None, :]                                  # (S, L)
    out = {"format_version": np.array(1), "steps": st, "layers": np.array(names or [f"fc{i + 1}" for i in range(layers)]),
           "std": std, "mean": 0.1 * std, "abs_mean": 0.8 * std,
           "grad_norm": 1e-3 * 10.0 ** (np.arange(layers)[None, :] * 0.8) * drift,
           "dead_fraction": np.clip(0.05 * np.arange(layers)[None, :] + 0.001 * st[:, None], 0, 1),
           "saturated_fraction": np.full((steps, layers), np.nan)}
    out["saturated_fraction"][:, 0] = 0.02
    hs = st[::hist_every]
    H = len(hs)
    counts = np.zeros((H, layers, bins))
    edges = np.zeros((H, layers, bins + 1))
    for i, s in enumerate(hs):
        for j in range(layers):
            sd = std[s, j]
            e = np.linspace(-4 * sd, 4 * sd, bins + 1)
            if not uniform_edges:
                e = np.sort(np.concatenate([[-4 * sd, 4 * sd], rng.uniform(-4 * sd, 4 * sd, bins - 1)]))
            x = rng.normal(0, sd, 500) + (0.5 * sd if j % 2 else 0)
            counts[i, j] = np.histogram(x, e)[0]
            edges[i, j] = e
    out.update(hist_steps=hs, hist_counts=counts, hist_edges=edges)
    return out


def write_run_dir(d: Path, *, steps: int = 30, layers: int = 5, variants=("xavier", "he"),
                  format_version=1, figure: bool = True, description: bool = True, hist_every: int = 1,
                  bins: int = 40, layer_names: dict[str, list[str]] | None = None) -> Path:
    """A run directory as an experiment writes it; ``layer_names``: per-variant layer names (variants
    may have different layers), default ``fc1 … fcL`` for all."""
    d.mkdir(parents=True, exist_ok=True)
    cfg = {"format_version": format_version, "experiment": "activation-histograms", "seed": 0, "quick": True,
           "config": {"depth": layers, "width": 64, "steps": steps, "variants": list(variants),
                      "note": "</script><script>alert(1)</script>"},
           "versions": {"initlab": "0.1.0", "torch": "2.13", "numpy": np.__version__, "python": "3.11"}}
    if description:
        cfg["description"] = "How do the per-layer activation distributions of a tanh MLP differ under Xavier and He init?"
        cfg["reference"] = "Glorot & Bengio (2010), Figure 6"
    (d / "config.json").write_text(json.dumps(cfg, indent=1))
    summary = {
        "he_std_ratio": {"ours": 1.02, "reference": {"value": 1.0, "tolerance": 0.05, "source": "He et al. 2015"},
                         "description": "std of the last layer over the first"},
        "xavier_std_last": {"ours": 0.41, "reference": {"value": 0.2, "tolerance": 0.05, "source": "Glorot & Bengio 2010"},
                            "description": "std of the last layer"},
        "final_loss": {"ours": 0.31, "description": "final training loss"},
    }
    (d / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    with open(d / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "variant", "split", "metric", "value"])
        for v_i, v in enumerate(variants):
            for s in range(steps):
                w.writerow([s, v, "train", "loss", 2.3 * np.exp(-s / (10 + 5 * v_i)) + 0.05])
                if s % 5 == 0 or s == steps - 1:
                    w.writerow([s, v, "test", "accuracy", 1 - np.exp(-s / 10) * 0.9])
    arrays = {}
    for v_i, v in enumerate(variants):
        names = (layer_names or {}).get(v)
        n = len(names) if names else layers
        a = watcher_arrays(steps, n, seed=v_i, scale=1 + v_i, hist_every=hist_every, bins=bins, names=names)
        arrays.update({f"{v}/{k}": x for k, x in a.items()})
        arrays[f"{v}/predicted_std"] = (1 + v_i) * 0.72 ** np.arange(n)
    np.savez(d / "history.npz", **arrays)
    findings = {"variants": {variants[0]: [{
        "kind": "vanishing_activations", "severity": "warning", "layers": ["fc4", "fc5"],
        "evidence": {"std_ratio": 0.24, "depth": layers}, "message": "Activation std shrinks by 4x from fc1 to fc5.",
        "fix": "Use he_normal or xavier with the tanh gain."}], variants[-1]: []}}
    (d / "findings.json").write_text(json.dumps(findings))
    if figure:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        (d / "figures").mkdir(exist_ok=True)
        fig = Figure(figsize=(3, 2), dpi=60)
        fig.add_subplot().plot([0, 1, 2], [1, 0.5, 0.3])
        fig.savefig(d / "figures" / "std_by_layer.png")
    return d


def hash_tree(d: Path) -> dict[str, str]:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}
