"""The self-contained group report: figures (embedded PNG), every table, exclusions, parameters, versions."""

from __future__ import annotations

import base64
import html
import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc import __version__
from ketamine_fc.config import ATLAS_TEMPLATE
from ketamine_fc.group.analyses import CONVENTION_NAMES
from ketamine_fc.group.outputs import DESCRIPTIONS
from ketamine_fc.reports import figures
from ketamine_fc.utils.derivatives import atomic_path
from ketamine_fc.utils.provenance import versions

LOGGER = logging.getLogger("ketamine_fc.group")

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#f0f0f0}img{max-width:100%}.pass{color:#1b7837;font-weight:bold}.fail{color:#b2182b}
h2{border-bottom:2px solid #ddd}"""


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def _table(df: pd.DataFrame, max_rows=200) -> str:
    if df is None or df.empty:
        return "<p><em>No rows.</em></p>"
    shown = df.head(max_rows).copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            shown[c] = shown[c].map(lambda v: "n/a" if pd.isna(v) else f"{v:.4g}")
    note = f"<p><em>First {max_rows} of {len(df)} rows; the TSV has all.</em></p>" if len(df) > max_rows else ""
    return shown.to_html(index=False, na_rep="n/a", border=0, escape=True) + note


def make_figures(tables, inputs, params, folder: Path) -> list:
    """Draw every figure the data allow; return the PNG paths. A figure that cannot be drawn is logged and left out."""
    out = []
    for name, draw in FIGURES:
        try:
            path = draw(tables, inputs, params, folder)
        except (KeyError, ValueError, IndexError, TypeError) as err:
            LOGGER.warning("Figure %s not drawn: %s", name, err)
            continue
        if path is not None:
            out.append(path)
    return out


def _madrs(tables, inputs, params, folder):
    from ketamine_fc.group.analyses import patient_ids, timepoint_order

    madrs = inputs.madrs[inputs.madrs["participant_id"].isin(patient_ids(inputs, params))]
    return figures.madrs_figure(madrs, tables["clinical_timecourse"], timepoint_order(madrs, params), folder)


def _prepost(tables, inputs, params, folder):
    from ketamine_fc.group.analyses import measure_columns, patient_ids, responders
    from ketamine_fc.group.inputs import session_table

    fc = session_table(inputs, params)
    pts = patient_ids(inputs, params)
    return figures.prepost_figure(fc[fc["participant_id"].isin(pts)], responders(inputs, params),
                                  measure_columns(inputs, params)[:4], folder)


def _groups(tables, inputs, params, folder):
    from ketamine_fc.group.analyses import measure_columns, patient_ids
    from ketamine_fc.group.inputs import session_table

    fc = session_table(inputs, params)
    pts = patient_ids(inputs, params)
    measures = measure_columns(inputs, params)[:4]
    groups = {"controls": fc[fc["group"].astype(str) == params.control_group].groupby("participant_id")[
        measures].mean()}
    for label, phase in (("patients pre", "pre"), ("patients post", "post")):
        groups[label] = fc[fc["participant_id"].isin(pts) & (fc["phase"] == phase)].groupby(
            "participant_id")[measures].mean()
    summary = {k: {m: (v[m].mean(), v[m].std() / np.sqrt(max(v[m].count(), 1))) for m in measures}
               for k, v in groups.items()}
    return figures.groups_figure(summary, measures, folder)


def _volumes(tables, inputs, params, folder):
    from ketamine_fc.group.analyses import madrs_change

    corr = tables.get("correlations")
    if corr is None or not len(corr) or inputs.volumes is None:
        return None
    vol = corr[corr["x"].str.endswith("_icv")]
    if not len(vol):
        return None
    v = inputs.volumes.set_index("participant_id")
    change = madrs_change(inputs, params, params.response_timepoint)
    panels = []
    for _, row in vol.iterrows():
        name = row["x"].removesuffix("_icv")
        ratio = (v[name] / v["icv"]).reindex(change.index).to_numpy(float)
        panels.append((name, ratio, change.to_numpy(float), row["r"], row["p"]))
    return figures.volume_figure(panels, folder)


def _limbic(tables, inputs, params, folder):
    edges = tables.get("edges_limbic_change")
    if edges is None or not len(edges):
        return None
    return figures.limbic_matrix_figure(edges, params.limbic_edge_threshold_p, folder)


FIGURES = (("MADRS time course", _madrs), ("pre/post network measures", _prepost),
           ("controls vs patients", _groups), ("volumes", _volumes), ("limbic change matrix", _limbic))


def _findings(tables, params) -> str:
    prim = tables.get("primary_outcomes")
    if prim is None:
        return "<p><em>The primary outcomes could not be computed (see Analyses not computed).</em></p>"
    items = []
    differ = prim.loc[prim["decision_differs"].astype(bool), "outcome"].tolist() if "decision_differs" in prim else []
    convention = CONVENTION_NAMES[params.lme_inference]
    note = (f"<p>The MADRS ANOVA is judged on its Greenhouse-Geisser corrected p; the imaging outcomes on {convention}. "
            + (f"The other convention would change the decision for: {html.escape(', '.join(differ))}.</p>" if differ
               else "The other convention would change no decision.</p>"))
    for _, r in prim.iterrows():
        css = "pass" if r["passes_bonferroni"] else "fail"
        verdict = "passes" if r["passes_bonferroni"] else "does not pass"
        items.append(f'<li>{html.escape(r["outcome"])}: p = {r["p"]:.3g} <span class="{css}">{verdict}</span> '
                     f'the Bonferroni threshold {r["bonferroni_threshold"]:.5g}</li>')
    return note + "<ul>" + "".join(items) + "</ul>"


def _participant_settings(settings: dict | None) -> list:
    """The participant-level settings shared by every pooled session, with a warning for a template mismatch."""
    if not settings:
        return []
    out = ["<h2>Participant-level settings</h2>"]
    template = str(settings.get("space", "")).partition(":")[0]
    if settings.get("allow_template_mismatch") and template and template != ATLAS_TEMPLATE:
        out.append(f'<p class="fail">The atlases, defined in {ATLAS_TEMPLATE}, were used on BOLD in '
                   f"{html.escape(template)} without a template-to-template transform: regions can sit a few mm "
                   "off.</p>")
    rows = pd.DataFrame([(k, ", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in settings.items()],
                        columns=["setting", "value"])
    return out + [_table(rows.astype(str))]


def write_report(tables, inputs, params, output_dir) -> Path:
    """Write ``OUTPUT_DIR/group/report.html`` (and the figures in ``group/figures/``)."""
    folder = Path(output_dir) / "group"
    pngs = make_figures(tables, inputs, params, folder / "figures")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>ketamine-fc group report</title>"
             f"<style>{STYLE}</style></head><body>",
             "<h1>ketamine-fc group report</h1>",
             f"<p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by ketamine-fc {__version__}.</p>",
             "<h2>Primary outcomes</h2>", _findings(tables, params),
             "<h2>Figures</h2>"] + [f"<figure>{_img(p)}<figcaption>{html.escape(p.stem)}</figcaption></figure>"
                                    for p in pngs]
    for name, df in tables.items():
        if name != "excluded_sessions":
            parts += [f"<h2>{html.escape(name)}</h2>", f"<p>{html.escape(DESCRIPTIONS.get(name, ''))}</p>",
                      _table(df)]
    parts += ["<h2>Excluded sessions (excluded_sessions)</h2>", _table(inputs.excluded_sessions)]
    if inputs.skipped:
        parts += ["<h2>Analyses skipped or not computed</h2><ul>"] + [f"<li>{html.escape(k)}: {html.escape(v)}</li>"
                                                      for k, v in inputs.skipped.items()] + ["</ul>"]
    parts += _participant_settings(inputs.participant_parameters)
    parts += ["<h2>Parameters</h2>", _table(pd.DataFrame([params.to_dict()]).T.reset_index().rename(
        columns={"index": "parameter", 0: "value"})),
              "<h2>Software</h2>", _table(pd.DataFrame(list(versions().items()), columns=["package", "version"])),
              "</body></html>"]
    path = folder / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts))
    return path
