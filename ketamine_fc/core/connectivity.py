"""Functional connectivity: Pearson correlation of region time series and the Fisher z transform."""

from __future__ import annotations

import numpy as np

#: |r| is clipped to this value before arctanh, so identical series give a large finite z, not inf
R_CLIP = 1.0 - 1e-7


def correlation_matrix(timeseries: np.ndarray) -> np.ndarray:
    """Pearson correlation between the columns of ``timeseries`` (frames x regions).

    Columns that are entirely NaN (missing regions) or constant give NaN rows and columns;
    the diagonal of valid regions is 1.
    """
    ts = np.asarray(timeseries, dtype=np.float64)
    if ts.ndim != 2:
        raise ValueError(f"time series must be 2-D (frames x regions), got shape {ts.shape}")
    n_regions = ts.shape[1]
    out = np.full((n_regions, n_regions), np.nan)
    valid = ~np.isnan(ts).any(axis=0)
    centred = ts[:, valid] - ts[:, valid].mean(axis=0)
    norms = np.sqrt(np.einsum("ij,ij->j", centred, centred))
    ok = norms > 0
    z = centred[:, ok] / norms[ok]
    idx = np.flatnonzero(valid)[ok]
    r = np.clip(z.T @ z, -1.0, 1.0)
    out[np.ix_(idx, idx)] = r
    out[idx, idx] = 1.0
    return out


def fisher_z(r: np.ndarray, clip: float = R_CLIP) -> np.ndarray:
    """Fisher's z = arctanh(r), with |r| clipped to ``clip`` so that the diagonal stays finite."""
    return np.arctanh(np.clip(np.asarray(r, dtype=np.float64), -clip, clip))


def concatenate_runs(runs) -> np.ndarray:
    """Stack the retained frames of several cleaned runs of one session (each frames x regions)."""
    runs = [np.asarray(r, dtype=np.float64) for r in runs]
    if not runs:
        raise ValueError("no runs to concatenate")
    widths = {r.shape[1] for r in runs}
    if len(widths) != 1:
        raise ValueError(f"runs have different numbers of regions: {sorted(widths)}")
    return np.vstack(runs)
