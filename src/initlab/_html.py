"""``to_html`` / ``_repr_html_`` for result objects, importing the report lazily.

The report sits above probes and experiments in the dependency order; these methods import it only
when called, so nothing below the report imports it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


class HTMLReportMixin:
    """Gives an object (Inspection, Watcher, experiment Result) its interactive report."""

    def to_html(self, path: str | Path | None = None, **options: Any) -> Path | str:
        """The offline interactive report (:func:`initlab.report.to_html`): written to ``path``,
        or returned as one self-contained page."""
        from initlab.report import to_html

        return to_html(self, path, **options)

    def _repr_html_(self) -> str:  # Jupyter
        from initlab.report import repr_html

        return repr_html(self)
