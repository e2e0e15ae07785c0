"""Subcortical signal cleanup: regress the mean signal of nearby cortex out of each subcortical voxel.

Volume version of the WashU ``pfm_regress_adjacent_cortex`` step (methods.md row 14): for each
subcortical voxel, the mean time series of the cortical voxels within ``radius_mm`` (plus an intercept)
is regressed out; voxels with no cortex in reach are left as they are.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree


def adjacent_cortex_weights(sub_xyz_mm, cortex_xyz_mm, radius_mm=20.0) -> sparse.csr_matrix:
    """Averaging matrix over the cortical voxels within ``radius_mm`` (inclusive) of each subcortical voxel.

    Parameters
    ----------
    sub_xyz_mm : (n_sub, 3) world coordinates of the subcortical voxels
    cortex_xyz_mm : (n_cortex, 3) world coordinates of the cortical voxels
    radius_mm : float

    Returns
    -------
    (n_sub, n_cortex) CSR matrix, each non-empty row summing to 1; rows with no cortex in reach are empty.
    """
    sub = np.asarray(sub_xyz_mm, dtype=float).reshape(-1, 3)
    ctx = np.asarray(cortex_xyz_mm, dtype=float).reshape(-1, 3)
    if not len(sub) or not len(ctx) or radius_mm <= 0:
        return sparse.csr_matrix((len(sub), len(ctx)))
    pairs = cKDTree(sub).sparse_distance_matrix(cKDTree(ctx), float(radius_mm), output_type="ndarray")
    rows, cols = pairs["i"].astype(np.intp), pairs["j"].astype(np.intp)
    counts = np.bincount(rows, minlength=len(sub))
    out = sparse.csr_matrix((1.0 / counts[rows], (rows, cols)), shape=(len(sub), len(ctx)))
    out.sort_indices()
    return out


def regress_adjacent(sub_ts, adj_ts, keep=None) -> np.ndarray:
    """Residual of each column of ``sub_ts`` after regressing out the same column of ``adj_ts`` and an intercept.

    The fit (closed-form simple regression per column, all columns at once) uses the ``keep`` frames;
    the residual is returned for every frame. Columns whose adjacent signal is absent (constant or all
    zero over ``keep``) are only demeaned, so every column is centred the same way.

    Parameters
    ----------
    sub_ts : (T, V) subcortical voxel series
    adj_ts : (T, V) mean adjacent-cortex series of each voxel
    keep : (T,) bool mask or integer frame indices; default all frames

    Returns
    -------
    (T, V) float64 residuals.
    """
    y = np.asarray(sub_ts, dtype=np.float64)
    x = np.asarray(adj_ts, dtype=np.float64)
    if y.shape != x.shape:
        raise ValueError(f"subcortical and adjacent series differ in shape: {y.shape} vs {x.shape}")
    rows = slice(None) if keep is None else np.asarray(keep)
    yk, xk = y[rows], x[rows]
    ym, xm = yk.mean(axis=0), xk.mean(axis=0)
    xc = xk - xm
    sxx = np.einsum("ij,ij->j", xc, xc)
    sxy = np.einsum("ij,ij->j", xc, yk - ym)
    scale = np.einsum("ij,ij->j", xk, xk)
    present = sxx > 1e-10 * scale
    beta = np.divide(sxy, sxx, out=np.zeros_like(sxy), where=present)
    return y - ym - (x - xm) * beta
