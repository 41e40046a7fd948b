"""Private parts of :func:`initlab.initialize`, one concept per module (public entry: ``initialize.py``).

Imports point one way: ``report``, ``layers`` ← ``detect`` ← ``draw`` ← ``lsuv``, ``pretrained``
← ``initlab.initialize``.

* ``report``: :class:`~initlab.initialize.LayerInit` / :class:`~initlab.initialize.InitReport`, the
  per-layer records and their table;
* ``layers``: which parameters are initialized (Linear/Conv weights and biases) and why the others
  are left alone;
* ``detect``: the activation that follows each layer (``nn.Sequential`` order, ``torch.fx`` tracing,
  registration-order guess);
* ``draw``: one layer's weight and bias under a plain scheme (and ``auto``);
* ``lsuv``: layer-sequential unit variance rescaling;
* ``pretrained``: loading a state_dict by name and shape, fallback, freezing.
"""
