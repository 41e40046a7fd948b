"""Each experiment at --quick size shows its phenomenon (one shared `run all --quick`)."""
from __future__ import annotations

import csv
import json
import math
import re

import numpy as np


def test_tour_writes_every_run_and_an_index_of_existing_files(tour):
    import initlab as il

    names = il.experiments.names()
    assert len(names) >= 8
    for n in names:
        d = tour / n
        for f in ("config.json", "summary.json", "metrics.csv"):
            assert (d / f).is_file(), (n, f)
        assert list((d / "figures").glob("*.png")), n
        cfg = json.loads((d / "config.json").read_text())
        assert cfg["format_version"] == 1 and cfg["experiment"] == n and cfg["quick"] is True
        with open(d / "metrics.csv") as f:
            assert next(csv.reader(f)) == ["step", "variant", "split", "metric", "value"]
        summary = json.loads((d / "summary.json").read_text())
        assert summary and list(summary) == sorted(summary)
        for key, e in summary.items():
            assert "ours" in e and e["description"], (n, key)
            if "reference" in e:
                assert {"value", "tolerance", "source"} <= set(e["reference"]) and e["reference"]["source"]
    index = (tour / "index.md").read_text()
    links = re.findall(r"\]\(([^)#]+)\)", index)
    assert len(links) > 3 * len(names)
    for link in links:
        assert (tour / link).is_file(), link
    assert not list(tour.glob(".*tmp*"))  # atomic: no temporary siblings left


def test_watched_runs_write_history_and_findings(tour):
    # runs trained with fit(watch=...) store each variant's Watcher arrays and findings (RunContext.metrics_from)
    for n, variants in (("zero-init", {"zeros", "constant", "random"}), ("vanishing-gradient", {"sigmoid", "relu_he"})):
        found = json.loads((tour / n / "findings.json").read_text())["variants"]
        assert variants <= set(found), (n, sorted(found))
        with np.load(tour / n / "history.npz") as z:
            assert {f"{v}/steps" for v in variants} <= set(z.files), (n, z.files)


def test_zero_init_symmetry(summary):
    s = summary("zero-init")
    assert abs(s["final_cost_zeros"]["ours"] - math.log(2)) < 1e-6
    assert s["max_cost_deviation_zeros"]["ours"] < 1e-6
    assert s["train_accuracy_zeros"]["ours"] == 0.5
    for v in ("zeros", "constant"):
        assert s[f"max_distinct_units_{v}"]["ours"] == 1  # one distinct unit per layer, all training
    assert s["distinct_units_random_fc1"]["ours"] == 10 and s["distinct_units_random_fc2"]["ours"] == 5
    assert s["final_cost_random"]["ours"] < 0.5


def test_init_comparison_he_beats_zeros(summary):
    s = summary("init-comparison")
    assert s["train_accuracy_zeros"]["ours"] == 0.5 and s["test_accuracy_zeros"]["ours"] == 0.5
    assert abs(s["initial_cost_zeros"]["ours"] - math.log(2)) < 1e-6
    assert s["train_accuracy_he"]["ours"] > 0.9
    assert s["initial_cost_x10"]["ours"] > 10 and math.isfinite(s["initial_cost_x10"]["ours"])  # finite, huge


def test_activation_histograms_collapse_saturation_and_he(summary):
    s = summary("activation-histograms")
    assert s["std_ratio_layer10_layer1_tanh_small"]["ours"] < 1e-4
    for l in (1, 10):
        assert s[f"std_tanh_unit_layer{l}"]["ours"] > 0.95  # saturated at ±1
        assert abs(s[f"std_relu_small_bn_layer{l}"]["ours"] - 0.58) < 0.03
        assert 0.6 < s[f"std_relu_he_layer{l}"]["ours"] < 1.1
    assert s["std_relu_xavier_layer10"]["ours"] < 0.05
    for k in ("std_tanh_small_layer1", "std_tanh_small_layer3", "std_relu_xavier_layer2"):
        assert s[k]["agree"] is True, k
    assert s["theory_max_relative_error_tanh_small"]["ours"] < 0.05


def test_activation_histograms_history_has_prediction(tour):
    with np.load(tour / "activation-histograms" / "history.npz") as z:
        assert z["tanh_small/std"].shape == (1, len(z["tanh_small/layers"]))
        assert z["tanh_small/predicted_std"].shape == (len(z["tanh_small/layers"]),)
        assert z["tanh_small/hist_counts"].shape[:2] == (1, len(z["tanh_small/layers"]))


def test_chain_product_explodes_25x_per_layer(summary):
    s = summary("chain-product")
    assert s["exploding_growth_per_layer"]["ours"] >= 20
    assert abs(s["exploding_growth_per_layer"]["ours"] - 25) < 1e-6
    assert s["vanishing_median_factor"]["ours"] < 0.25
    assert s["vanishing_median_log10_ratio_first_last"]["ours"] < -3
    assert s["autograd_max_relative_error"]["ours"] < 1e-10


def test_zigzag_positive_inputs_share_signs(summary):
    s = summary("zigzag")
    assert s["same_sign_fraction_positive"]["ours"] == 1.0
    assert 0.35 < s["same_sign_fraction_centered"]["ours"] < 0.65
    assert s["path_ratio_positive"]["ours"] > s["path_ratio_centered"]["ours"]


def test_vanishing_gradient_each_layer_slower(summary):
    s = summary("vanishing-gradient")
    for k in (2, 3, 4):
        speeds = [s[f"speed_k{k}_layer{l}"]["ours"] for l in range(1, k + 1)]
        assert all(a < b / 2 for a, b in zip(speeds, speeds[1:])), speeds
    assert s["speed_ratio_last_first_k4"]["ours"] > 30
    assert s["train_speed_ratio_last_first_sigmoid"]["ours"] > 20
    assert s["train_speed_ratio_last_first_relu_he"]["ours"] < 5


def test_dead_relu_never_come_back(summary):
    s = summary("dead-relu")
    v = lambda key: s[key]["ours"]  # noqa: E731
    assert v("dead_fraction_relu_lr1") > v("dead_fraction_relu_lr0.1") + 0.2
    assert v("dead_fraction_killed") > 0.2
    # ReLU: no gradient reaches a dead unit, so none in layer 1 (fixed inputs) comes back
    assert v("grad_reaches_dead_relu") == 0.0 and v("dead_grad_norm_relu") == 0.0
    assert v("revived_fraction_layer1_relu") == 0.0
    for a in ("relu", "leaky_relu", "prelu", "rrelu"):
        assert v(f"recovery_diverged_{a}") == 0.0, a
    for a in ("leaky_relu", "prelu", "rrelu"):  # the negative side passes a gradient; some units recover
        assert v(f"grad_reaches_dead_{a}") > 0.9 and v(f"dead_grad_norm_{a}") > 0, a
        assert v(f"revived_fraction_layer1_{a}") > 0, a
    # LeakyReLU's 0.01 slope scales the gradient to a stuck unit: RReLU's (slope ~U(1/8, 1/3)) is far larger
    assert v("dead_grad_norm_rrelu") > 10 * v("dead_grad_norm_leaky_relu")
    assert v("revived_fraction_layer1_rrelu") > v("revived_fraction_layer1_leaky_relu")


def test_activations_table(summary):
    s = summary("activations")
    assert s["sigmoid_max_slope"]["ours"] == 0.25 and s["sigmoid_max_slope"]["agree"]
    assert s["derivative_autograd_max_error"]["ours"] < 1e-9
    assert s["activation_count"]["ours"] >= 15
