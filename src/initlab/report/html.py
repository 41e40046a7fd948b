"""One offline HTML report per run (and an index for a tour), built from a run directory only.

Layout on disk (decided here; see ``initlab.report`` for the rule)::

    OUT/index.html            write_index(OUT)        # a tour: every run, thumbnail + headline numbers
    OUT/_assets/              uPlot (MIT, vendored) + report.js/.css, written once, shared
    OUT/RUN/report.html       write_run_report(RUN)   # uses ../_assets when OUT/_assets is ours
    RUN/_assets/              ... otherwise, for a single run

The data goes into the page as one JSON blob (``<script type="application/json">``, every ``<``
escaped as ``\\u003c`` so no ``</script>`` can close it); histories are downsampled to at most
``MAX_STEPS`` steps per series and ``MAX_HISTS`` histogram snapshots so a report stays small.
Nothing is fetched from the network: the page loads only files beside it.
"""
from __future__ import annotations

import html
import json
import math
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from initlab import formats
from initlab.report import _data
from initlab.report._data import ReportData, VariantData

MAX_STEPS = 200     # points per series (steps of a curve, of a per-layer statistic)
MAX_HISTS = 50      # histogram snapshots per variant
# budgets over the whole page (numbers in the JSON), so wide or many-variant runs stay a few MB:
# fewer steps / snapshots are kept when layers x bins x variants would exceed them
STAT_BUDGET = 400_000
HIST_BUDGET = 400_000
ASSETS_DIR = "_assets"
ASSET_FILES = ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE", "report.js", "report.css")
MARKER = "initlab-assets.json"    # says an _assets folder is ours (safe to reuse or replace)
UPLOT_VERSION = "1.6.32"
# Okabe & Ito (2008), "Color Universal Design": safe for the common colour-vision deficiencies
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

__all__ = ["write_run_report", "write_index", "to_html", "write_assets", "render", "MAX_STEPS",
           "MAX_HISTS"]


# ------------------------------------------------------------------------------------ assets
def _asset_bytes(name: str) -> bytes:
    return resources.files("initlab.report").joinpath("assets", name).read_bytes()


def write_assets(directory: str | Path) -> Path:
    """Write the shared assets (uPlot, report.js, report.css) into ``directory``; return it.

    Files already identical are left alone, so reports written in a loop don't rewrite them.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for name in ASSET_FILES:
        data = _asset_bytes(name)
        target = d / name
        if not (target.is_file() and target.read_bytes() == data):
            formats.write_bytes(target, data)
    marker = json.dumps({"uplot": UPLOT_VERSION, "files": list(ASSET_FILES)}, indent=1) + "\n"
    if not (d / MARKER).is_file() or (d / MARKER).read_text() != marker:
        formats.write_text(d / MARKER, marker)
    return d


def _is_ours(assets: Path) -> bool:
    return (assets / MARKER).is_file()


def _assets_for_run(run_dir: Path) -> Path:
    """``RUN/../_assets`` when the parent already holds our shared assets (a tour), else ``RUN/_assets``."""
    shared = run_dir.parent / ASSETS_DIR
    return shared if _is_ours(shared) else run_dir / ASSETS_DIR


# ---------------------------------------------------------------------------------- writing
def write_run_report(run_dir: str | Path, *, assets_dir: str | Path | None = None) -> Path:
    """Write ``RUN_DIR/report.html`` (and the assets, once) from the run directory; return its path.

    Reads only config.json, summary.json, metrics.csv, history.npz, findings.json and figures/*.png;
    writes report.html and the assets folder, nothing else. A run directory with an unknown
    ``format_version`` raises ValueError.
    """
    d = Path(run_dir)
    data = _data.load_run_dir(d)
    assets = Path(assets_dir) if assets_dir is not None else _assets_for_run(d)
    write_assets(assets)
    out = d / "report.html"
    _atomic_write(out, render(data, assets_href=_rel(assets, d)))
    return out


def write_index(out_dir: str | Path) -> Path:
    """Write ``OUT/index.html`` for a tour: every run directory below OUT with a thumbnail, its
    question and headline numbers (marked agree/disagree), linking to its report.

    Also (re)writes each run's report.html to use the shared ``OUT/_assets`` and removes a run's own
    ``_assets`` folder when it is ours (written by write_run_report before the tour's index).
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise ValueError(f"report: output folder {str(out)!r} does not exist")
    assets = write_assets(out / ASSETS_DIR)
    runs = sorted(p.parent for p in out.glob("*/config.json"))
    cards = []
    for run in runs:
        try:
            data = _data.load_run_dir(run)
        except ValueError as exc:
            cards.append(_index_card_error(run, str(exc)))
            continue
        _atomic_write(run / "report.html", render(data, assets_href=_rel(assets, run)))
        own = run / ASSETS_DIR
        if own.is_dir() and _is_ours(own):
            shutil.rmtree(own)
        cards.append(_index_card(run, data, out))
    body = (f"<header class='top'><h1>initlab experiments</h1><p class='muted'>{len(runs)} runs "
            f"in {html.escape(str(out.name))}; each card links to its report.</p></header>"
            f"<main class='cards'>{''.join(cards) or '<p>No run directories found.</p>'}</main>")
    path = out / "index.html"
    _atomic_write(path, _page("initlab experiments", body, _rel(assets, out), script=False))
    return path


