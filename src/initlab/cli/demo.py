"""``initlab demo``: the activation table and an init report for a demo model."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="activation table + init report of a demo MLP")
    p.add_argument("--activation", default="tanh", help="activation of the demo MLP (default: tanh)")
    p.add_argument("--scheme", default="auto", help="initialization scheme (default: auto)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    import initlab as il

    print(il.activations.format_table())
    print()
    g = torch.Generator().manual_seed(args.seed)
    model = il.models.mlp([784, 256, 256, 256, 10], args.activation, init=None)
    report = il.initialize(model, args.scheme, generator=g)
    print(f"initialize(mlp([784, 256, 256, 256, 10], {args.activation!r}), {args.scheme!r}):")
    print(report)
    return 0
