"""Step-time overhead of ``InitlabCallback`` inside Lightning (needs ``initlab[lightning]``).

    python benchmarks/lightning_overhead.py [--reps 5] [--steps 120] [--threads 2] [--clock wall|cpu]
                                            [--every N] [--hist-every N|none]

The MLP of benchmarks/overhead.py (10 × Linear(512, 512) + ReLU, batch 256, SGD, cross-entropy) is
trained by ``lightning.Trainer`` on CPU (no logger, checkpointing, progress bar), with and without the
callback at its default settings (every=5, hist_every=50, as ``il.watch``; logging every
``log_every_n_steps`` = 50).
Each repetition runs four fits in the order plain, callback, callback, plain (ABBA: a drift of the
machine over the repetition cancels, and neither mode always runs second), and times the training
batches after the first 10 (from ``on_train_batch_start`` to the last ``on_train_batch_end``), so set-up
and warm-up are excluded. Printed: each repetition's ratio (callback / plain, the two fits of each
summed) and their median.

Goal (issue 12): ≤ 1.03× at the default settings.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

WARMUP = 10


def main() -> None:
    import lightning as L

    from initlab.integrations.lightning import InitlabCallback

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--every", type=int, default=None, help="the callback's every (default: its default)")
    p.add_argument("--hist-every", default=None, help="the callback's hist_every: an int or 'none'")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: time.thread_time (this thread's CPU time; use with --threads 1)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    now = time.thread_time if args.clock == "cpu" else time.perf_counter
    kw: dict = {} if args.every is None else {"every": args.every}
    if args.hist_every is not None:
        kw["hist_every"] = None if args.hist_every.lower() == "none" else int(args.hist_every)

    class MLP(L.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            layers: list[nn.Module] = []
            for _ in range(10):
                layers += [nn.Linear(512, 512), nn.ReLU()]
            self.net = nn.Sequential(*layers, nn.Linear(512, 10))

        def training_step(self, batch, batch_idx):
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == WARMUP:
                self.t0 = now()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.t1 = now()

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256 * 8, 512, generator=g), torch.randint(0, 10, (256 * 8,), generator=g)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=256)

    def fit(watched: bool) -> float:
        clock = Clock()
        cbs = [clock] + ([InitlabCallback(save=False, findings="never", **kw)] if watched else [])
        trainer = L.Trainer(max_steps=args.steps, accelerator="cpu", devices=1, callbacks=cbs, logger=False,
                            enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
        trainer.fit(MLP(), data)
        return (clock.t1 - clock.t0) / (args.steps - WARMUP)

    ratios = []
    for r in range(args.reps):
        t = {False: 0.0, True: 0.0}
        for watched in (False, True, True, False):
            t[watched] += fit(watched) / 2
        ratios.append(t[True] / t[False])
        print(f"rep {r}: plain {t[False] * 1e3:.2f} ms/step, callback {t[True] * 1e3:.2f} ms/step, "
              f"ratio {ratios[-1]:.3f}", flush=True)
    print(f"median ratio {statistics.median(ratios):.3f} (range {min(ratios):.3f}–{max(ratios):.3f}, "
          f"{args.reps} reps, torch {torch.__version__}, {args.threads} threads, clock {args.clock})")


if __name__ == "__main__":
    main()