def to_html(obj: Any, path: str | Path | None = None, *, title: str | None = None,
            self_contained: bool = False) -> Path | str:
    """The interactive report of a run (``Result`` or run-directory path), an ``Inspection``, a
    ``Watcher`` (or its ``.arrays()`` / a saved ``.npz``).

    With ``path``: writes the page there (assets in ``_assets/`` beside it, or inlined with
    ``self_contained=True``) and returns the path. Without: returns the page as a self-contained
    string (for notebooks).

    >>> import numpy as np
    >>> arrays = {"format_version": np.array(1), "steps": np.arange(3), "layers": np.array(["fc1"]),
    ...           "std": np.ones((3, 1))}
    >>> "uPlot" in to_html(arrays)
    True
    """
    data = _data.load(obj, title=title)
    if path is None:
        return render(data, inline=True)
    p = Path(path)
    if p.suffix.lower() not in (".html", ".htm"):
        p = p / "report.html" if p.is_dir() else p.with_suffix(".html")
    p.parent.mkdir(parents=True, exist_ok=True)
    if self_contained:
        page = render(data, inline=True)
    else:
        assets = write_assets(p.parent / ASSETS_DIR)
        page = render(data, assets_href=_rel(assets, p.parent))
    # images of a run are referenced relative to the run dir
    if data.source_dir is not None and data.figures and p.parent.resolve() != data.source_dir.resolve():
        prefix = _rel(data.source_dir, p.parent)
        page = page.replace('src="figures/', f'src="{prefix}/figures/')
    _atomic_write(p, page)
    return p


def _atomic_write(path: Path, text: str) -> None:
    formats.write_text(path, text)


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix()


# ----------------------------------------------------------------------------- JSON payload
def _pick(n: int, k: int) -> np.ndarray:
    """At most k indices of range(n), evenly spread, first and last always kept."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def _num(v: float, digits: int = 4) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.{digits}g}")


def _nums(a: Any, digits: int = 4) -> Any:
    """Nested lists of rounded numbers, NaN/inf → null (JSON has neither)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return _num(float(a), digits)
    flat = [_num(v, digits) for v in a.ravel().tolist()]
    if a.ndim == 1:
        return flat
    arr = np.empty(len(flat), dtype=object)
    arr[:] = flat
    return arr.reshape(a.shape).tolist()


def _counts(a: np.ndarray) -> Any:
    a = np.asarray(a, dtype=np.float64)
    if np.isfinite(a).all() and np.all(a == np.round(a)):
        return a.astype(np.int64).tolist()
    return _nums(a, 4)


