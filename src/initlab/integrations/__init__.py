"""Integrations: the Watcher where people train — TensorBoard, Lightning, the Hugging Face Trainer.

Each submodule imports its framework inside its functions and classes, so ``import
initlab.integrations`` works without any of them; install the extras ``initlab[tensorboard]``,
``initlab[lightning]`` or ``initlab[hf]`` for the one you use.

>>> import initlab.integrations as ii
>>> sorted(ii.__all__)
['huggingface', 'lightning', 'tensorboard']
"""
from __future__ import annotations

__all__ = ["tensorboard", "lightning", "huggingface"]

FILENAME = "initlab_watch.npz"  # the history the callbacks save next to the logs (``initlab report`` renders it)
