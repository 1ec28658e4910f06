"""Self-contained HTML pages: one style sheet for every report, figures drawn on their
own ``Figure`` (never through pyplot's global state) and inlined as PNG, and tables of
numbers formatted column by column."""

from __future__ import annotations

import base64
import html
import io

import pandas as pd
from matplotlib.figure import Figure

CSS = """body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;
color:#222;padding:0 10px}h1{font-weight:600}h2{margin-top:34px;border-bottom:1px solid #ddd}
table.numbers{border-collapse:collapse;font-size:13px}table.numbers td,table.numbers th{
padding:4px 9px;text-align:right;border-bottom:1px solid #eee;white-space:nowrap}
table.numbers th{background:#f4f4f4;white-space:normal;vertical-align:bottom}
table.numbers td:first-child,table.numbers th:first-child{text-align:left}
tr.agent td{background:#eef4fb}img{max-width:100%}.grid{display:flex;flex-wrap:wrap;gap:6px}
.grid img{width:49%}pre{background:#f6f6f6;padding:8px;font-size:11px;overflow-x:auto}
.note{color:#555;font-size:13px}.verdict{background:#f7f7f2;border-left:4px solid #999;
padding:8px 14px;font-size:14px}.verdict li{margin:3px 0}td.failed{color:#b00}
.warning{background:#fff6e5;border-left:4px solid #e0a000;padding:6px 12px;font-size:13px}"""

DPI = 90


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def image(data: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG ``data`` inlined."""
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def image_grid(images: dict[str, bytes], prefix: str) -> list[str]:
    """The images whose names start with ``prefix``, side by side in a grid (nothing
    when there are none)."""
    chosen = [name for name in images if name.startswith(prefix)]
    if not chosen:
        return []
    return ["<div class='grid'>", *(image(images[name], name) for name in chosen), "</div>"]


def numbers_table(frame: pd.DataFrame, formats: dict[str, str], index: bool = True) -> str:
    """A ``numbers`` table of ``frame``'s columns named in ``formats``, each formatted by
    its spec (``format``'s mini-language; ``d`` an integer; text as it is)."""
    head = ([frame.index.name or ""] if index else []) + list(formats)
    rows = []
    for key, row in frame.iterrows():
        cells = [html.escape(str(key))] if index else []
        cells += [_formatted(row[c], f) for c, f in formats.items()]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(h.replace('_', ' '))}</th>" for h in head)
    return f"<table class='numbers'><tr>{header}</tr>{''.join(rows)}</table>"


def _formatted(value, spec: str) -> str:
    if isinstance(value, bool | str):
        return html.escape(str(value))
    if pd.isna(value):
        return ""
    return format(int(value), "d") if spec == "d" else format(value, spec)
