"""The report's HTML: a run's page (and a Watcher's or an Inspection's) and a tour's index cards.

A run's page reads top to bottom as a reader asks: what was the question, what did we find (the
headline figure, then our numbers beside the published ones with a verdict each), what the probes
flagged (findings), then the details (training curves, per-layer statistics, histograms, values
recorded once, the other figures, the resolved config). Keys are listed in natural order
(``layer2`` before ``layer10``); a table longer than ``FOLD_ROWS`` rows folds into ``<details>``.
Every text from a file is HTML-escaped; numbers are written by :func:`initlab.formats.fmt`.

>>> "<details" in fold("3 rows", "<table></table>", 3), "<details" in fold("20 rows", "<table></table>", 20)
(False, True)
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Iterable

from initlab import formats
from initlab.report.assets import ASSETS_DIR, head_links, script_tags
from initlab.report.data import ReportData, natural_key, verdict
from initlab.report.payload import json_blob, metrics_over_steps, payload

__all__ = ["render", "page", "fold", "index_card", "index_card_error", "index_page", "FOLD_ROWS", "INDEX_ROWS"]

FOLD_ROWS = 12   # a table with more rows than this folds into <details>
INDEX_ROWS = 8   # summary rows shown on an index card
CONFIG_LINES = 40  # a longer resolved config folds


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _fmt(v: Any) -> str:
    """A number (or any value) for a table cell: :func:`initlab.formats.fmt`, HTML-escaped."""
    return _esc(formats.fmt(v))


def fold(summary: str, table: str, rows: int, *, limit: int = FOLD_ROWS) -> str:
    """``table`` as is when it has at most ``limit`` rows, else folded under ``summary``."""
    if rows <= limit:
        return table
    return f"<details class='fold'><summary>{_esc(summary)}</summary>{table}</details>"


# ---------------------------------------------------------------------------------- the page
def render(data: ReportData, *, assets_href: str = ASSETS_DIR, inline: bool = False) -> str:
    """The report page of ``data`` as a string (``inline``: assets embedded, for notebooks)."""
    pl = payload(data)
    nav: list[tuple[str, str]] = []      # (section id, link text)
    parts = [_header(data)]

    def add(ident: str, link: str, section: str) -> None:
        if section:
            nav.append((ident, link))
            parts.append(section)

    headline = data.meta.get("headline_figure")
    if data.summary or headline:
        add("headline", "Results", _headline(data.summary, headline))
    if any(data.findings.values()):
        add("findings", "Findings", _findings(data.findings))
    if data.transformer:
        add("transformer", "Transformer", _transformer(data.transformer))
    for ident, link, title, note, show in _chart_sections(pl):
        if show:
            add(ident, link, _section(ident, title, note))
    add("values", "Values", _single_metrics(data))
    others = [f for f in data.figures if f != headline]
    if others:
        add("figures", "Figures", _figures(others, "Figures" if not headline else "More figures"))
    add("config", "Config" if data.config else "Versions", _config(data))
    navhtml = "".join(f"<a href='#{i}'>{html.escape(t)}</a>" for i, t in nav)
    body = (f"<nav class='nav'><strong>initlab</strong>{navhtml}</nav><main>{''.join(parts)}</main>"
            f"<script type='application/json' id='initlab-data'>{json_blob(pl)}</script>")
    return page(f"{data.title} · initlab report", body, assets_href, inline=inline)


def _chart_sections(pl: dict[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """(id, nav link, title, note, shown) of the sections the page's script draws into."""
    vs = pl["variants"]
    hist = [v for v in vs if v["hist"]]
    return [
        ("curves", "Training curves", "Training curves", "Loss, accuracy and the other recorded metrics "
         "over steps. Drag to zoom, double-click to reset, click a legend entry to hide a series.",
         bool(pl["curves"])),
        ("bylayer", "By layer", "Per-layer statistics by layer", "Forward std and mean |x| of each "
         "layer's output, backward gradient norm, dead and saturated fractions; dashed: theory's "
         "predicted std. The x axis lists one variant's layers (pick which when variants differ); the "
         "other variants are drawn at the layers of the same name.", bool(vs)),
        ("oversteps", "Over steps", "Per-layer statistics over training", "One line per layer (dark: "
         "first layer, light: last). Pick the variant; click a legend entry to hide a layer.",
         any(len(v["steps"]) > 1 for v in vs)),
        ("hist", "Histograms", "Activation histograms", "Pick a layer and move the step slider; one "
         "chart per variant.", bool(hist)),
        ("colorful", "Colorful dimension", "Colorful dimension", "The selected layer's activation "
         "histogram over training as an image (after fastai): x = step, y = activation value, "
         "brightness = log(1 + count). A healthy layer shows a smooth band; a collapse to zero or "
         "spikes at the ends show as bright edges.", any(len(v["hist"]["steps"]) > 1 for v in hist)),
    ]


