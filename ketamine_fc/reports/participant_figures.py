"""Figures of the participant report, returned as PNG bytes (embedded in the HTML, no loose files)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

CENSOR_COLORS = {"dummy": "#9e9e9e", "fd_outlier": "#d62728", "short_segment": "#ff7f0e"}
CENSOR_NAMES = {"dummy": "dummy scan", "fd_outlier": "FD above threshold", "short_segment": "short segment"}
DPI = 80


def png_bytes(fig) -> bytes:
    """Render a figure to PNG and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def network_order(networks) -> tuple:
    """Region order grouped by network (networks sorted by name, ``unassigned`` last) and the group spans.

    Returns
    -------
    order : int array
        Region positions, grouped.
    spans : list of (name, start, stop)
        Each network's rows in the reordered matrix.
    """
    networks = np.asarray([str(n) if n == n and str(n).lower() not in ("", "n/a", "none") else "unassigned"
                           for n in networks])
    names = sorted(set(networks), key=lambda n: (n.lower() in ("unassigned", "none"), n.lower()))
    order = np.concatenate([np.flatnonzero(networks == n) for n in names]).astype(int)
    spans, start = [], 0
    for n in names:
        stop = start + int(np.sum(networks == n))
        spans.append((n, start, stop))
        start = stop
    return order, spans


def _zscore(data):
    data = np.asarray(data, dtype=float)
    out = np.full_like(data, np.nan)
    seen = np.isfinite(data).sum(axis=0) > 0  # a region lost in this run stays blank
    with np.errstate(invalid="ignore", divide="ignore"):
        cols = data[:, seen]
        out[:, seen] = (cols - np.nanmean(cols, axis=0)) / np.nanstd(cols, axis=0)
    return out


def _labelled(spans, share: float):
    """The networks large enough to be named on an axis without their names overlapping."""
    total = spans[-1][2]
    return [(name, start, stop) for name, start, stop in spans if stop - start >= share * total]


