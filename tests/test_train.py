"""initlab.train.fit: losses against hand-written formulas, divergence, data forms, callbacks."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initlab as il


def _blobs(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def _mlp(seed=0, out=1):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, out))


def test_losses_match_the_formulas():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(7, 3, generator=g, dtype=torch.float64) * 30  # saturated: naive logs would be inf
    y = torch.tensor([0, 1, 2, 2, 1, 0, 1])
    t = torch.nn.functional.one_hot(y, 3).double()
    logsig, log1m = -torch.logaddexp(torch.zeros_like(z), -z), -torch.logaddexp(torch.zeros_like(z), z)
    per = -(t * logsig + (1 - t) * log1m)
    assert torch.isclose(il.train.make_loss("bce_sum")(z, y), per.sum(1).mean())
    assert torch.isclose(il.train.make_loss("bce")(z, y), per.mean())
    lse = torch.logsumexp(z, 1)
    assert torch.isclose(il.train.make_loss("ce")(z, y), (lse - z[torch.arange(7), y]).mean())
    assert torch.isclose(il.train.make_loss("mse")(z, y), ((z - t) ** 2).mean())
    assert math.isfinite(float(il.train.make_loss("bce")(torch.tensor([[1e4]]), torch.tensor([0]))))
    with pytest.raises(ValueError, match="bce_sum"):
        il.train.make_loss("hinge")


def test_fit_learns_an_easy_problem_and_records_train_and_test():
    x, y = _blobs()
    data = il.data.Dataset(x[:200], y[:200], x[200:], y[200:], "blobs", "binary")
    h = il.train.fit(_mlp(), data, loss="bce", lr=0.5, steps=300, quiet=True)
    assert not h.diverged and h.steps == 300
    assert h.final("accuracy") > 0.95 and h.final("accuracy", "test") > 0.9
    steps, losses = h.series("loss")
    assert steps[0] == 0 and steps[-1] == 300 and losses[-1] < losses[0] / 3
    assert h.series("loss", "test")[0][-1] == 300


def test_divergence_is_reported_with_step_and_layer_not_raised():
    x, y = _blobs()
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    h = il.train.fit(model, (x * 1e3, y.float() * 1e3), loss="mse", lr=1e30, steps=100, quiet=True)
    assert h.diverged and h.diverged_step is not None and h.diverged_step < 100
    assert h.diverged_layer in {"0", "2", "4"}
    # an overflow of the outputs alone (finite weights) still stops the run
    h = il.train.fit(_mlp(), (x * 1e3, y.float() * 1e3), loss="mse", lr=1e6, steps=100, quiet=True)
    assert h.diverged and h.steps == h.diverged_step < 100
    assert f"step {h.diverged_step}" in h.message
    assert h.steps == h.diverged_step
    # the layer named is the first whose output overflows, not the first one the NaN gradient reaches
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        model[0].weight.abs_()
        model[0].bias.fill_(1.0)
        model[2].weight.fill_(1e20)
        model[4].weight.fill_(1e30)  # outputs ~1e50: inf in float32 at layer "4" only
    h = il.train.fit(model, (x.abs(), y.float()), loss="mse", lr=0.1, steps=5, quiet=True)
    assert h.diverged and h.diverged_step == 0 and h.diverged_layer == "4", h.message


def test_dataloader_minibatches_and_epochs():
    x, y = _blobs(512)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=False)
    h = il.train.fit(_mlp(out=2), loader, loss="ce", lr=0.3, epochs=5, quiet=True)
    assert h.steps == 5 * 8 and h.epochs == 5
    assert len(h.series("loss")[0]) == 5  # one (epoch-mean) point per epoch
    assert h.final("accuracy") > 0.9
    h2 = il.train.fit(_mlp(out=2), (x, y), loss="ce", lr=0.3, batch_size=100, steps=12, quiet=True)
    assert h2.steps == 12 and h2.epochs == 2  # 6 batches per epoch


def test_same_seed_same_run_and_global_rng_untouched():
    x, y = _blobs()
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 1))
    before = torch.random.get_rng_state().clone()
    h = il.train.fit(model, (x, y), loss="bce", lr=0.1, batch_size=32, epochs=2, seed=5, quiet=True)
    assert torch.equal(before, torch.random.get_rng_state())  # dropout drew from a forked stream
    torch.manual_seed(0)
    m1 = _mlp()
    torch.manual_seed(0)
    m2 = _mlp()
    a = il.train.fit(m1, (x, y), loss="bce", lr=0.1, batch_size=32, epochs=2, seed=5, quiet=True)
    b = il.train.fit(m2, (x, y), loss="bce", lr=0.1, batch_size=32, epochs=2, seed=5, quiet=True)
    assert a.records == b.records and h.steps == 16


def test_callbacks_see_named_events_in_order_and_can_stop():
    events = []

    class Spy(il.train.Callback):
        def on_fit_start(self, s):
            events.append("fit_start")

        def on_after_backward(self, s):
            events.append("after_backward")
            assert all(p.grad is not None for p in s.model.parameters())

        def on_train_batch_end(self, s, loss):
            events.append("batch_end")
            if s.step == 3:
                s.should_stop = True

        def on_fit_end(self, s):
            events.append("fit_end")

    h = il.train.fit(_mlp(), _blobs(), loss="bce", lr=0.1, steps=10, callbacks=[Spy()], quiet=True)
    assert h.steps == 3
    assert events == ["fit_start"] + ["after_backward", "batch_end"] * 3 + ["fit_end"]


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="steps or epochs"):
        il.train.fit(_mlp(), _blobs(), loss="bce", lr=0.1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        il.train.fit(_mlp(), _blobs(), loss="bce", optimizer="lbfgs", lr=0.1, steps=1)
    with pytest.raises(ValueError, match="lr must be"):
        il.train.fit(_mlp(), _blobs(), loss="bce", steps=1)
