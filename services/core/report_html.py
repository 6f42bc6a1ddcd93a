"""Shared pieces of the reports people download and share (the weekly loop report, the drift report,
the experiment readout): one self-contained HTML page that opens offline.

Plotly's JavaScript is embedded once, inline in the page's head (plotly's own bundle, as
`include_plotlyjs=True` would embed it; never "cdn"), before any figure's script runs, so the file needs
no network; every text that reaches the page goes through `e()`, and
plotly itself escapes "</" inside the figures' JSON, so a hostile name cannot close the script tag.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

STYLE = """
body{font-family:system-ui,sans-serif;max-width:64rem;margin:1.5rem auto;color:#222;font-size:14px;padding:0 1rem}
h1{font-size:1.4rem;margin-bottom:0} h2{font-size:1.1rem;margin:1.2rem 0 .3rem}
.muted{color:#666} table{border-collapse:collapse;margin:.3rem 0}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:0 2rem}
.bad{color:#b00020} .good{color:#1b5e20} .fig{margin:.4rem 0}
"""


def e(value: Any) -> str:
    """HTML-escape any value (quotes too): every text from users or data goes through here."""
    return html.escape("" if value is None else str(value), quote=True)


def items(values: Iterable[Any], empty: str) -> str:
    values = list(values)
    if not values:
        return f"<p class='muted'>{e(empty)}</p>"
    return "<ul>" + "".join(f"<li>{e(v)}</li>" for v in values) + "</ul>"


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], empty: str = "nothing to show") -> str:
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f"<p class='muted'>{e(empty)}</p>"
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    thead = f"<thead><tr>{head}</tr></thead>" if any(str(h) for h in header) else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


class Figures:
    """Turns figures into HTML fragments for one page (without plotly.js: `page` puts it in the head)."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: go.Figure, div_id: str) -> str:
        self.count += 1
        fragment = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                               config={"displaylogo": False, "responsive": True})  # fmt: skip
        return f"<div class='fig'>{fragment}</div>"


def page(title: str, subtitle_lines: Sequence[str], body: str, figures: Figures | None = None) -> str:
    """The whole document: an escaped title and header lines, then `body` (already built from escaped
    parts and figure fragments). With figures, plotly.js goes inline in the head, once, so it is defined
    before any figure's script runs."""
    header = "".join(f"<p class='muted'>{e(line)}</p>" for line in subtitle_lines)
    script = ""
    if figures is not None and figures.count:
        script = (
            "<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
            f'<script type="text/javascript">{get_plotlyjs()}</script>'
        )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{STYLE}</style>{script}</head><body>\n"
        f"<h1>{e(title)}</h1>\n{header}\n{body}\n</body></html>\n"
    )


def stamp(generated_at: datetime, generated_by: str) -> str:
    return f"Generated {generated_at:%Y-%m-%d %H:%M} UTC by {generated_by}"