def _network_strip(ax, spans):
    cmap = plt.get_cmap("tab20")
    for k, (name, start, stop) in enumerate(spans):
        ax.axhspan(start - 0.5, stop - 0.5, color=cmap(k % 20))
    for name, start, stop in _labelled(spans, 0.06):
        ax.text(-0.6, (start + stop - 1) / 2, name, ha="right", va="center", fontsize=7)
    ax.set_ylim(spans[-1][2] - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.axis("off")


def run_figure(censoring, dvars, raw, cleaned, retained, networks, fd_thresh: float, tr: float) -> bytes:
    """FD with the threshold and censored frames, DVARS before and after cleaning, carpets before and after.

    Parameters
    ----------
    censoring : DataFrame
        The run's censoring table (``framewise_displacement``, ``dummy``, ``fd_outlier``, ``short_segment``).
    dvars : DataFrame
        ``dvars_before`` (all frames) and ``dvars_after`` (retained frames, NaN elsewhere).
    raw : (T, R) array
        Region means before cleaning, every frame.
    cleaned : (K, R) array
        Cleaned region series of the K retained frames.
    retained : (K,) int array
        Frame numbers of the retained frames.
    networks : (R,) sequence
        Network of each region (rows are grouped by it).
    fd_thresh, tr : float
        Censoring threshold (mm; 0 = none) and repetition time (s).
    """
    n = len(censoring)
    order, spans = network_order(networks)
    frames = np.arange(n)
    fig = plt.figure(figsize=(11, 9))
    grid = fig.add_gridspec(4, 2, height_ratios=[1, 1, 2.2, 2.2], width_ratios=[0.06, 1], hspace=0.35, wspace=0.02)
    ax_fd = fig.add_subplot(grid[0, 1])
    fd = censoring["framewise_displacement"].to_numpy(dtype=float)
    ax_fd.plot(frames, fd, color="k", lw=0.8)
    if fd_thresh > 0:
        ax_fd.axhline(fd_thresh, color=CENSOR_COLORS["fd_outlier"], ls="--", lw=1, label=f"threshold {fd_thresh:g} mm")
    for col, color in CENSOR_COLORS.items():
        hit = np.flatnonzero(censoring[col].to_numpy() != 0) if col in censoring else []
        for i, f in enumerate(hit):
            ax_fd.axvspan(f - 0.5, f + 0.5, color=color, alpha=0.35, lw=0,
                          label=f"{CENSOR_NAMES[col]} ({len(hit)})" if i == 0 else None)
    ax_fd.set_ylabel("FD (mm)")
    ax_fd.set_xlim(-0.5, n - 0.5)
    ax_fd.set_title(f"Framewise displacement and censored frames ({int(np.sum(censoring['retained']))} of {n} "
                    f"frames retained, TR {tr:g} s)", fontsize=10, loc="left")
    if ax_fd.get_legend_handles_labels()[1]:  # nothing censored and no threshold: no legend
        ax_fd.legend(loc="lower left", bbox_to_anchor=(0, 1.12), ncol=4, fontsize=8, frameon=False)
    ax_dv = fig.add_subplot(grid[1, 1], sharex=ax_fd)
    ax_dv.plot(frames, dvars["dvars_before"], color="#1f77b4", lw=0.8, label="before cleaning (left axis)")
    ax_dv.set_ylabel("DVARS before", color="#1f77b4")
    twin = ax_dv.twinx()
    twin.plot(frames, dvars["dvars_after"], color="#2ca02c", lw=0.8, label="after cleaning (right axis)")
    twin.set_ylabel("DVARS after", color="#2ca02c")
    ax_dv.set_title("DVARS (voxel sample): before cleaning (blue, left axis) and after (green, right axis; "
                    "retained frames only)", fontsize=10, loc="left")
    before = np.full((n, raw.shape[1]), np.nan)
    before[censoring["dummy"].to_numpy() == 0] = _zscore(raw[censoring["dummy"].to_numpy() == 0])
    after = np.full((n, raw.shape[1]), np.nan)
    if len(retained) and len(cleaned) == len(retained):  # a run too short to clean has no cleaned series
        after[np.asarray(retained, dtype=int)] = _zscore(cleaned)
    for row, (data, what) in enumerate(((before, "before cleaning (dummy scans blank)"),
                                        (after, "after cleaning (censored frames blank)")), start=2):
        ax = fig.add_subplot(grid[row, 1], sharex=ax_fd)
        ax.imshow(data[:, order].T, aspect="auto", cmap="gray", vmin=-2, vmax=2, interpolation="nearest",
                  extent=(-0.5, n - 0.5, len(order) - 0.5, -0.5))
        for _, start, _ in spans[1:]:
            ax.axhline(start - 0.5, color="#ffcc00", lw=0.4)
        ax.set_yticks([])
        ax.set_title(f"Region time series {what}, z-scored, grouped by network", fontsize=10, loc="left")
        _network_strip(fig.add_subplot(grid[row, 0]), spans)
        if row == 3:
            ax.set_xlabel("frame")
    for ax in (ax_fd, ax_dv):
        ax.tick_params(labelbottom=False)
    return png_bytes(fig)


def matrix_figure(z, networks, title: str) -> bytes:
    """The Fisher-z matrix ordered by network, colour scale symmetric around 0 (nilearn ``plot_matrix``)."""
    from nilearn import plotting

    order, spans = network_order(networks)
    mat = np.asarray(z, dtype=float)[np.ix_(order, order)]
    vmax = float(np.nanpercentile(np.abs(mat), 99)) if np.isfinite(mat).any() else 1.0
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    plotting.plot_matrix(np.ma.masked_invalid(mat), axes=ax, vmin=-vmax, vmax=vmax, cmap="RdBu_r", colorbar=True,
                         title=title)
    for _, start, _ in spans[1:]:
        ax.axhline(start - 0.5, color="k", lw=0.4)
        ax.axvline(start - 0.5, color="k", lw=0.4)
    named = _labelled(spans, 0.025)
    ax.set_yticks([(start + stop - 1) / 2 for _, start, stop in named], [name for name, _, _ in named], fontsize=7)
    ax.set_xticks([])
    return png_bytes(fig)


def atlas_figure(dseg_img, mean_img, lost_img=None) -> bytes:
    """The atlas over the run's mean BOLD; regions lost to the brain mask in a second row when there are any."""
    from nilearn import plotting

    rows = 2 if lost_img is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(11, 2.3 * rows), squeeze=False)
    cuts = np.linspace(-30, 60, 7)
    plotting.plot_roi(dseg_img, bg_img=mean_img, display_mode="z", cut_coords=cuts, axes=axes[0, 0], cmap="tab20",
                      alpha=0.45, black_bg=True, draw_cross=False, annotate=False, colorbar=False,
                      title="Atlas regions over the run's mean BOLD")
    if lost_img is not None:
        plotting.plot_roi(lost_img, bg_img=mean_img, display_mode="z", cut_coords=cuts, axes=axes[1, 0],
                          cmap="autumn", alpha=0.8, black_bg=True, draw_cross=False, annotate=False, colorbar=False,
                          title="Regions missing or shrunk by the brain mask")
    return png_bytes(fig)


