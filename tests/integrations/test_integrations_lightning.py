"""Lightning: a real ``lightning.Trainer`` on CPU for a few steps with ``InitlabCallback``; the values
logged to TensorBoard equal the Watcher's arrays, step 0 equals ``il.inspect`` on the initial weights and
first batch, the history file lands in the log dir, and a non-finite step is reported."""
from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch

import initlab as il

L = pytest.importorskip("lightning")
pytest.importorskip("tensorboard")
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from initlab.integrations.lightning import FILENAME, InitlabCallback  # noqa: E402


class Tiny(L.LightningModule):
    def __init__(self, nan_at: int | None = None):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        self.nan_at = nan_at

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        if batch_idx == self.nan_at:
            x = x * float("nan")
        return torch.nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def _data(n: int = 64, batch: int = 16):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 6, generator=g)
    y = x[:, :1] * 2 + 0.1 * torch.randn(n, 1, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch, shuffle=False)


def _trainer(tmp_path, cb, logger, steps=6):
    return L.Trainer(max_steps=steps, accelerator="cpu", devices=1, callbacks=[cb], logger=logger,
                     enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                     log_every_n_steps=2, default_root_dir=tmp_path)


def test_callback_logs_what_the_watcher_and_inspect_see(tmp_path):
    model = Tiny()
    model0 = copy.deepcopy(model.net)
    data = _data()
    cb = InitlabCallback(every=1, hist_every=2, bins=8)
    logger = TensorBoardLogger(tmp_path, name="tb")
    _trainer(tmp_path, cb, logger).fit(model, data)
    a = cb.watcher.arrays()
    assert list(a["steps"]) == list(range(6)) and list(a["hist_steps"]) == [0, 2, 4]
    assert list(a["layers"]) == ["net.0", "net.1", "net.2"]
    acc = EventAccumulator(logger.log_dir, size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    for j, name in enumerate(a["layers"]):
        for k in ("std", "grad_norm"):
            ev = acc.Scalars(f"initlab/{name}/{k}")
            assert [e.step for e in ev] == list(range(6))
            np.testing.assert_allclose([e.value for e in ev], a[k][:, j], rtol=1e-6)
        assert [h.step for h in acc.Histograms(f"initlab/{name}/output")] == [0, 2, 4]
    for j in (0, 2):  # weight layers: the optimizer step's gradient and update
        assert np.isfinite(a["weight_grad_norm"][:, j]).all() and (a["update_ratio"][:, j] > 0).all()
    # step 0 against an independent inspect of the initial weights on the first batch
    x0, y0 = next(iter(data))
    ins = il.inspect(model0, x0, loss_fn=lambda out: torch.nn.functional.mse_loss(out, y0))
    for rec, name in zip(ins.layers, a["layers"]):
        j = list(a["layers"]).index(name)
        assert a["std"][0, j] == pytest.approx(rec.std, rel=1e-5)
        assert a["grad_norm"][0, j] == pytest.approx(rec.grad_norm, rel=1e-5)
        if rec.weight_grad_norm is not None:
            assert a["weight_grad_norm"][0, j] == pytest.approx(rec.weight_grad_norm, rel=1e-5)
    # the history file, readable by Watcher.load and rendered by `initlab report`
    assert cb.path.startswith(logger.log_dir) and cb.path.endswith(FILENAME)
    back = il.Watcher.load(cb.path)
    np.testing.assert_array_equal(back.arrays()["std"], a["std"])
    from initlab.cli import main

    assert main(["report", cb.path]) == 0
    assert (tmp_path / "tb" / "version_0" / FILENAME.replace(".npz", ".html")).is_file()
    assert "initlab/findings/text_summary" in acc.Tags()["tensors"]


def test_nonfinite_step_reported_and_other_loggers(tmp_path, caplog):
    cb = InitlabCallback(every=1, hist_every=None, findings="never")
    logger = CSVLogger(tmp_path, name="csv")
    with caplog.at_level(logging.WARNING, logger="initlab"):
        _trainer(tmp_path, cb, logger, steps=4).fit(Tiny(nan_at=2), _data())
    assert [f for f in cb.findings if f.kind == "nonfinite"], cb.findings
    assert "non-finite" in caplog.text and "step 2" in caplog.text.lower()
    rows = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()
    head = rows[0].split(",")
    assert "initlab/net.0/std" in head
    a = cb.watcher.arrays()
    col = head.index("initlab/net.0/std")
    logged = {int(r.split(",")[head.index("step")]): float(r.split(",")[col]) for r in rows[1:]
              if r.split(",")[col]}
    assert logged == pytest.approx({int(s): a["std"][i, 0] for i, s in enumerate(a["steps"])
                                    if np.isfinite(a["std"][i, 0])}, rel=1e-6)


def test_bad_findings_argument():
    with pytest.raises(ValueError, match="findings.*'sometimes'"):
        InitlabCallback(findings="sometimes")
    with pytest.raises(ValueError, match="every"):
        InitlabCallback(every=0)


def test_gradient_accumulation_steps_on_optimizer_steps(tmp_path):
    """accumulate_grad_batches=2: one Watcher step per optimizer step; the two micro-batches are two calls
    of each module; the weight gradient is the accumulated one (Lightning divides each loss by 2)."""
    model = Tiny()
    model0 = copy.deepcopy(model.net)
    data = _data(n=64, batch=8)
    cb = InitlabCallback(every=1, hist_every=None, findings="never", save=False)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", devices=1, callbacks=[cb], logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        accumulate_grad_batches=2)
    trainer.fit(model, data)
    a = cb.watcher.arrays()
    assert list(a["steps"]) == [0, 1]
    assert list(a["layers"]) == ["net.0", "net.1", "net.2", "net.0#1", "net.1#1", "net.2#1"]
    it = iter(data)
    (x0, y0), (x1, y1) = next(it), next(it)
    loss = sum(torch.nn.functional.mse_loss(model0(x), y) / 2 for x, y in ((x0, y0), (x1, y1)))
    loss.backward()
    for j, name in ((0, "net.0"), (2, "net.2")):
        want = model0[j].weight.grad.norm().item()
        assert a["weight_grad_norm"][0, list(a["layers"]).index(name)] == pytest.approx(want, rel=1e-5)
    # the second micro-batch's forward statistics are those of the same (not yet updated) weights
    with torch.no_grad():
        h = model0[0](x1)
    assert a["std"][0, 3] == pytest.approx(h.std(unbiased=False).item(), rel=1e-5)


def test_float16_mixed_precision_records_the_unscaled_delta(tmp_path):
    """A ``16-mixed`` plugin with a GradScaler whose scale doubles every step (2¹⁰, 2¹¹, 2¹²): the
    callback's δ statistics equal those of the scaled δ seen by a hook of our own divided by that
    step's scale, and the outputs were float16."""
    from lightning.pytorch.plugins import MixedPrecision

    model = Tiny()
    seen: list[dict] = []

    def fwd(m, inp, out):
        seen.append({"dtype": out.dtype})
        out.register_hook(lambda g: seen[-1].__setitem__("g", g.detach().double()))

    h = model.net[0].register_forward_hook(fwd)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=1)
    cb = InitlabCallback(every=1, hist_every=None, findings="never", save=False)
    trainer = L.Trainer(max_steps=3, accelerator="cpu", devices=1, callbacks=[cb], logger=False,
                        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)],
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(model, _data())
    h.remove()
    assert scaler.get_scale() == 2.0 ** 13 and [d["dtype"] for d in seen] == [torch.float16] * 3
    a = cb.watcher.arrays()
    gs = [d["g"] / 2.0 ** (10 + i) for i, d in enumerate(seen)]
    np.testing.assert_allclose(a["grad_norm"][:, 0], [g.norm().item() for g in gs], rtol=1e-5)
    np.testing.assert_allclose(a["grad_std"][:, 0], [g.std(unbiased=False).item() for g in gs], rtol=1e-5)
