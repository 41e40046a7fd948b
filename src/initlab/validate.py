"""Argument checks with one message shape: ``NAME must be VALID, got VALUE`` (scikit-learn's habit of
validating up front and naming the parameter, the value received and what is accepted).

Torch-free, at the bottom of initlab's layers, so every part validates the same way.

>>> one_of("mode", "fan_in", ("fan_in", "fan_out"))
'fan_in'
>>> check("tol", 2.0, 0 < 2.0 < 1, "a number in (0, 1)")
Traceback (most recent call last):
...
ValueError: tol must be a number in (0, 1), got 2.0
>>> non_negative_int("seed", -1)
Traceback (most recent call last):
...
ValueError: seed must be a non-negative integer, got -1
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Collection, TypeVar

__all__ = ["is_number", "is_int", "check", "one_of", "non_negative_int", "positive_int"]

T = TypeVar("T")


def is_number(v: Any) -> bool:
    """A finite real number (bools are not numbers here)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def is_int(v: Any) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check(name: str, value: T, ok: bool, valid: str) -> T:
    """Return ``value`` if ``ok``, else raise ``ValueError("NAME must be VALID, got VALUE")``."""
    if not ok:
        raise ValueError(f"{name} must be {valid}, got {value!r}")
    return value


def one_of(name: str, value: T, valid: Collection[Any]) -> T:
    """``value`` if it is one of ``valid``."""
    return check(name, value, value in valid, f"one of {tuple(valid)}")


def non_negative_int(name: str, value: Any) -> int:
    """``int(value)`` for an integer ≥ 0."""
    return int(check(name, value, is_int(value) and value >= 0, "a non-negative integer"))


def positive_int(name: str, value: Any) -> int:
    """``int(value)`` for an integer ≥ 1."""
    return int(check(name, value, is_int(value) and value >= 1, "an integer >= 1"))
