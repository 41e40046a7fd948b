"""Hugging Face: a real ``transformers.Trainer`` on a tiny BERT and a synthetic data set with
``InitlabCallback``; the statistics it adds to the Trainer's logs equal the Watcher's arrays, and step 0
equals ``il.inspect`` on the initial model and the (single, order-free) batch."""
from __future__ import annotations

import copy
import os

import pytest
import torch

import initlab as il

transformers = pytest.importorskip("transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from initlab.integrations.huggingface import FILENAME, InitlabCallback  # noqa: E402

N = 8  # one batch per epoch: every step sees the same 8 samples, in some order


class Synthetic(torch.utils.data.Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 100, (N, 12), generator=g)
        self.labels = (self.ids[:, 0] % 2).long()

    def __len__(self):
        return N

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(12, dtype=torch.long), "labels": self.labels[i]}


def _model():
    torch.manual_seed(0)
    cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                  vocab_size=100, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return transformers.BertForSequenceClassification(cfg)


def test_trainer_logs_the_watchers_values(tmp_path):
    model, data = _model(), Synthetic()
    model0 = copy.deepcopy(model)
    args = transformers.TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=N, max_steps=4,
                                          logging_steps=2, report_to=[], use_cpu=True, save_strategy="no",
                                          learning_rate=1e-3, disable_tqdm=True, seed=0)
    cb = InitlabCallback(every=1, hist_every=2)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data)
    cb.attach(trainer)
    trainer.train()
    a = cb.watcher.arrays()
    assert list(a["steps"]) == [0, 1, 2, 3]
    layers = list(a["layers"])
    assert "bert.encoder.layer.1.output.dense" in layers and "classifier" in layers
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert [h["step"] for h in logged] == [2, 4]
    for h in logged:
        i = list(a["steps"]).index(h["step"] - 1)
        keys = [k for k in h if k.startswith("initlab/")]
        assert len(keys) >= 3 * len(layers)  # mean, std, grad_norm of every layer at least
        for k in keys:
            name, stat = k[len("initlab/"):].rsplit("/", 1)
            assert h[k] == pytest.approx(a[stat][i, layers.index(name)], rel=1e-12)
    # step 0 against inspect on the initial weights (the one batch; mean/std/‖δ‖ do not depend on order)
    batch = {k: torch.stack([data[i][k] for i in range(N)]) for k in ("input_ids", "attention_mask", "labels")}
    ins = il.inspect(model0, batch)  # the model's own loss (labels in the batch)
    assert ins.loss_kind == "model"
    checked = 0
    for rec in ins.layers:
        name = rec.name if rec.call_index == 0 else f"{rec.name}#{rec.call_index}"
        if name in layers and rec.std is not None and rec.grad_norm is not None:
            j = layers.index(name)
            assert a["std"][0, j] == pytest.approx(rec.std, rel=1e-4), name
            assert a["grad_norm"][0, j] == pytest.approx(rec.grad_norm, rel=1e-4), name
            checked += 1
    assert checked >= 10
    assert cb.path == str(tmp_path / FILENAME) and il.Watcher.load(cb.path).layers == layers


def test_bad_arguments():
    with pytest.raises(ValueError, match="stats.*'nope'"):
        InitlabCallback(stats=("std", "nope"))
    with pytest.raises(ValueError, match="findings"):
        InitlabCallback(findings="epoch")


def test_callback_divides_delta_by_the_accelerators_grad_scaler(tmp_path):
    """The Trainer's backward goes through its accelerator, which scales the loss by its GradScaler (fp16;
    set here by hand: the CPU Trainer has none). The callback — attached or given to the Trainer — records
    δ of the unscaled loss, equal to a run without a scaler, while the δ itself (our own hook) carried the
    scale."""
    def run(scaled: bool, attach: bool):
        model = _model()
        raw: list[float] = []
        model.classifier.register_forward_hook(
            lambda m, i, o: [o.register_hook(lambda g: raw.append(float(g.norm())))] and None)
        args = transformers.TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=N, max_steps=1,
                                              report_to=[], use_cpu=True, save_strategy="no", learning_rate=1e-3,
                                              disable_tqdm=True, seed=0)
        cb = InitlabCallback(every=1, hist_every=None, findings="never", save=False)
        trainer = transformers.Trainer(model=model, args=args, train_dataset=Synthetic(),
                                       callbacks=None if attach else [cb])
        if attach:
            cb.attach(trainer)
        if scaled:
            trainer.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12)
        trainer.train()
        return cb.watcher.arrays(), raw[0]

    (plain, raw_plain), (scaled, raw_scaled), (given, _) = run(False, True), run(True, True), run(True, False)
    assert raw_scaled == pytest.approx(2.0 ** 12 * raw_plain, rel=1e-4)  # the backward was scaled
    j = list(plain["layers"]).index("classifier")
    for a in (scaled, given):
        assert a["grad_norm"][0, j] == pytest.approx(plain["grad_norm"][0, j], rel=1e-4)
        assert a["grad_norm"][0, j] == pytest.approx(raw_plain, rel=1e-4)
