"""Probes: see how signals flow through a network, once (:func:`inspect`) or during training (:func:`watch`).

>>> import torch, initlab as il
>>> model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
>>> ins = il.inspect(model, torch.randn(32, 8))
>>> len(ins.layers), ins.layers[0].kind
(3, 'linear')
"""
from __future__ import annotations

from .findings import Finding, Thresholds, diagnose
from .inspection import Inspection, inspect
from .records import LayerStats
from .watcher import Watcher, watch

__all__ = ["inspect", "Inspection", "LayerStats", "watch", "Watcher", "Finding", "Thresholds", "diagnose"]
