"""The participant report ``OUTPUT_DIR/sub-<label>.html``: one section per session and run, images embedded."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc import __version__
from ketamine_fc.reports import participant_figures as figs
from ketamine_fc.reports.html import (
    esc,
    fmt,
    image,
    markdown,
    page,
    settings_table,
    table,
)
from ketamine_fc.reports.labels import MEASURES

SET_OF_MEASURE = {"dmn": ("dmn",), "sgacc_dmn": ("sgacc", "dmn"), "limbic": ("limbic",), "visual": ("visual",)}
LOST_NAMES = {"missing_regions": "outside the brain mask", "shrunk_regions": "shrunk by the brain mask (coverage "
              "below --min-region-coverage)", "absent_regions": "too small on this grid"}


def _minutes(frames, tr) -> str:
    return f"{frames * tr / 60:.1f} min"


def run_section(label: str, qc: dict, censoring: pd.DataFrame, dvars: pd.DataFrame, raw: np.ndarray,
                cleaned: pd.DataFrame, table_: pd.DataFrame, *, fd_thresh: float, tr: float, atlas_png: bytes | None,
                atlas_caption: str | None = None) -> str:
    """HTML of one run: what was censored and why, motion and DVARS traces, carpets, the atlas on the run.

    ``atlas_caption`` says what the atlas figure shows (by default the atlas over the mean BOLD); without a
    figure (``atlas_png`` None) it is printed as a note instead.
    """
    n_fd = int((censoring["fd_outlier"] != 0).sum()) if "fd_outlier" in censoring else 0
    n_short = int(((censoring["short_segment"] != 0) & (censoring["fd_outlier"] == 0)).sum()) \
        if "short_segment" in censoring else 0
    text = (f"{qc['n_frames']} frames (TR {tr:g} s): {qc['n_dummy']} dummy scans removed, {n_fd} above the FD "
            f"threshold of {fd_thresh:g} mm, {n_short} more in segments too short to keep; "
            f"<strong>{qc['n_retained']} retained ({_minutes(qc['n_retained'], tr)})</strong>. "
            f"Mean FD {fmt(qc['mean_fd'], 3)} mm (max {fmt(qc['max_fd'], 3)} mm). Mean DVARS "
            f"{fmt(qc['mean_dvars_before'], 3)} before cleaning, {fmt(qc['mean_dvars_after'], 3)} after. "
            f"Median voxel temporal SNR {fmt(qc['median_tsnr'], 3)}.")
    parts = [f"<h4 id='{esc(label)}'>Run {esc(label)}</h4>", f"<p>{text}</p>"]
    if qc.get("problems"):
        parts.append("<p class='fail'>Problems: " + esc("; ".join(qc["problems"])) + "</p>")
    retained = np.asarray(qc.get("retained_frames", []), dtype=int)
    png = figs.run_figure(censoring, dvars, raw, cleaned.to_numpy(dtype=float), retained,
                          table_["network"].to_numpy(), fd_thresh, tr)
    parts.append(image(png, f"{label} motion, DVARS and carpet plots",
                       f"{label}: framewise displacement with the censored frames shaded, DVARS of a voxel sample "
                       f"before and after cleaning, and the {len(table_)} region time series before and after "
                       "cleaning (rows grouped by network, each z-scored)."))
    lost = [(LOST_NAMES[k], qc.get(k, [])) for k in LOST_NAMES]
    listed = "".join(f"<li>{esc(what)}: {esc(', '.join(labels))}</li>" for what, labels in lost if labels)
    caption = atlas_caption or (f"the {len(table_)} atlas regions over the run's mean BOLD image (7 axial slices, "
                                "z = -30 to 60 mm).")
    if atlas_png is None:
        parts.append(f"<p class='note'>No atlas figure: {esc(caption)}</p>")
    else:
        parts.append(image(atlas_png, f"{label} atlas", f"{label}: {caption}"))
    parts.append(f"<p>Regions left out of this run:</p><ul>{listed}</ul>" if listed else
                 "<p>Every region has enough voxels inside this run's brain mask.</p>")
    return "\n".join(parts)


def _measures_table(row: pd.Series) -> pd.DataFrame:
    out = []
    for key, name in MEASURES.items():
        coverage = [f"{s}: {fmt(row.get(f'coverage_{s}'), 3)}" for s in SET_OF_MEASURE[key]]
        out.append({"measure": name, "mean Fisher z": row.get(key), "region pairs": row.get(f"n_pairs_{key}"),
                    "fraction of the set's regions kept": "; ".join(coverage)})
    return pd.DataFrame(out)


def session_section(label: str, measures: pd.Series, qc: pd.DataFrame, z: pd.DataFrame, table_: pd.DataFrame, *,
                    min_frames: int, tr_of: dict, runs_html: list) -> str:
    """HTML of one session: the inclusion decision, data kept per run, the network measures, the FC matrix."""
    included = str(measures.get("included")).lower() == "true"
    reason = fmt(measures.get("exclusion_reason"))
    runs = qc[qc["run"] != "session"]
    retained = int(pd.to_numeric(runs["n_retained"], errors="coerce").fillna(0).sum())
    minutes = sum(float(r["n_retained"]) * tr_of.get(r["run"], np.nan) / 60 for _, r in runs.iterrows())
    verdict = ("<p class='pass'>Included in the group analyses.</p>" if included else
               f"<p class='fail'>Excluded from the group analyses: {esc(reason)}.</p>")
    kept = (f"<p>{retained} frames retained over {len(runs)} run(s) ({minutes:.1f} min); the minimum is "
            f"{min_frames} frames (--min-frames): {'met' if retained >= min_frames else 'not met'}.</p>")
    per_run = pd.DataFrame({
        "run": runs["run"], "frames": runs["n_frames"], "dummy": runs["n_dummy"], "censored": runs["n_censored"],
        "retained": runs["n_retained"],
        "minutes retained": [float(r["n_retained"]) * tr_of.get(r["run"], np.nan) / 60 for _, r in runs.iterrows()],
        "mean FD (mm)": runs["mean_fd"], "max FD (mm)": runs["max_fd"], "DVARS before": runs["mean_dvars_before"],
        "DVARS after": runs["mean_dvars_after"], "median tSNR": runs["median_tsnr"],
        "regions lost": runs["n_missing_regions"]})
    n_pairs = int(np.isfinite(np.triu(z.to_numpy(dtype=float), 1)).sum())
    png = figs.matrix_figure(z.to_numpy(dtype=float), table_["network"].to_numpy(),
                             f"{label}: Fisher-z FC, {len(z)} regions grouped by network")
    return "\n".join([
        f"<h2 id='{esc(label)}'>Session {esc(label)}</h2>", verdict, kept, "<h3>Data retained per run</h3>",
        table(per_run, digits=3), "<h3>Network measures</h3>",
        "<p>Mean Fisher-z FC over the region pairs of each set (pairs with a region lost to the mask are left "
        "out).</p>", table(_measures_table(measures), digits=3), "<h3>Functional connectivity</h3>",
        image(png, f"{label} FC matrix", f"{label}: Fisher-z FC between every pair of the {len(z)} regions "
              f"({n_pairs} pairs with data; lost regions and the diagonal blank), over the {retained} retained "
              "frames of the session; colour scale symmetric around 0."),
        "<h3>Runs</h3>", *runs_html])


def participant_page(subject: str, sessions: list, summary: pd.DataFrame, settings: dict, methods: str) -> str:
    """The whole page of one participant from its session sections; ``methods`` is Markdown."""
    nav = "<nav>" + "".join(f"<a href='#{esc(s)}'>{esc(s)}</a>" for s in summary["session"]) + "</nav>"
    return page(f"sub-{subject}: ketamine-fc", [
        f"<h1>sub-{esc(subject)}</h1>",
        f"<p class='note'>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by ketamine-fc "
        f"{esc(__version__)}.</p>", nav, "<h2>Summary</h2>", table(summary, digits=3), *sessions,
        "<h2>Methods</h2>", markdown(methods),
        "<h2>Settings</h2>", table(settings_table(settings))])


def failed_session_section(label: str, errors: list, runs_html: list, computed: bool = False) -> str:
    """HTML of a session that could not be computed (or, ``computed``, not drawn): why, then the runs of it
    that were processed."""
    why = "Not computed, so not written and not in the group analyses: " if not computed else "Report missing: "
    parts = [f"<h2 id='{esc(label)}'>Session {esc(label)}</h2>", f"<p class='fail'>{why}{esc('; '.join(errors))}</p>"]
    if runs_html:
        parts += ["<h3>Runs processed</h3>", *runs_html]
    return "\n".join(parts)


def summary_row(label: str, measures: pd.Series | None, failure: str | None = None) -> dict:
    """The participant summary's line of a session: from its network measures, or why it was not computed."""
    if measures is None:
        return {"session": label, "retained frames": None, "mean FD (mm)": None, "included": False,
                "why excluded": f"not computed: {failure}"}
    return {"session": label, "retained frames": measures.get("n_frames"), "mean FD (mm)": measures.get("mean_fd"),
            "included": str(measures.get("included")).lower() == "true",
            "why excluded": measures.get("exclusion_reason")}


def write_participant_report(output_dir, subject: str, sections: list, rows: list, parameters: dict) -> Path:
    """Write ``OUTPUT_DIR/sub-<label>.html`` atomically from the session sections and summary lines."""
    from ketamine_fc.reports.methods import participant_methods
    from ketamine_fc.utils.derivatives import atomic_path

    html = participant_page(subject, sections, pd.DataFrame(rows), parameters, participant_methods(parameters))
    out = Path(output_dir) / f"sub-{subject}.html"
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return out
