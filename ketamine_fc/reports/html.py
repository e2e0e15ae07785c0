"""Small HTML pieces shared by the reports: embedded images, tables that print n/a, the page frame."""

from __future__ import annotations

import base64
import html
import numbers

import numpy as np
import pandas as pd

STYLE = """body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222;line-height:1.45}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#f0f0f0}img{max-width:100%}.pass{color:#1b7837;font-weight:bold}.fail{color:#b2182b;font-weight:bold}
h2{border-bottom:2px solid #ddd;margin-top:2em}h3{margin-top:1.6em}figure{margin:1em 0 2em}
figcaption{font-size:13px;color:#444;max-width:950px}nav a{margin-right:1em}.note{color:#555;font-size:13px}
ol.outcomes li{margin-bottom:0.6em}code{font-size:12px}"""


def esc(value) -> str:
    """Escape text for HTML."""
    return html.escape(str(value))


def fmt(value, digits: int = 4) -> str:
    """A cell as a reader expects it: ``n/a`` for missing, ``yes``/``no`` for booleans, lists joined, floats short."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, numbers.Real) and np.isnan(value)):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return ", ".join(fmt(v, digits) for v in value) or "n/a"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {fmt(v, digits)}" for k, v in value.items()) or "n/a"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.{digits}g}"
    text = str(value)
    if text.strip() in ("", "nan", "NaN", "None", "<NA>", "NaT"):
        return "n/a"
    return {"True": "yes", "False": "no"}.get(text, text)


def table(df: pd.DataFrame, max_rows: int = 200, digits: int = 4) -> str:
    """An HTML table of ``df`` with every cell through :func:`fmt`."""
    if df is None or df.empty:
        return "<p><em>No rows.</em></p>"
    shown = df.head(max_rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(fmt(v, digits))}</td>" for v in row) + "</tr>"
                   for row in shown.itertuples(index=False))
    note = f"<p><em>First {max_rows} of {len(df)} rows; the TSV has all.</em></p>" if len(df) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def settings_table(settings: dict) -> pd.DataFrame:
    """The settings as a reader needs them: the command-line option, the value used, what it means."""
    from ketamine_fc.config import option_list

    specs = {spec["name"]: spec for spec in option_list()}
    rows = []
    for name, value in settings.items():
        spec = specs.get(name, {})
        flag = (spec.get("flags") or ["--" + name.replace("_", "-")])[0]
        rows.append({"option": flag, "value": value, "meaning": spec.get("help", "")})
    return pd.DataFrame(rows)


def image(png: bytes, alt: str, caption: str = "") -> str:
    """A figure with the PNG embedded as base64 and an optional caption."""
    data = base64.b64encode(png).decode()
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{data}">{cap}</figure>'


def page(title: str, body: list) -> str:
    """A whole self-contained HTML page."""
    return "\n".join([f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
                      f"<style>{STYLE}</style></head><body>", *body, "</body></html>"])


def markdown(text: str) -> str:
    """The small Markdown of the methods text (``#`` headings, ``-`` lists, paragraphs) as HTML."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        if lines[0].startswith("#"):
            level = min(len(lines[0]) - len(lines[0].lstrip("#")) + 1, 4)
            out.append(f"<h{level}>{esc(lines[0].lstrip('#').strip())}</h{level}>")
            lines = lines[1:]
        if lines and all(line.startswith("- ") for line in lines):
            out.append("<ul>" + "".join(f"<li>{esc(line[2:])}</li>" for line in lines) + "</ul>")
        elif lines:
            out.append(f"<p>{esc(' '.join(lines))}</p>")
    return "\n".join(out)