def payload(data: ReportData) -> dict[str, Any]:
    """The JSON the page's script draws from (downsampled, rounded)."""
    colors = {v.name: OKABE_ITO[i % len(OKABE_ITO)] for i, v in enumerate(data.variants)}
    # curves: one chart per metric, one series per (variant, split)
    series: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for step, variant, split, metric, value in data.metrics:
        series.setdefault((metric, variant, split), []).append((step, value))
        colors.setdefault(variant, OKABE_ITO[len(colors) % len(OKABE_ITO)])
    over_steps = _metrics_over_steps(data)
    curves: dict[str, list[dict]] = {}
    for (metric, variant, split), pts in sorted(series.items()):
        if metric not in over_steps:
            continue            # one value per series: shown as a table, not a chart
        pts.sort()
        idx = _pick(len(pts), MAX_STEPS)
        curves.setdefault(metric, []).append({
            "label": f"{variant} · {split}", "variant": variant, "split": split,
            "x": [pts[i][0] for i in idx], "y": [_num(pts[i][1], 5) for i in idx]})
    nv = max(1, len(data.variants))
    variants = [_variant_payload(v, nv) for v in data.variants]
    return {"kind": data.kind, "title": data.title, "colors": colors,
            "curves": [{"metric": m, "series": s} for m, s in curves.items()],
            "variants": variants}


def _metrics_over_steps(data: ReportData) -> set[str]:
    """Metrics that some (variant, split) recorded at two or more steps."""
    steps: dict[tuple[str, str, str], set[int]] = {}
    for step, variant, split, metric, _ in data.metrics:
        steps.setdefault((metric, variant, split), set()).add(step)
    return {k[0] for k, v in steps.items() if len(v) > 1}


def _single_metrics(data: ReportData) -> str:
    """Metrics with one value per (variant, split), as a table: rows variant · split, columns metric."""
    curves = _metrics_over_steps(data)
    cells: dict[tuple[str, str], dict[str, float]] = {}
    metrics: list[str] = []
    for _, variant, split, metric, value in data.metrics:
        if metric in curves:
            continue
        if metric not in metrics:
            metrics.append(metric)
        cells.setdefault((variant, split), {})[metric] = value
    if not cells:
        return ""
    head = "".join(f"<th>{_esc(m)}</th>" for m in metrics)
    rows = "".join(
        f"<tr><td><strong>{_esc(v)}</strong> <span class='muted'>{_esc(sp)}</span></td>"
        + "".join(f"<td class='num'>{_fmt(c.get(m))}</td>" for m in metrics) + "</tr>"
        for (v, sp), c in cells.items())
    return ("<section id='values'><h2>Measured values</h2><p class='muted'>Metrics recorded once per "
            "variant (from metrics.csv).</p><div class='scroll'><table class='values'>"
            f"<thead><tr><th>variant · split</th>{head}</tr></thead><tbody>{rows}</tbody></table></div></section>")


def _stats_payload(v: VariantData, n_variants: int = 1) -> dict[str, Any]:
    """Each statistic over its own recorded steps (sparse extended stats keep their rows)."""
    out = {}
    per_stat = STAT_BUDGET // (n_variants * max(1, len(v.stats)) * max(1, len(v.layers)))
    k_steps = int(np.clip(per_stat, 20, MAX_STEPS))
    for k in v.stats:
        steps, rows = _data.recorded(v, k)
        if len(steps):
            i = _pick(len(steps), k_steps)
            out[k] = {"steps": steps[i].tolist(), "values": _nums(rows[i], 4)}
    return out


