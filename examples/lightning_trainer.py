"""Watch a Lightning ``Trainer`` with ``InitlabCallback`` (needs ``pip install 'initlab[lightning]'``).

    python examples/lightning_trainer.py [--tiny] [--out DIR]

The per-layer statistics and histograms go to TensorBoard (``tensorboard --logdir DIR``), the findings
to the log, and the history to DIR/lightning/version_0/initlab_watch.npz (``initlab report`` renders it).
"""
from __future__ import annotations

import argparse

import torch

import initlab as il


def main(argv: list[str] | None = None) -> int:
    import lightning as L
    from lightning.pytorch.loggers import TensorBoardLogger

    from initlab.integrations.lightning import InitlabCallback

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="a few steps of a small model (for tests)")
    p.add_argument("--out", default="runs", help="log directory")
    args = p.parse_args(argv)
    width, depth, steps = (16, 3, 6) if args.tiny else (256, 10, 300)

    class Classifier(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = il.models.mlp([32] + [width] * depth + [10], "relu", generator=torch.Generator().manual_seed(0))

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self.net(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(512, 32, generator=g), torch.randint(0, 10, (512,), generator=g))
    cb = InitlabCallback(hist_every=max(steps // 5, 1))
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, callbacks=[cb],
                        logger=TensorBoardLogger(args.out, name="lightning"), log_every_n_steps=min(steps, 50),
                        enable_progress_bar=not args.tiny, enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(Classifier(), torch.utils.data.DataLoader(data, batch_size=64, shuffle=True, generator=g))
    print(cb.path)
    for f in cb.findings:
        print(f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
