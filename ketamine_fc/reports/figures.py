"""The group report's figures (matplotlib, Agg), each saved as PNG and SVG.

Legends sit outside the axes, signed colour scales are symmetric around 0, and regions, measures and volumes
carry the names of :mod:`ketamine_fc.reports.labels`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ketamine_fc.reports.labels import measure_name, region_name, region_order, volume_name  # noqa: E402

COLORS = {True: "#1b9e77", False: "#d95f02"}


def _save(fig, folder: Path, name: str, svg: bool = True) -> Path:
    """``name``.png (and .svg unless ``svg`` is False: surface meshes make vector files of tens of MB)."""
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    if svg:
        fig.savefig(folder / f"{name}.svg", bbox_inches="tight")
    plt.close(fig)
    return png


def madrs_figure(madrs, course, order, folder):
    """MADRS of each patient with mean and SD (left); % responding, remitting and CGI-I improved (right)."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    x = {t: i for i, t in enumerate(order)}
    for _, g in madrs.groupby("participant_id"):
        g = g[g["timepoint"].isin(order)].sort_values("timepoint", key=lambda s: s.map(x))
        ax.plot(g["timepoint"].map(x), g["madrs"], color="0.8", lw=0.8)
    ax.errorbar(range(len(course)), course["mean"], yerr=course["sd"], color="k", lw=2, capsize=4)
    ticks = [f"{t}\nn={int(n)}" for t, n in zip(course["timepoint"], course["n"])]
    ax.set_xticks(range(len(course)), ticks, fontsize=8)
    ax.set_ylabel("MADRS")
    ax.set_title("MADRS over time (mean and SD; grey: each patient)", fontsize=10)
    width = 0.27
    n = course["n_paired"].where(course["n_paired"] > 0).astype(float) if "n_paired" in course else course["n"]
    for k, (col, label) in enumerate((("response_n", "response"), ("remission_n", "remission"),
                                      ("cgi_improved_n", "CGI-I 1-2"))):
        denom = course["cgi_n"].astype(float) if col == "cgi_improved_n" and "cgi_n" in course else n
        bx.bar(np.arange(len(course)) + (k - 1) * width, 100 * course[col].astype(float) / denom, width, label=label)
    bx.set_xticks(range(len(course)), list(course["timepoint"]), fontsize=8)
    bx.set_ylabel("% of those assessed")
    bx.set_ylim(0, 100)
    bx.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False, fontsize=9)
    bx.set_title("Response, remission and CGI-I improvement", fontsize=10)
    fig.tight_layout()
    return _save(fig, folder, "fig1_madrs")


def prepost_figure(fc, resp, measures, folder):
    """Each patient's FC before and after (top) and the change by response group (bottom), per measure."""
    fig, axes = plt.subplots(2, len(measures), figsize=(3.2 * len(measures), 6.5), squeeze=False)
    counts = {True: set(), False: set()}
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
            counts[r].add(pid)
        ax.set_xticks([0, 1], ["pre", "post"])
        ax.set_xlim(-0.15, 1.15)
        ax.set_title(measure_name(m), fontsize=10)
        bx.boxplot([changes[True], changes[False]])
        bx.set_xticks([1, 2], [f"responders\nn={len(changes[True])}", f"non-responders\nn={len(changes[False])}"],
                      fontsize=8)
        bx.axhline(0, color="0.5", lw=0.8)
    axes[0, 0].set_ylabel("FC (Fisher z)")
    axes[1, 0].set_ylabel("post - pre (Fisher z)")
    fig.legend([Line2D([], [], color=COLORS[True]), Line2D([], [], color=COLORS[False])],
               [f"responders (n={len(counts[True])})", f"non-responders (n={len(counts[False])})"],
               loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.04))
    fig.tight_layout()
    return _save(fig, folder, "fig2_3_prepost")


def groups_figure(cvp_means, measures, folder, counts=None):
    """Mean and SEM of each measure per group; ``cvp_means`` = {group: {measure: (mean, sem)}}."""
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(cvp_means), 1)
    for k, (label, values) in enumerate(cvp_means.items()):
        shown = f"{label} (n={counts[label]})" if counts and label in counts else label
        ax.bar(np.arange(len(measures)) + (k - (len(cvp_means) - 1) / 2) * width, [values[m][0] for m in measures],
               width, yerr=[values[m][1] for m in measures], label=shown, capsize=3)
    ax.set_xticks(range(len(measures)), [measure_name(m) for m in measures], fontsize=9)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_ylabel("FC (Fisher z), mean and SEM")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=9)
    ax.set_title("Controls and patients before and after treatment", fontsize=10)
    return _save(fig, folder, "fig4_controls_patients")


def volume_figure(panels, folder):
    """Scatter of each structure's volume / ICV against MADRS % change; ``panels`` = [(name, x, y, r, p)]."""
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.8 * ncol, 3.4 * nrow), squeeze=False)
    for ax, (name, x, y, r, p) in zip(axes.flat, panels):
        x = np.asarray(x, float) * 1000  # per mille of ICV: short tick labels
        ax.scatter(x, y, s=14)
        ok = np.isfinite(x) & np.isfinite(y)
        xc = x[ok] - x[ok].mean() if ok.any() else x[ok]
        if ok.sum() >= 3 and np.ptp(xc) > 1e-9 * max(abs(x[ok].mean()), 1e-300):
            slope = (xc * (y[ok] - y[ok].mean())).sum() / (xc**2).sum()
            ends = np.array([xc.min(), xc.max()])
            ax.plot(ends + x[ok].mean(), y[ok].mean() + slope * ends, color="k", lw=1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_xlabel(f"{volume_name(name)} volume / ICV (per mille)", fontsize=8)
        ax.tick_params(labelsize=8)
        shown_p = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        ax.set_title(f"{volume_name(name)}: r = {r:.2f}, {shown_p}, n = {int(ok.sum())}", fontsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel("MADRS % change")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, folder, "fig5_volume")


def limbic_matrix_figure(edges, threshold_p, folder):
    """Mean FC change of every limbic region pair, significant pairs (paired t p < ``threshold_p``) marked."""
    labels = region_order(list(dict.fromkeys(list(edges["region_1"]) + list(edges["region_2"]))))
    index = {label: i for i, label in enumerate(labels)}
    mat = np.full((len(labels), len(labels)), np.nan)
    marked = []
    for _, e in edges.iterrows():
        i, j = index[e["region_1"]], index[e["region_2"]]
        mat[i, j] = mat[j, i] = e["mean_change"]
        if pd.notna(e["p"]) and e["p"] < threshold_p:
            marked += [(i, j), (j, i)]
    fig, ax = plt.subplots(figsize=(6.2, 5.2))
    finite = np.abs(mat[np.isfinite(mat)])
    lim = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(mat), cmap=cmap, vmin=-lim, vmax=lim)
    if marked:
        rows, cols = zip(*marked)
        ax.scatter(cols, rows, marker="o", s=14, facecolor="k", edgecolor="w", linewidth=0.5)
    names = [region_name(label) for label in labels]
    ax.set_xticks(range(len(labels)), names, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(len(labels)), names, fontsize=8)
    fig.colorbar(im, ax=ax, label="mean change, post - pre (Fisher z)", shrink=0.85)
    ax.set_title(f"Limbic FC change (dots: paired t p < {threshold_p:g}, uncorrected)", fontsize=10)
    return _save(fig, folder, "fig_limbic_change")
