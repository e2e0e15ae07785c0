"""Subcortical signal cleanup: regress the mean signal of nearby cortex out of each subcortical voxel."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree


def adjacent_cortex_weights(sub_xyz_mm, cortex_xyz_mm, radius_mm=20.0) -> sparse.csr_matrix:
    """Row-normalised (n_sub x n_cortex) matrix averaging the cortical voxels within ``radius_mm`` of each
    subcortical voxel (rows with no cortex in reach are empty)."""
    sub = np.asarray(sub_xyz_mm, dtype=float).reshape(-1, 3)
    ctx = np.asarray(cortex_xyz_mm, dtype=float).reshape(-1, 3)
    if not len(sub) or not len(ctx):
        return sparse.csr_matrix((len(sub), len(ctx)))
    tree = cKDTree(ctx)
    hits = tree.query_ball_point(sub, r=radius_mm)
    counts = np.array([len(h) for h in hits])
    rows = np.repeat(np.arange(len(sub)), counts)
    cols = np.concatenate([np.asarray(h, dtype=np.intp) for h in hits]) if counts.sum() else np.zeros(0, np.intp)
    vals = np.repeat(1.0 / np.maximum(counts, 1), counts)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(sub), len(ctx)))


def regress_adjacent(sub_ts, adj_ts, keep=None) -> np.ndarray:
    """Residual of each column of ``sub_ts`` after regressing the same column of ``adj_ts`` and an intercept.

    Vectorised closed form of a one-regressor least squares fit per column, fit on ``keep`` frames.
    Columns whose adjacent signal is constant are only demeaned.
    """
    y = np.asarray(sub_ts, dtype=np.float64)
    x = np.asarray(adj_ts, dtype=np.float64)
    if y.shape != x.shape:
        raise ValueError(f"subcortical and adjacent series differ in shape: {y.shape} vs {x.shape}")
    rows = slice(None) if keep is None else np.asarray(keep, dtype=bool)
    ym, xm = y[rows].mean(axis=0), x[rows].mean(axis=0)
    xc, yc = x[rows] - xm, y[rows] - ym
    sxx = np.einsum("ij,ij->j", xc, xc)
    sxy = np.einsum("ij,ij->j", xc, yc)
    beta = np.divide(sxy, sxx, out=np.zeros_like(sxy), where=sxx > 1e-12 * np.maximum(1.0, sxx.max(initial=0)))
    return y - ym - (x - xm) * beta