def _variant_payload(v: VariantData, n_variants: int = 1) -> dict[str, Any]:
    si = _pick(len(v.steps), MAX_STEPS)
    values_per_snapshot = sum(h.counts.shape[1] for h in v.hists if h is not None) or 1
    hi = _pick(len(v.hist_steps), int(np.clip(HIST_BUDGET // (n_variants * values_per_snapshot), 2, MAX_HISTS)))
    hists = []
    for h in v.hists:
        if h is None:
            hists.append(None)
            continue
        counts, edges = h.counts[hi], h.edges[hi]
        widths = np.diff(edges, axis=1)
        uniform = bool(np.all(np.isfinite(edges))) and np.allclose(
            widths, widths[:, :1], rtol=1e-6, atol=1e-12 * max(1.0, float(np.abs(edges).max())))
        entry = {"counts": _counts(counts)}
        if uniform:
            entry["range"] = _nums(edges[:, [0, -1]], 6)
        else:
            entry["edges"] = _nums(edges, 5)
        hists.append(entry)
    return {
        "name": v.name, "layers": v.layers, "steps": v.steps[si].tolist(),
        "stats": _stats_payload(v, n_variants),
        "predicted_std": _nums(v.predicted_std, 4) if v.predicted_std is not None else None,
        "hist": {"steps": v.hist_steps[hi].tolist(), "layers": hists} if any(hists) else None,
    }


def _json_blob(obj: Any) -> str:
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# -------------------------------------------------------------------------------- the page
def render(data: ReportData, *, assets_href: str = ASSETS_DIR, inline: bool = False) -> str:
    """The report page of ``data`` as a string (``inline``: assets embedded, for notebooks)."""
    pl = payload(data)
    v_any = bool(pl["variants"])
    multi_step = any(len(v["steps"]) > 1 for v in pl["variants"])
    has_hist = any(v["hist"] for v in pl["variants"])
    nav: list[tuple[str, str]] = []      # (section id, link text)
    parts = [_header(data)]

    def add(ident: str, link: str, section: str) -> None:
        nav.append((ident, link))
        parts.append(section)

    if data.summary:
        add("numbers", "Numbers", _numbers(data.summary))
    values = _single_metrics(data)
    if values:
        add("values", "Values", values)
    if pl["curves"]:
        add("curves", "Training curves", _section(
            "curves", "Training curves", "Loss, accuracy and the other recorded metrics over steps. "
            "Drag to zoom, double-click to reset, click a legend entry to hide a series."))
    if v_any:
        add("bylayer", "By layer", _section(
            "bylayer", "Per-layer statistics by layer", "Forward std and mean |x| of each layer's output, "
            "backward gradient norm, dead and saturated fractions; dashed: theory's predicted std."))
    if multi_step:
        add("oversteps", "Over steps", _section(
            "oversteps", "Per-layer statistics over training", "One line per layer (dark: first layer, "
            "light: last). Pick the variant; click a legend entry to hide a layer."))
    if has_hist:
        add("hist", "Histograms", _section(
            "hist", "Activation histograms", "Pick a layer and move the step slider; one chart per variant."))
        if any(len(v["hist"]["steps"]) > 1 for v in pl["variants"] if v["hist"]):
            add("colorful", "Colorful dimension", _section(
                "colorful", "Colorful dimension",
                "The selected layer's activation histogram over training as an image (after fastai): "
                "x = step, y = activation value, brightness = log(1 + count). A healthy layer shows a "
                "smooth band; a collapse to zero or spikes at the ends show as bright edges."))
    if any(data.findings.values()):
        add("findings", "Findings", _findings(data.findings))
    if data.figures:
        add("figures", "Figures", _figures(data.figures))
    add("config", "Config" if data.config else "Versions", _config(data))
    navhtml = "".join(f"<a href='#{i}'>{html.escape(t)}</a>" for i, t in nav)
    body = (f"<nav class='nav'><strong>initlab</strong>{navhtml}</nav><main>{''.join(parts)}</main>"
            f"<script type='application/json' id='initlab-data'>{_json_blob(pl)}</script>")
    return _page(f"{data.title} · initlab report", body, assets_href, inline=inline)


def _page(title: str, body: str, assets_href: str, *, inline: bool = False, script: bool = True) -> str:
    if inline:
        css = "".join(f"<style>{_asset_bytes(n).decode()}</style>" for n in ("uPlot.min.css", "report.css"))
        js = "".join("<script>" + _asset_bytes(n).decode().replace("</script", "<\\/script") + "</script>"
                     for n in ("uPlot.iife.min.js", "report.js")) if script else ""
    else:
        a = html.escape(assets_href)
        css = (f"<link rel='stylesheet' href='{a}/uPlot.min.css'>"
               f"<link rel='stylesheet' href='{a}/report.css'>")
        js = (f"<script src='{a}/uPlot.iife.min.js'></script><script src='{a}/report.js'></script>"
              if script else "")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            # no network: the page may load only what lies beside it
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'self' 'unsafe-inline' "
            "file: data: blob:; connect-src 'none'\">"
            f"<title>{html.escape(title)}</title>{css}</head><body>{body}{js}</body></html>\n")


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "—" if v is None else str(v).lower()
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}"
    return _esc(v)


def _header(data: ReportData) -> str:
    m = data.meta
    bits = [f"<h1>{_esc(data.title)}</h1>"]
    if data.kind == "run":
        q = m.get("description")
        bits.append(f"<p class='question'>{_esc(q)}</p>" if q else
                    "<p class='question muted'>(This run's config.json carries no description.)</p>")
        if m.get("reference"):
            bits.append(f"<p><span class='label'>Reproduces</span> {_esc(m['reference'])}</p>")
        facts = [("experiment", m.get("experiment")), ("seed", m.get("seed")),
                 ("quick", m.get("quick")), ("format", m.get("format_version"))]
    else:
        facts = [("source", {"watcher": "Watcher history", "inspection": "Inspection"}[data.kind]),
                 ("variants", ", ".join(v.name for v in data.variants)),
                 ("layers", max((len(v.layers) for v in data.variants), default=0))]
    bits.append("<p class='facts'>" + " ".join(
        f"<span><span class='label'>{_esc(k)}</span> {_fmt(v)}</span>" for k, v in facts if v is not None)
        + "</p>")
    return f"<header class='top' id='top'>{''.join(bits)}</header>"


def _section(ident: str, title: str, note: str) -> str:
    return (f"<section id='{ident}'><h2>{_esc(title)}</h2><p class='muted'>{_esc(note)}</p>"
            f"<div class='controls' id='{ident}-controls'></div><div class='grid' id='{ident}-charts'></div>"
            "</section>")


def _numbers(summary: dict[str, Any]) -> str:
    rows = []
    for key in sorted(summary):
        e = summary[key] if isinstance(summary[key], dict) else {"ours": summary[key]}
        ref = e.get("reference") if isinstance(e.get("reference"), dict) else {}
        verdict = _data.verdict(e)
        cls = verdict.replace(" ", "-")
        rows.append(
            f"<tr class='{cls}'><td><code>{_esc(key)}</code><div class='muted'>{_esc(e.get('description') or '')}"
            f"</div></td><td class='num'>{_fmt(e.get('ours'))}</td>"
            f"<td class='num'>{_fmt(ref.get('value'))}</td><td class='num'>{_tolerance(ref)}</td>"
            f"<td>{_esc(ref.get('source') or '')}</td><td>{_badge(verdict)}</td></tr>")
    return ("<section id='numbers'><h2>Our numbers beside the published ones</h2>"
            "<p class='muted'>agree: |ours − published| ≤ tolerance (or within the stated ×/÷ factor).</p><table class='numbers'>"
            "<thead><tr><th>quantity</th><th>ours</th><th>published</th><th>tolerance</th><th>source</th>"
            f"<th>verdict</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


def _badge(verdict: str) -> str:
    if verdict == "no reference":
        return "<span class='muted' title='no published value'>—</span>"
    return f"<span class='verdict {verdict.replace(' ', '-')}'>{_esc(verdict)}</span>"


def _tolerance(ref: dict[str, Any]) -> str:
    if ref.get("factor") is not None:
        return "×/÷ " + _fmt(ref["factor"])
    return "± " + _fmt(ref["tolerance"]) if ref.get("tolerance") is not None else ""


def _findings(findings: dict[str, list[dict]]) -> str:
    out = ["<section id='findings'><h2>Findings</h2>"]
    for variant, items in findings.items():
        if not items:
            continue
        out.append(f"<h3>{_esc(variant)}</h3><ul class='findings'>")
        for f in items:
            sev = str(f.get("severity", "info"))
            ev = f.get("evidence") or {}
            evh = "".join(f"<tr><td>{_esc(k)}</td><td class='num'>{_fmt(v)}</td></tr>" for k, v in ev.items()) \
                if isinstance(ev, dict) else f"<tr><td>{_esc(ev)}</td></tr>"
            layers = ", ".join(map(str, f.get("layers") or []))
            out.append(
                f"<li class='finding {_esc(sev)}'><span class='sev {_esc(sev)}'>{_esc(sev)}</span> "
                f"<strong>{_esc(f.get('kind', ''))}</strong>"
                f"{' · <span class=muted>' + _esc(layers) + '</span>' if layers else ''}"
                f"<p>{_esc(f.get('message', ''))}</p>"
                f"{'<p class=fix><span class=label>Fix</span> ' + _esc(f['fix']) + '</p>' if f.get('fix') else ''}"
                f"{'<table class=evidence>' + evh + '</table>' if evh else ''}</li>")
        out.append("</ul>")
    out.append("</section>")
    return "".join(out)


def _figures(figs: Iterable[str]) -> str:
    imgs = "".join(f"<figure><img src=\"{html.escape(f)}\" alt=\"{html.escape(Path(f).stem)}\">"
                   f"<figcaption>{html.escape(Path(f).stem)}</figcaption></figure>" for f in figs)
    return f"<section id='figures'><h2>Figures</h2><div class='figs'>{imgs}</div></section>"


def _config(data: ReportData) -> str:
    vers = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in data.versions.items())
    if not data.config:
        return ("<section id='config'><h2>Versions</h2>"
                f"<table class='versions'>{vers}</table></section>")
    cfg = json.dumps(data.config, indent=2, sort_keys=True, default=str)
    return ("<section id='config'><h2>Resolved config and versions</h2><div class='two'>"
            f"<pre class='config'>{_esc(cfg)}</pre><table class='versions'>{vers}</table></div></section>")


# ------------------------------------------------------------------------------------ index
INDEX_ROWS = 8  # summary rows shown on an index card


def _index_card(run: Path, data: ReportData, out: Path) -> str:
    href = _rel(run / "report.html", out)
    thumb = ""
    if data.figures:
        thumb = (f"<img class='thumb' src=\"{html.escape(_rel(run / data.figures[0], out))}\" "
                 f"alt=\"{html.escape(data.title)}\">")
    entries = {k: (v if isinstance(v, dict) else {"ours": v}) for k, v in data.summary.items()}
    # headline numbers: those with a published reference first, at most INDEX_ROWS in a card
    keys = sorted(entries, key=lambda k: (not isinstance(entries[k].get("reference"), dict), k))
    rows = []
    for key in keys[:INDEX_ROWS]:
        e = entries[key]
        ref = e.get("reference") if isinstance(e.get("reference"), dict) else {}
        verdict = _data.verdict(e)
        pub = f" <span class='muted'>vs {_fmt(ref.get('value'))}</span>" if ref.get("value") is not None else ""
        rows.append(f"<tr><td><code>{_esc(key)}</code></td><td class='num'>{_fmt(e.get('ours'))}{pub}</td>"
                    f"<td>{_badge(verdict)}</td></tr>")
    q, ref = data.meta.get("description"), data.meta.get("reference")
    return (f"<article class='card'><a href=\"{html.escape(href)}\">{thumb}<h2>{_esc(data.title)}</h2></a>"
            f"{'<p>' + _esc(q) + '</p>' if q else ''}"
            f"{'<p class=muted><span class=label>Reproduces</span> ' + _esc(ref) + '</p>' if ref else ''}"
            f"<table class='numbers small'>{''.join(rows)}</table>"
            f"{f'<p class=muted>… and {len(keys) - INDEX_ROWS} more numbers in the report</p>' if len(keys) > INDEX_ROWS else ''}"
            f"<p><a href=\"{html.escape(href)}\">Open the report →</a></p></article>")


def _index_card_error(run: Path, msg: str) -> str:
    return f"<article class='card error'><h2>{_esc(run.name)}</h2><p>{_esc(msg)}</p></article>"
