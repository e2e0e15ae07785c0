"""The quality-control figure of the group report: QC-FC distribution, its distance dependence, motion by group."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ketamine_fc.core.stats.qcfc import spearman
from ketamine_fc.group.qc import format_p, participant_motion
from ketamine_fc.reports.figures import _save

import matplotlib.pyplot as plt  # noqa: E402  (after figures, which selects the Agg backend)

SAMPLE_COLORS = {"patients pre": "#7570b3", "patients post": "#d95f02", "controls": "#1b9e77"}
NAME = "fig_qc"


def _not_computed(ax, title):
    ax.text(0.5, 0.5, "QC-FC not computed\n(see Analyses not computed)", ha="center", va="center",
            transform=ax.transAxes, color="0.4")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _histogram(ax, edges):
    r = edges["r"].to_numpy(float)
    p = edges["p"].to_numpy(float)
    ok = np.isfinite(r) & np.isfinite(p)
    n_sessions = int(edges["n_sessions"].max())
    ax.hist(r[ok], bins=min(60, max(10, int(ok.sum()) // 20)), color="0.55", edgecolor="white", linewidth=0.3)
    ax.axvline(0, color="k", lw=1)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)  # room for the numbers above the bars
    ax.text(0.02, 0.97, f"p < .05: {100 * (p[ok] < 0.05).mean():.1f} % of edges\nmedian |r| = "
            f"{np.median(np.abs(r[ok])):.3f}", transform=ax.transAxes, va="top", ha="left", fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    ax.set_xlabel("QC-FC r (FC vs mean FD, across sessions)")
    ax.set_ylabel("edges")
    ax.set_title(f"QC-FC r over {int(ok.sum())} edges, {n_sessions} sessions (0 marked)", fontsize=10)


def _distance(ax, fig, edges):
    ok = np.isfinite(edges["r"].to_numpy(float)) & np.isfinite(edges["distance_mm"].to_numpy(float))
    d, r = edges["distance_mm"].to_numpy(float)[ok], edges["r"].to_numpy(float)[ok]
    if not ok.any():
        ax.text(0.5, 0.5, "no region centroids\n(no atlas in OUTPUT_DIR/atlases)", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
        ax.set_title("QC-FC r vs distance: n/a", fontsize=10)
        return
    sp = spearman(r, d)
    if d.size > 2000:
        hb = ax.hexbin(d, r, gridsize=45, cmap="Greys", mincnt=1, bins="log", linewidths=0)
        fig.colorbar(hb, ax=ax, label="edges (log)", pad=0.02)
    else:
        ax.scatter(d, r, s=6 if d.size > 300 else 14, color="0.3", alpha=0.6, linewidths=0)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("distance between region centroids (mm)")
    ax.set_ylabel("QC-FC r")
    ax.set_title(f"QC-FC r vs distance, {d.size} edges\nSpearman rho = {sp['rho']:.2f} "
                 f"({format_p(sp['p'])})", fontsize=10)


def _motion(ax, per):
    samples = list(SAMPLE_COLORS)
    ids = sorted(set(per["participant_id"]))
    jitter = dict(zip(ids, np.random.default_rng(0).uniform(-0.12, 0.12, len(ids))))  # one offset per participant
    x = per["sample"].map({s: k for k, s in enumerate(samples)}) + per["participant_id"].map(jitter)
    per = per.assign(x=x)
    wide = per[per["sample"].isin(samples[:2])].pivot_table(index="participant_id", columns="sample",
                                                             values=["x", "mean_fd"])
    if set(samples[:2]) <= set(wide.columns.get_level_values(1)):
        for _, row in wide.dropna().iterrows():
            ax.plot([row["x", samples[0]], row["x", samples[1]]],
                    [row["mean_fd", samples[0]], row["mean_fd", samples[1]]], color="0.85", lw=0.7, zorder=1)
    labels = []
    for k, sample in enumerate(samples):
        part = per[(per["sample"] == sample) & np.isfinite(per["mean_fd"].to_numpy(float))]
        labels.append(f"{sample}\n(n = {len(part)})")
        if not len(part):
            continue
        ax.scatter(part["x"], part["mean_fd"], s=16, color=SAMPLE_COLORS[sample], alpha=0.85, zorder=2,
                   linewidths=0)
        ax.plot([k - 0.25, k + 0.25], [part["mean_fd"].mean()] * 2, color="k", lw=2, zorder=3)
    ax.set_xticks(range(len(samples)), labels, fontsize=9)
    ax.set_xlim(-0.6, len(samples) - 0.4)
    ax.set_ylabel("mean FD (mm)")
    ax.set_title("Mean FD per participant (dots, sessions averaged), group\nmean (bar); grey lines join a "
                 "patient's pre and post", fontsize=10)


def qc_figure(edges_table, sessions, folder, patient_group="patient", control_group="control", name=NAME) -> Path:
    """Draw the QC figure; return the PNG path (an SVG is written beside it).

    Parameters
    ----------
    edges_table : DataFrame or None
        ``qc_fc_edges`` (columns ``r``, ``distance_mm``, ``n_sessions``); None when QC-FC was not computed.
    sessions : DataFrame
        The included sessions with ``participant_id``, ``group``, ``phase`` and ``mean_fd``
        (:func:`ketamine_fc.group.inputs.session_table`).
    folder : path
        Where ``<name>.png`` and ``<name>.svg`` are written.
    """
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(15, 4.3), gridspec_kw={"width_ratios": [1, 1.15, 1]})
    if edges_table is None or not len(edges_table) or not np.isfinite(edges_table["r"].to_numpy(float)).any():
        _not_computed(ax, "QC-FC r over edges")
        _not_computed(bx, "QC-FC r vs distance")
    else:
        _histogram(ax, edges_table)
        _distance(bx, fig, edges_table)
    if "mean_fd" in sessions:
        _motion(cx, participant_motion(sessions, patient_group, control_group))
    else:
        cx.set_visible(False)
    fig.tight_layout()
    return _save(fig, Path(folder), name)


def draw(tables, inputs, params, folder) -> Path | None:
    """The QC figure from the group tables and inputs (the report's figure-drawing signature)."""
    from ketamine_fc.group.inputs import session_table

    edges = tables.get("qc_fc_edges")
    if edges is None and tables.get("motion") is None:
        return None
    return qc_figure(edges, session_table(inputs, params), folder, params.patient_group, params.control_group)