def page(title: str, body: str, assets_href: str, *, inline: bool = False, script: bool = True) -> str:
    """A whole HTML document around ``body``, loading the assets from ``assets_href`` (or inlined)."""
    js = script_tags(assets_href, inline=inline) if script else ""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            # no network: the page may load only what lies beside it
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'self' 'unsafe-inline' "
            "file: data: blob:; connect-src 'none'\">"
            f"<title>{html.escape(title)}</title>{head_links(assets_href, inline=inline)}</head>"
            f"<body>{body}{js}</body></html>\n")


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


# --------------------------------------------------------------------- headline and numbers
def _entries(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(key, entry, verdict) of every summary entry, keys in natural order."""
    out = []
    for key in sorted(summary, key=natural_key):
        e = summary[key] if isinstance(summary[key], dict) else {"ours": summary[key]}
        out.append((key, e, verdict(e)))
    return out


def _ref(e: dict[str, Any]) -> dict[str, Any]:
    return e["reference"] if isinstance(e.get("reference"), dict) else {}


def _headline(summary: dict[str, Any], figure: str | None) -> str:
    """The headline figure, the tally of verdicts, our numbers beside the published ones (always
    shown), then our other numbers (folded when long)."""
    entries = _entries(summary)
    judged = [x for x in entries if x[2] != "no reference"]
    rest = [x for x in entries if x[2] == "no reference"]
    out = ["<section id='headline'><h2>Results</h2>"]
    if figure:
        out.append(f"<figure class='headline'><img src=\"{html.escape(figure)}\" "
                   f"alt=\"{html.escape(Path(figure).stem)}\"><figcaption>{html.escape(Path(figure).stem)}"
                   "</figcaption></figure>")
    if judged:
        out.append(_tally(judged))
        rows = "".join(_number_row(k, e, v) for k, e, v in judged)
        out.append("<table class='numbers verdicts'><thead><tr><th>quantity</th><th>ours</th>"
                   "<th>published</th><th>tolerance</th><th>source</th><th>verdict</th></tr></thead>"
                   f"<tbody>{rows}</tbody></table>")
    if rest:
        title = "Our other numbers (no published value)" if judged else "Our numbers"
        rows = "".join(f"<tr class='no-reference'><td><code>{_esc(k)}</code><div class='muted'>"
                       f"{_esc(e.get('description') or '')}</div></td><td class='num'>{_fmt(e.get('ours'))}"
                       "</td></tr>" for k, e, _ in rest)
        table = (f"<table class='numbers others'><thead><tr><th>quantity</th><th>ours</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>")
        out.append(f"<h3>{_esc(title)}</h3>" + fold(f"{len(rest)} numbers: show them", table, len(rest)))
    out.append("</section>")
    return "".join(out)


def _tally(judged: list[tuple[str, dict[str, Any], str]]) -> str:
    """One line: how many of the published numbers we reproduce, and which we do not."""
    agree = sum(v == "agree" for _, _, v in judged)
    words = [f"<strong>{agree} of {len(judged)}</strong> published numbers reproduced"]
    for kind in ("disagree", "not measured"):
        keys = [k for k, _, v in judged if v == kind]
        if keys:
            words.append(f"{_badge(kind)} " + ", ".join(f"<code>{_esc(k)}</code>" for k in keys))
    return ("<p class='tally'>" + " · ".join(words) + "</p>"
            "<p class='muted'>agree: |ours − published| ≤ tolerance (or within the stated ×/÷ factor).</p>")


def _number_row(key: str, e: dict[str, Any], v: str) -> str:
    ref = _ref(e)
    return (f"<tr class='{v.replace(' ', '-')}'><td><code>{_esc(key)}</code><div class='muted'>"
            f"{_esc(e.get('description') or '')}</div></td><td class='num'>{_fmt(e.get('ours'))}</td>"
            f"<td class='num'>{_fmt(ref.get('value'))}</td><td class='num'>{_tolerance(ref)}</td>"
            f"<td>{_esc(ref.get('source') or '')}</td><td>{_badge(v)}</td></tr>")


def _badge(verdict: str) -> str:
    if verdict == "no reference":
        return "<span class='muted' title='no published value'>—</span>"
    return f"<span class='verdict {verdict.replace(' ', '-')}'>{_esc(verdict)}</span>"


def _tolerance(ref: dict[str, Any]) -> str:
    if ref.get("factor") is not None:
        return "×/÷ " + _fmt(ref["factor"])
    return "± " + _fmt(ref["tolerance"]) if ref.get("tolerance") is not None else ""


# ----------------------------------------------------------------------------------- details
def _single_metrics(data: ReportData) -> str:
    """Metrics with one value per (variant, split), as a table: rows variant · split, columns metric."""
    curves = metrics_over_steps(data)
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for _, variant, split, metric, value in data.metrics:
        if metric not in curves:
            cells.setdefault((variant, split), {})[metric] = value
    if not cells:
        return ""
    metrics = sorted({m for c in cells.values() for m in c}, key=natural_key)
    head = "".join(f"<th>{_esc(m)}</th>" for m in metrics)
    rows = "".join(
        f"<tr><td><strong>{_esc(v)}</strong> <span class='muted'>{_esc(sp)}</span></td>"
        + "".join(f"<td class='num'>{_fmt(c.get(m))}</td>" for m in metrics) + "</tr>"
        for (v, sp), c in cells.items())
    table = (f"<div class='scroll'><table class='values'><thead><tr><th>variant · split</th>{head}</tr>"
             f"</thead><tbody>{rows}</tbody></table></div>")
    return ("<section id='values'><h2>Measured values</h2><p class='muted'>Metrics recorded once per "
            f"variant (from metrics.csv).</p>{fold(f'{len(cells)} rows: show them', table, len(cells))}</section>")


def _findings(findings: dict[str, list[dict]]) -> str:
    out = ["<section id='findings'><h2>Findings</h2>"]
    for variant, items in findings.items():
        if items:
            out.append(f"<h3>{_esc(variant)}</h3><ul class='findings'>{''.join(map(_finding, items))}</ul>")
    out.append("</section>")
    return "".join(out)


def _finding(f: dict[str, Any]) -> str:
    sev = str(f.get("severity", "info"))
    ev = f.get("evidence") or {}
    if isinstance(ev, dict):
        evh = "".join(f"<tr><td>{_esc(k)}</td><td class='num'>{_fmt(v)}</td></tr>" for k, v in ev.items())
        evh = fold(f"evidence ({len(ev)} values)", f"<table class=evidence>{evh}</table>", len(ev)) if ev else ""
    else:
        evh = f"<table class=evidence><tr><td>{_esc(ev)}</td></tr></table>"
    layers = ", ".join(map(str, f.get("layers") or []))
    return (f"<li class='finding {_esc(sev)}'><span class='sev {_esc(sev)}'>{_esc(sev)}</span> "
            f"<strong>{_esc(f.get('kind', ''))}</strong>"
            f"{' · <span class=muted>' + _esc(layers) + '</span>' if layers else ''}"
            f"<p>{_esc(f.get('message', ''))}</p>"
            f"{'<p class=fix><span class=label>Fix</span> ' + _esc(f['fix']) + '</p>' if f.get('fix') else ''}"
            f"{evh}</li>")


def _table(head: tuple[str, ...], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" if i == 0 else f"<td class='num'>{_fmt(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return fold(f"{len(rows)} rows: show them", f"<table><tr>{th}</tr>{body}</table>", len(rows))


def _transformer(t: dict[str, Any]) -> str:
    """The residual stream per block, attention per call and head, the output logits, and what the
    probes could not see (an Inspection's transformer records, plain dicts)."""
    out = ["<section id='transformer'><h2>Transformer</h2>"]
    blocks = t.get("blocks") or []
    if blocks:
        out.append("<h3>Residual stream</h3><p class=muted>Per block call: the stream's std before and after "
                   "the block, the branch update's std and its ratio to the stream, the stream gradient.</p>")
        out.append(_table(("block", "stream std in", "stream std out", "branch std", "branch / stream", "‖∂L/∂stream‖"),
                          [[b.get("name"), b.get("input_std"), b.get("std"), b.get("branch_std"),
                            b.get("branch_ratio"), b.get("grad_norm")] for b in blocks]))
    att = t.get("attention") or []
    if att:
        out.append("<h3>Attention</h3><p class=muted>Per call: the std of the logits QKᵀ/√d and the entropy of "
                   "the weights normalized by log(keys) (1: uniform, 0: one-hot), over the heads.</p>")
        rows = []
        for a in att:
            ls, en = a.get("logit_std") or [], a.get("entropy") or []
            rows.append([a.get("name"), a.get("heads"), max(ls) if ls else None, a.get("mean_entropy"),
                         min(en) if en else None, a.get("source")])
        out.append(_table(("attention", "heads", "max logit std", "mean entropy", "min entropy", "seen via"), rows))
    lg = t.get("logits")
    if lg:
        out.append("<h3>Output logits</h3>")
        out.append(_table(("source", "classes", "std", "max |z|", "mean max prob", "entropy"),
                          [[lg.get("source"), lg.get("classes"), lg.get("std"), lg.get("abs_max"),
                            lg.get("max_prob"), lg.get("entropy")]]))
    notes = t.get("notes") or []
    if notes:
        out.append("<h3>Notes</h3><ul>" + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")
    out.append("</section>")
    return "".join(out)


def _figures(figs: Iterable[str], title: str) -> str:
    imgs = "".join(f"<figure><img src=\"{html.escape(f)}\" alt=\"{html.escape(Path(f).stem)}\">"
                   f"<figcaption>{html.escape(Path(f).stem)}</figcaption></figure>" for f in figs)
    return f"<section id='figures'><h2>{_esc(title)}</h2><div class='figs'>{imgs}</div></section>"


def _config(data: ReportData) -> str:
    vers = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>"
                   for k, v in sorted(data.versions.items(), key=lambda kv: natural_key(kv[0])))
    if not data.config:
        return f"<section id='config'><h2>Versions</h2><table class='versions'>{vers}</table></section>"
    cfg = json.dumps(data.config, indent=2, sort_keys=True, default=str)
    lines = cfg.count("\n") + 1
    pre = fold(f"resolved config ({lines} lines): show it", f"<pre class='config'>{_esc(cfg)}</pre>", lines,
               limit=CONFIG_LINES)
    return ("<section id='config'><h2>Resolved config and versions</h2><div class='two'>"
            f"<div>{pre}</div><table class='versions'>{vers}</table></div></section>")


# ------------------------------------------------------------------------------------ index
def index_card(data: ReportData, href: str, thumb_src: str | None) -> str:
    """One run on a tour's index: thumbnail (its headline figure), question, headline numbers
    (those with a published value first, natural order, at most INDEX_ROWS) and a link."""
    thumb = (f"<img class='thumb' src=\"{html.escape(thumb_src)}\" alt=\"{html.escape(data.title)}\">"
             if thumb_src else "")
    entries = sorted(_entries(data.summary), key=lambda x: x[2] == "no reference")  # stable: keeps order
    rows = []
    for key, e, v in entries[:INDEX_ROWS]:
        ref = _ref(e)
        pub = f" <span class='muted'>vs {_fmt(ref.get('value'))}</span>" if ref.get("value") is not None else ""
        rows.append(f"<tr><td><code>{_esc(key)}</code></td><td class='num'>{_fmt(e.get('ours'))}{pub}</td>"
                    f"<td>{_badge(v)}</td></tr>")
    more = len(entries) - INDEX_ROWS
    q, ref = data.meta.get("description"), data.meta.get("reference")
    h = html.escape(href)
    return (f"<article class='card'><a href=\"{h}\">{thumb}<h2>{_esc(data.title)}</h2></a>"
            f"{'<p>' + _esc(q) + '</p>' if q else ''}"
            f"{'<p class=muted><span class=label>Reproduces</span> ' + _esc(ref) + '</p>' if ref else ''}"
            f"<table class='numbers small'>{''.join(rows)}</table>"
            f"{f'<p class=muted>… and {more} more numbers in the report</p>' if more > 0 else ''}"
            f"<p><a href=\"{h}\">Open the report →</a></p></article>")


def index_card_error(name: str, msg: str) -> str:
    """A card for a run directory the report cannot read, saying why."""
    return f"<article class='card error'><h2>{_esc(name)}</h2><p>{_esc(msg)}</p></article>"


def index_page(title: str, folder: str, cards: list[str], n_runs: int, assets_href: str) -> str:
    """A tour's index.html: one card per run directory."""
    body = (f"<header class='top'><h1>{_esc(title)}</h1><p class='muted'>{n_runs} runs "
            f"in {_esc(folder)}; each card links to its report.</p></header>"
            f"<main class='cards'>{''.join(cards) or '<p>No run directories found.</p>'}</main>")
    return page(title, body, assets_href, script=False)
