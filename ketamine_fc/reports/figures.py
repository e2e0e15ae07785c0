"""The group report's figures (matplotlib, Agg), each saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = {True: "#1b9e77", False: "#d95f02"}


def _save(fig, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    fig.savefig(folder / f"{name}.svg", bbox_inches="tight")
    plt.close(fig)
    return png


def madrs_figure(madrs, course, order, folder):
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    x = {t: i for i, t in enumerate(order)}
    for _, g in madrs.groupby("participant_id"):
        g = g[g["timepoint"].isin(order)].sort_values("timepoint", key=lambda s: s.map(x))
        ax.plot(g["timepoint"].map(x), g["madrs"], color="0.8", lw=0.8)
    ax.errorbar(range(len(course)), course["mean"], yerr=course["sd"], color="k", lw=2, capsize=4)
    ax.set_xticks(range(len(order)), order)
    ax.set_ylabel("MADRS")
    ax.set_title("MADRS over time (mean, SD and individuals)")
    width = 0.27
    n = course["n_paired"].where(course["n_paired"] > 0).astype(float) if "n_paired" in course else course["n"]
    for k, (col, label) in enumerate((("response_n", "response"), ("remission_n", "remission"),
                                      ("cgi_improved_n", "CGI-I 1-2"))):
        denom = course["cgi_n"].astype(float) if col == "cgi_improved_n" and "cgi_n" in course else n
        bx.bar(np.arange(len(course)) + (k - 1) * width, 100 * course[col].astype(float) / denom, width, label=label)
    bx.set_xticks(range(len(order)), order)
    bx.set_ylabel("% of those assessed")
    bx.legend()
    bx.set_title("Response, remission, CGI-I improvement")
    return _save(fig, folder, "fig1_madrs")


def prepost_figure(fc, resp, measures, folder):
    fig, axes = plt.subplots(2, len(measures), figsize=(3.2 * len(measures), 6.5), squeeze=False)
    for j, m in enumerate(measures):
        ax, bx = axes[0, j], axes[1, j]
        per = fc.groupby(["participant_id", "phase"])[m].mean().unstack()
        changes = {True: [], False: []}
        for pid, row in per.iterrows():
            if pid not in resp.index or pd.isna(row.get("pre")) or pd.isna(row.get("post")):
                continue
            r = bool(resp[pid])
            ax.plot([0, 1], [row["pre"], row["post"]], color=COLORS[r], alpha=0.7)
            changes[r].append(row["post"] - row["pre"])
        ax.set_xticks([0, 1], ["pre", "post"])
        ax.set_title(m)
        bx.boxplot([changes[True], changes[False]])
        bx.set_xticks([1, 2], ["responders", "non-responders"])
        bx.axhline(0, color="0.5", lw=0.8)
    axes[0, 0].set_ylabel("FC (Fisher z)")
    axes[1, 0].set_ylabel("post - pre (Fisher z)")
    axes[0, 0].legend([Line2D([], [], color=COLORS[True]), Line2D([], [], color=COLORS[False])],
                      ["responders", "non-responders"], fontsize=8)
    fig.tight_layout()
    return _save(fig, folder, "fig2_3_prepost")


def groups_figure(cvp_means, measures, folder):
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.27
    for k, (label, values) in enumerate(cvp_means.items()):
        ax.bar(np.arange(len(measures)) + (k - 1) * width, [values[m][0] for m in measures], width,
               yerr=[values[m][1] for m in measures], label=label, capsize=3)
    ax.set_xticks(range(len(measures)), measures)
    ax.set_ylabel("FC (Fisher z), mean and SEM")
    ax.legend()
    ax.set_title("Controls vs patients before and after treatment")
    return _save(fig, folder, "fig4_controls_patients")


def volume_figure(panels, folder):
    """Scatter of each structure's volume / ICV against MADRS % change; ``panels`` = [(name, x, y, r, p)]."""
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.3 * nrow), squeeze=False)
    for ax, (name, x, y, r, p) in zip(axes.flat, panels):
        ax.scatter(x, y, s=14)
        ok = np.isfinite(x) & np.isfinite(y)
        xc = x[ok] - x[ok].mean()
        if ok.sum() >= 3 and np.ptp(xc) > 1e-9 * max(abs(x[ok].mean()), 1e-300):
            slope = (xc * (y[ok] - y[ok].mean())).sum() / (xc**2).sum()
            ends = np.array([xc.min(), xc.max()])
            ax.plot(ends + x[ok].mean(), y[ok].mean() + slope * ends, color="k", lw=1)
        ax.set_xlabel(f"{name} / ICV")
        ax.tick_params(labelsize=7)
        ax.set_title(f"{name}: r = {r:.2f}, p = {p:.3f}", fontsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel("MADRS % change")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, folder, "fig5_volume")


def limbic_matrix_figure(edges, threshold_p, folder):
    labels = list(dict.fromkeys(list(edges["region_1"]) + list(edges["region_2"])))
    mat = np.full((len(labels), len(labels)), np.nan)
    for _, e in edges.iterrows():
        i, j = labels.index(e["region_1"]), labels.index(e["region_2"])
        mat[i, j] = mat[j, i] = e["t"] if e["p"] < threshold_p else 0.0
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    lim = np.nanmax(np.abs(mat)) if np.isfinite(mat).any() and np.nanmax(np.abs(mat)) > 0 else 1
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(im, label=f"t (post - pre), shown where p < {threshold_p}")
    ax.set_title("Limbic FC change")
    return _save(fig, folder, "fig_limbic_change")
