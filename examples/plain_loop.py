"""Watch a hand-written training loop and write the statistics to TensorBoard.

    python examples/plain_loop.py [--tiny] [--out DIR]

Writes DIR/history.npz (``initlab report DIR/history.npz`` renders it) and TensorBoard events in DIR/tb
(``tensorboard --logdir DIR/tb``), and prints the findings.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import initlab as il


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="a few steps of a small model (for tests)")
    p.add_argument("--out", default="runs/plain_loop", help="output directory")
    args = p.parse_args(argv)
    width, depth, steps = (16, 3, 6) if args.tiny else (256, 10, 300)
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = il.models.mlp([32] + [width] * depth + [10], "tanh", generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(512, 32, generator=g), torch.randint(0, 10, (512,), generator=g)
    with il.watch(model, hist_every=max(steps // 5, 1)) as w:
        for s in range(steps):
            i = torch.randint(0, 512, (64,), generator=g)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i]), y[i]).backward()
            opt.step()
            w.step()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(w.save(out / "history.npz"))
    try:
        from torch.utils.tensorboard import SummaryWriter

        from initlab.integrations import tensorboard as tb
    except ImportError:
        print("TensorBoard not installed (pip install 'initlab[tensorboard]'): no events written")
    else:
        with SummaryWriter(out / "tb") as writer:
            tb.log(w, writer)
    for f in w.findings():
        print(f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
