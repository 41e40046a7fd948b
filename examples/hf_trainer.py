"""Watch a Hugging Face ``Trainer`` on a small BERT with ``InitlabCallback`` (``pip install 'initlab[hf]'``).

    HF_HUB_OFFLINE=1 python examples/hf_trainer.py [--tiny] [--out DIR]

The model is built from a config (nothing is downloaded) and trained on a synthetic task (label = parity
of the first token). The latest per-layer statistics join every training log (``initlab/{layer}/{stat}``,
also sent to the ``report_to`` integrations), the findings go to the log, and the history to
DIR/initlab_watch.npz (``initlab report`` renders it).
"""
from __future__ import annotations

import argparse

import torch


class Parity(torch.utils.data.Dataset):
    def __init__(self, n: int, length: int, vocab: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, vocab, (n, length), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids = self.ids[i]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids[0] % 2}


def main(argv: list[str] | None = None) -> int:
    import transformers

    from initlab.integrations.huggingface import InitlabCallback

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="a few steps of a tiny model (for tests)")
    p.add_argument("--out", default="runs/hf_trainer", help="output directory")
    args = p.parse_args(argv)
    hidden, layers, steps = (32, 2, 4) if args.tiny else (128, 4, 200)
    torch.manual_seed(0)
    cfg = transformers.BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                                  intermediate_size=2 * hidden, vocab_size=100)
    model = transformers.BertForSequenceClassification(cfg)
    targs = transformers.TrainingArguments(output_dir=args.out, per_device_train_batch_size=16, max_steps=steps,
                                           logging_steps=max(steps // 4, 1), report_to=[], use_cpu=True,
                                           save_strategy="no", learning_rate=1e-3, disable_tqdm=args.tiny, seed=0)
    trainer = transformers.Trainer(model=model, args=targs, train_dataset=Parity(256, 16, cfg.vocab_size))
    cb = InitlabCallback(hist_every=max(steps // 4, 1)).attach(trainer)
    trainer.train()
    print(cb.path)
    for f in cb.findings:
        print(f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
