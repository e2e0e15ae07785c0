"""Figures of the whole-connectome statistics: NBS components and seed maps on the brain (nilearn)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ketamine_fc.reports.figures import _save  # noqa: E402


def _vmax(values) -> float:
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) if finite.size else 1.0


def components_figure(panels, coords, folder, name: str) -> Path:
    """One glass-brain row per NBS component: its edges coloured by t (scale symmetric around 0).

    Parameters
    ----------
    panels : list of (title, i, j, t)
        Component title and its edges (region positions ``i``, ``j`` and their t).
    coords : (n_regions, 3) array
        Region centroids in mm (MNI).
    """
    from nilearn import plotting

    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.2 * len(panels)), squeeze=False)
    n = len(coords)
    for ax, (title, i, j, t) in zip(axes[:, 0], panels):
        adjacency = np.zeros((n, n))
        adjacency[i, j] = adjacency[j, i] = t
        nodes = np.unique(np.r_[i, j])
        vmax = _vmax(t)
        plotting.plot_connectome(adjacency[np.ix_(nodes, nodes)], coords[nodes], axes=ax, display_mode="lzry",
                                 edge_cmap="RdBu_r", edge_vmin=-vmax, edge_vmax=vmax, node_size=12,
                                 node_color="k", colorbar=True, title=title, annotate=False)
    return _save(fig, Path(folder), name)


def seed_maps_figure(panels, coords, folder, name: str) -> Path:
    """One glass-brain row per seed: every region coloured by the t of its FC change with the seed.

    Parameters
    ----------
    panels : list of (title, t, significant)
        Seed title, the t of every region (NaN for the seed itself and unfitted pairs) and a boolean mask of
        the regions whose q passes (drawn larger).
    coords : (n_regions, 3) array
        Region centroids in mm (MNI).
    """
    from nilearn import plotting

    vmax = max(_vmax(t) for _, t, _ in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.6 * len(panels)), squeeze=False)
    for ax, (title, t, significant) in zip(axes[:, 0], panels):
        t = np.asarray(t, dtype=float)
        ok = np.isfinite(t) & np.isfinite(coords).all(axis=1)
        size = np.where(np.asarray(significant)[ok], 40.0, 6.0)
        plotting.plot_markers(t[ok], coords[ok], axes=ax, display_mode="lzr", node_cmap="RdBu_r", node_vmin=-vmax,
                              node_vmax=vmax, node_size=size, title=title, annotate=False, colorbar=True)
    return _save(fig, Path(folder), name)


def seed_surface_figure(panels, meshes, folder, name: str) -> Path:
    """One row per seed on the fs_LR 32k surface: lateral and medial views of each hemisphere.

    Parameters
    ----------
    panels : list of (title, values)
        Seed title and ``{"L": (n_vertices,), "R": (n_vertices,)}`` vertex values (the t of the vertex's parcel;
        0 off the parcels).
    meshes : dict
        ``{"L": (coords, faces), "R": (coords, faces)}`` of the surface drawn on.
    """
    from ketamine_fc.reports.participant_figures import SURFACE_VIEWS, surface_view

    vmax = max(_vmax(np.r_[v["L"], v["R"]]) for _, v in panels)
    norm, cmap = matplotlib.colors.Normalize(-vmax, vmax), plt.get_cmap("RdBu_r")
    fig, axes = plt.subplots(len(panels), len(SURFACE_VIEWS), figsize=(11, 2.4 * len(panels)), squeeze=False)
    for row, (title, values) in zip(axes, panels):
        for ax, (hemi, view) in zip(row, SURFACE_VIEWS):
            coords, faces = meshes[hemi]
            colors = cmap(norm(np.asarray(values[hemi], dtype=float)[np.asarray(faces)[:, 0]]))[:, :3]
            surface_view(ax, coords, faces, colors, hemi, view)
        view = row[0].get_title()
        row[0].set_title("")
        row[0].set_title(f"{title}\n{view}", fontsize=9, loc="left")
    fig.subplots_adjust(left=0.01, right=0.9, wspace=0.02, hspace=0.3)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), cax=fig.add_axes([0.92, 0.25, 0.015, 0.5]),
                 label="LME t")
    return _save(fig, Path(folder), name, svg=False)