SURFACE_VIEWS = (("L", "lateral"), ("L", "medial"), ("R", "lateral"), ("R", "medial"))


def surface_view(ax, coords, faces, face_colors, hemi: str, view: str):
    """Draw a mesh as seen from the side (painter's algorithm: far triangles first), shaded by its normals.

    Two-dimensional drawing of every triangle is a few times faster than a 3-D axes for the 65k triangles of an
    fs_LR 32k hemisphere, and the lateral and medial views need no more.
    """
    from matplotlib.collections import PolyCollection

    toward = -1.0 if (hemi == "L") == (view == "lateral") else 1.0  # the viewer sits at x = toward * infinity
    tri = np.asarray(coords, dtype=np.float64)[np.asarray(faces)]
    order = np.argsort(tri[:, :, 0].mean(axis=1) * toward)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    shade = 0.35 + 0.65 * np.abs(normals[order, 0])
    polygons = np.stack([tri[order, :, 1] * toward, tri[order, :, 2]], axis=-1)  # anterior to the viewer's side
    colors = np.clip(face_colors[order] * shade[:, None], 0, 1)
    ax.add_collection(PolyCollection(polygons, facecolors=colors, edgecolors="none", antialiased=False))
    ax.autoscale_view()
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{'left' if hemi == 'L' else 'right'} {view}", fontsize=8)


def surface_atlas_figure(meshes: dict, vertex_regions: dict, networks: dict, lost=()) -> bytes:
    """The cortical regions on the midthickness surfaces, coloured by network; regions lost in this run left grey.

    Parameters
    ----------
    meshes : ``{"L": (coords, faces), "R": (coords, faces)}`` of fs_LR 32k surfaces
    vertex_regions : ``{"L": (n_vertices,) int, "R": ...}`` region index of every vertex (0 = none)
    networks : region index -> network name
    lost : region indices left out of this run (too few grayordinates with signal)
    """
    from matplotlib.patches import Patch

    lost = {int(i) for i in lost}
    shown = sorted({str(networks.get(int(r))) for h in vertex_regions for r in np.unique(vertex_regions[h])
                    if r > 0 and int(r) not in lost})
    cmap = plt.get_cmap("tab20")
    palette = {name: np.array(cmap(k % 20)[:3]) for k, name in enumerate(shown)}
    fig, axes = plt.subplots(1, len(SURFACE_VIEWS), figsize=(11, 2.8))
    for ax, (hemi, view) in zip(axes, SURFACE_VIEWS):
        coords, faces = meshes[hemi]
        regions = np.asarray(vertex_regions[hemi])[np.asarray(faces)[:, 0]]
        colors = np.full((len(regions), 3), 0.82)
        for region in np.unique(regions[regions > 0]):
            if int(region) not in lost:
                colors[regions == region] = palette[str(networks.get(int(region)))]
        surface_view(ax, coords, faces, colors, hemi, view)
    fig.subplots_adjust(bottom=0.2, wspace=0.02)
    fig.legend(handles=[Patch(color=palette[n], label=n) for n in shown], loc="lower center", ncol=min(7, len(shown)),
               fontsize=7, frameon=False, bbox_to_anchor=(0.5, 0.0))
    return png_bytes(fig)
