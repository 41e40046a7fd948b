"""Integrations: the Watcher where people train — TensorBoard, Lightning, the Hugging Face Trainer.

Each submodule imports its framework inside its functions and classes, so ``import
initlab.integrations`` works without any of them; install the extras ``initlab[tensorboard]``,
``initlab[lightning]`` or ``initlab[hf]`` for the one you use.

>>> import initlab.integrations as ii
>>> sorted(ii.__all__)
['huggingface', 'lightning', 'tensorboard']
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["tensorboard", "lightning", "huggingface"]

FILENAME = "initlab_watch.npz"  # the history the callbacks save next to the logs (``initlab report`` renders it)


def lazy_class(module: str, namespace: dict[str, Any], name: str, make: Callable[[], type]
               ) -> Callable[[str], Any]:
    """A module ``__getattr__`` that builds class ``name`` with ``make()`` on first use (so the module
    imports without its framework) and caches it in the module's ``namespace``."""

    def __getattr__(attr: str) -> Any:
        if attr == name:
            namespace[attr] = make()
            return namespace[attr]
        raise AttributeError(f"module {module!r} has no attribute {attr!r}")

    return __getattr__
