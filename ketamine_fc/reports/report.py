"""The self-contained group report, read like a results section: the primary outcomes in words, the figures with
captions, the methods and references from the settings used, then every table, the settings and the versions."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc import __version__
from ketamine_fc.config import ATLAS_TEMPLATE, SURFACE_SPACES
from ketamine_fc.group.analyses import CONVENTION_NAMES
from ketamine_fc.group.outputs import DESCRIPTIONS
from ketamine_fc.reports import figures, methods, qc_figures
from ketamine_fc.reports.group_connectome import connectome_section
from ketamine_fc.reports.group_qc import qc_section
from ketamine_fc.reports.html import esc as _esc
from ketamine_fc.reports.html import image, page, settings_table
from ketamine_fc.reports.html import table as _table
from ketamine_fc.reports.labels import region_name, table_name
from ketamine_fc.utils.derivatives import atomic_path
from ketamine_fc.utils.provenance import versions

LOGGER = logging.getLogger("ketamine_fc.group")

#: tables left out of the table section (too large to print; the TSV has them)
NOT_PRINTED = ("qc_fc_edges", "excluded_sessions", "nbs_components", "nbs_edges", "seed_maps", "connectome_regions",
               *(f"connectome_{slug}_{kind}" for slug in ("time", "timexresponse") for kind in ("edges", "t", "q")))
SKIPPED_HEADING = "Analyses skipped or not computed"


def _img(path: Path, caption: str) -> str:
    return image(Path(path).read_bytes(), caption, caption)


# ------------------------------------------------------------------------------------------------------ figures


def make_figures(tables, inputs, params, folder: Path) -> list:
    """Draw every figure the data allow; return ``[(png, caption)]``. A figure that cannot be drawn is logged and
    left out."""
    out = []
    for name, draw in FIGURES:
        try:
            drawn = draw(tables, inputs, params, folder)
        except (KeyError, ValueError, IndexError, TypeError) as err:
            LOGGER.warning("Figure %s not drawn: %s", name, err)
            continue
        if drawn is not None:
            out.append(drawn)
    return out


def _madrs(tables, inputs, params, folder):
    from ketamine_fc.group.analyses import patient_ids, timepoint_order

    madrs = inputs.madrs[inputs.madrs["participant_id"].isin(patient_ids(inputs, params))]
    path = figures.madrs_figure(madrs, tables["clinical_timecourse"], timepoint_order(madrs, params), folder)
    return path, (f"MADRS of the {madrs['participant_id'].nunique()} patients over time: each patient (grey), mean "
                  "and SD (black), with the number assessed under each timepoint (left); and the percentage of "
                  f"those assessed at a timepoint and at {params.baseline_timepoint} who responded (MADRS at least "
                  f"{params.response_threshold:.0%} below {params.baseline_timepoint}), of those assessed who "
                  f"remitted (MADRS below {params.remission_cutoff:g}), and of those rated who had a CGI-I of 1 or 2 "
                  "(right).")


def _prepost(tables, inputs, params, folder):
    from ketamine_fc.group.analyses import measure_columns, patient_ids, responders
    from ketamine_fc.group.inputs import session_table

    fc = session_table(inputs, params)
    fc = fc[fc["participant_id"].isin(patient_ids(inputs, params))]
    resp = responders(inputs, params)
    phases = fc.groupby("participant_id")["phase"].agg(set)
    both = [pid for pid, ph in phases.items() if {"pre", "post"} <= ph and pid in resp.index]
    n_resp = int(resp.reindex(both).sum())
    path = figures.prepost_figure(fc, resp, measure_columns(inputs, params)[:4], folder)
    return path, (f"Network FC before (mean of the pre sessions) and after treatment in the {len(both)} patients "
                  f"with both and a known response at {params.response_timepoint} ({n_resp} responders, "
                  f"{len(both) - n_resp} non-responders): each patient (top) and the post - pre change by response "
                  "group (bottom; boxes: median and quartiles, whiskers: 1.5 times the interquartile range).")


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
    counts = {k: len(v) for k, v in groups.items()}
    path = figures.groups_figure(summary, measures, folder, counts)
    return path, (f"Network FC (mean and SEM over participants, each participant's sessions averaged) in the "
                  f"{counts['controls']} controls and in the patients before ({counts['patients pre']}) and after "
                  f"treatment ({counts['patients post']}).")


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
    path = figures.volume_figure(panels, folder)
    n = sorted({int(x) for x in vol["n"]})
    return path, (f"Volume of each limbic structure divided by the intracranial volume (ICV, per mille) against the "
                  f"MADRS percent change from {params.baseline_timepoint} to {params.response_timepoint} in "
                  f"{' to '.join(map(str, [n[0], n[-1]] if len(n) > 1 else n))} patients, with the least-squares "
                  "line, Pearson r and its uncorrected p.")


def _limbic(tables, inputs, params, folder):
    edges = tables.get("edges_limbic_change")
    if edges is None or not len(edges):
        return None
    path = figures.limbic_matrix_figure(edges, params.limbic_edge_threshold_p, folder)
    return path, (f"Mean change of FC between the limbic regions (post minus the mean of the pre sessions, Fisher z) "
                  f"in the {int(edges['n'].max())} patients with pre and post sessions; a dot marks a pair whose "
                  f"paired t test gives p < {params.limbic_edge_threshold_p:g} (uncorrected). The colour scale is "
                  "symmetric around 0 (blue: lower after treatment).")


FIGURES = (("MADRS time course", _madrs), ("pre/post network measures", _prepost),
           ("controls vs patients", _groups), ("volumes", _volumes), ("limbic change matrix", _limbic))


# --------------------------------------------------------------------------------------------- primary outcomes


def _g(value, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, or ``n/a``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}g}"


def _stat(value) -> str:
    """A test statistic (t, F) with two decimals, or ``n/a``."""
    return "n/a" if not np.isfinite(float(value)) else f"{float(value):.2f}"


def _ci(low, high, digits: int = 3, percent: bool = False) -> str:
    if percent:
        return f"95 % CI {_g(100 * low, digits)} % to {_g(100 * high, digits)} %"
    return f"95 % CI {_g(low, digits)} to {_g(high, digits)}"


def _n(row) -> str:
    n_obs = f", {int(row['n_obs'])} observations" if pd.notna(row["n_obs"]) and row["n_obs"] != row[
        "n_participants"] else ""
    return f"n = {int(row['n_participants'])} participants{n_obs}"


def outcome_sentence(row) -> str:
    """One primary outcome as a sentence (HTML): measure, direction, estimate with 95 % CI, test, n, decision."""
    head = f"<strong>{_esc(row['description'])}</strong>: "
    if not np.isfinite(float(row["p"])) or not np.isfinite(float(row["estimate"])):
        return head + f"not computed ({_esc(row['test'])})."
    if row["outcome"] == "madrs_rm_anova":
        body = (f"{row['direction']}: mean change {_g(row['estimate'])} points ({_ci(row['ci_low'], row['ci_high'])}"
                f", SE {_g(row['se'])}); F({_g(row['df_num'])}, {_g(row['df'])}) = {_stat(row['statistic'])}, "
                f"Greenhouse-Geisser corrected p = {_g(row['p'], 2)}")
    elif str(row["outcome"]).startswith("cgi_improved"):
        body = (f"{row['direction']} ({_g(100 * row['estimate'])} %, {_ci(row['ci_low'], row['ci_high'], percent=True)}"
                f", exact); one-sided exact binomial test against one half, p = {_g(row['p'], 2)} (no SE, t or df "
                "for an exact test)")
    else:
        body = (f"{row['direction']}; estimate {_g(row['estimate'])} Fisher z ({_ci(row['ci_low'], row['ci_high'])}), "
                f"SE {_g(row['se'])}, t({_g(row['df'])}) = {_stat(row['statistic'])}, p = {_g(row['p'], 2)}")
    passes = bool(row["passes_bonferroni"])
    verdict = (f'<span class="{"pass" if passes else "fail"}">{"Passes" if passes else "Does not pass"}</span> the '
               f"Bonferroni threshold p &lt; {_g(row['bonferroni_threshold'], 4)}")
    return head + _esc(body) + f"; {_esc(_n(row))}. " + verdict + "."


def _findings(tables, params) -> str:
    prim = tables.get("primary_outcomes")
    if prim is None:
        return "<p><em>The primary outcomes could not be computed (see Analyses skipped or not computed).</em></p>"
    differ = prim.loc[prim["decision_differs"].astype(bool), "description"].tolist()
    zero, one = (("non-responders", "responders") if params.response_coding == "responder"
                 else ("responders", "non-responders"))
    note = (f"<p>The imaging outcomes are fixed effects of the linear mixed-effects model FC ~ time + time x response "
            f"+ (1 | participant), {_esc(CONVENTION_NAMES[params.lme_inference])}, with response = 1 for {one}: the "
            f"time effect is the post - pre change of the {zero}, the interaction the change of the {one} minus that "
            "of the " + zero + "; 95 % CI: estimate +/- t(df, 0.975) x SE. The MADRS ANOVA is judged on its "
            "Greenhouse-Geisser corrected p; its estimate is the mean MADRS change from "
            f"{_esc(params.baseline_timepoint)} to {_esc(params.response_timepoint)} over the same patients. "
            + (f"The other LME convention would change the decision for: {_esc(', '.join(differ))}.</p>" if differ
               else "The other LME convention would change no decision.</p>"))
    items = "".join(f'<li data-outcome="{_esc(r["outcome"])}">{outcome_sentence(r)}</li>' for _, r in prim.iterrows())
    return note + f'<ol class="outcomes">{items}</ol>'


# ------------------------------------------------------------------------------------------ methods, settings


def _methods(inputs, params) -> list:
    participant, group = inputs.participant_parameters, params.to_dict()
    out = ['<section id="methods"><h2>Methods</h2>', "<h3>Participant level</h3>"]
    out += [f"<p>{_esc(p)}</p>" for p in methods.participant_section(participant)]
    out += ["<h3>Group level</h3>"] + [f"<p>{_esc(p)}</p>" for p in methods.group_paragraphs(group)]
    out += ['<p class="note">The same text, with its references, is written to CITATION.md at the top of the '
            "output folder.</p></section>",
            '<section id="references"><h2>References</h2><ol>']
    out += [f"<li>{_esc(methods.REFERENCES[k])}</li>" for k in methods.cited(participant, group)]
    return out + ["</ol></section>"]


def _participant_settings(settings: dict | None) -> list:
    """The participant-level settings shared by every pooled session, with a warning for a template mismatch."""
    out = ["<h3>Participant-level settings</h3>"]
    if not settings:
        return out + ["<p>Not known: the network measures were read from a table (--fc-table).</p>"]
    template = str(settings.get("space", "")).partition(":")[0]
    if (settings.get("allow_template_mismatch") and template and template != ATLAS_TEMPLATE
            and template not in SURFACE_SPACES):
        out.append(f'<p class="fail">The atlases, defined in {ATLAS_TEMPLATE}, were used on BOLD in '
                   f"{_esc(template)} without a template-to-template transform: regions can sit a few mm "
                   "off.</p>")
    return out + [_table(settings_table(settings))]


def _shown(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """The table as printed: limbic regions by their anatomical names."""
    if name == "edges_limbic_change":
        df = df.copy()
        for col in ("region_1", "region_2"):
            df[col] = df[col].map(lambda v: region_name(v, with_label=True))
    return df


def _table_section(name: str, df) -> list:
    return [f'<h3 id="table-{_esc(name)}">{_esc(table_name(name))} ({_esc(name)}.tsv)</h3>',
            f"<p>{_esc(DESCRIPTIONS.get(name, ''))}</p>", _table(_shown(name, df))]


def _qc_figure(tables, inputs, params, folder: Path) -> Path | None:
    """The QC figure (motion by group and time, QC-FC), or None when it cannot be drawn."""
    try:
        return qc_figures.draw(tables, inputs, params, folder)
    except (KeyError, ValueError, IndexError, TypeError) as err:
        LOGGER.warning("Figure QC-FC and motion not drawn: %s", err)
        return None


def write_report(tables, inputs, params, output_dir) -> Path:
    """Write ``OUTPUT_DIR/group/report.html`` (and the figures in ``group/figures/``)."""
    folder = Path(output_dir) / "group"
    qc_png = _qc_figure(tables, inputs, params, folder / "figures")  # figure 1: its section comes first
    drawn = make_figures(tables, inputs, params, folder / "figures")
    nav = " ".join(f'<a href="#{k}">{v}</a>' for k, v in (
        ("primary", "Primary outcomes"), ("qc", "Quality control"), ("figures", "Figures"), ("connectome", "Whole connectome"), ("methods", "Methods"), ("references", "References"),
        ("tables", "Tables"), ("settings", "Settings"), ("software", "Software")))
    parts = ["<h1>ketamine-fc group report</h1>",
             f"<p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by ketamine-fc {__version__}.</p>",
             f"<nav>{nav}</nav>",
             '<section id="primary"><h2>Primary outcomes</h2>', _findings(tables, params), "</section>",
             qc_section(tables, qc_png),
             '<section id="figures"><h2>Figures</h2>']
    first = 2 if qc_png is not None else 1
    parts += [_img(path, f"Figure {k}. {caption}") for k, (path, caption) in enumerate(drawn, start=first)]
    connectome, _ = connectome_section(tables, params, folder / "figures", first + len(drawn))
    parts += ["</section>", connectome] + _methods(inputs, params)
    parts += ['<section id="tables"><h2>Tables</h2>', '<p class="note">Each table is a TSV file in the group folder, '
              "with a JSON sidecar describing every column.</p>"]
    for name, df in tables.items():
        if name not in NOT_PRINTED:
            parts += _table_section(name, df)
    parts += _table_section("excluded_sessions", inputs.excluded_sessions) + ["</section>"]
    if inputs.skipped:
        parts += [f"<h2>{SKIPPED_HEADING}</h2><ul>"] + [f"<li>{_esc(k)}: {_esc(v)}</li>"
                                                        for k, v in inputs.skipped.items()] + ["</ul>"]
    parts += ['<section id="settings"><h2>Settings</h2>'] + _participant_settings(inputs.participant_parameters)
    group = params.to_dict()
    parts += ["<h3>Group-level parameters</h3>",
              _table(settings_table(group)), "</section>",
              '<section id="software"><h2>Software</h2>',
              _table(pd.DataFrame(list(versions().items()), columns=["package", "version"])), "</section>"]
    path = folder / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page("ketamine-fc group report", parts), encoding="utf-8")
    return path
