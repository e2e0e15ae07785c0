"""Motion quality control of functional connectivity: QC-FC correlations and motion comparisons.

QC-FC is the correlation, across scans, between an edge's FC and the scan's mean framewise displacement; its
benchmarks are the share of edges with p < .05, the median absolute r and the distance dependence, the Spearman
correlation between QC-FC r and the distance separating the two regions (Ciric et al. 2017, NeuroImage
154:174; Parkes et al. 2018, NeuroImage 171:415). Pure functions on arrays (numpy and scipy only).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ketamine_fc.core.stats.inference import paired_t, student_t

#: fewest sessions an edge needs for its QC-FC correlation
MIN_SESSIONS = 3


def _t_test_r(r, n):
    """Two-sided p of Pearson (or Spearman) r with ``n - 2`` DF; NaN where ``n < 3``, 0 where ``|r| = 1``."""
    r, n = np.asarray(r, float), np.asarray(n, float)
    p = np.full(r.shape, np.nan)
    ok = np.isfinite(r) & (n >= 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r[ok] * np.sqrt((n[ok] - 2) / (1.0 - r[ok] ** 2))
    p[ok] = np.where(np.abs(r[ok]) >= 1.0, 0.0, 2 * stats.t.sf(np.abs(t), n[ok] - 2))
    return p


def qcfc(edges, mean_fd):
    """Pearson r between each edge's FC and mean FD across sessions, with its two-sided p.

    Parameters
    ----------
    edges : array, shape (n_sessions, n_edges)
        FC per session and edge (Fisher z); NaN where a session lacks the edge.
    mean_fd : array, shape (n_sessions,)
        Mean framewise displacement per session (mm); a session with NaN FD is left out of every edge.

    Returns
    -------
    r, p, n : arrays, shape (n_edges,)
        Pearson r, two-sided p (t test with ``n - 2`` DF) and the number of sessions used per edge (those with
        both values). Edges with fewer than 3 sessions, or constant FC or FD over their sessions, give NaN.
    """
    edges = np.asarray(edges, dtype=float)
    fd = np.asarray(mean_fd, dtype=float).ravel()
    if edges.ndim != 2 or edges.shape[0] != fd.size:
        raise ValueError(f"edges must be (n_sessions, n_edges) with n_sessions = {fd.size} mean FD values, "
                         f"got shape {edges.shape}")
    mask = np.isfinite(edges) & np.isfinite(fd)[:, None]
    n = mask.sum(axis=0)
    y = np.where(mask, edges, 0.0)
    x = np.where(mask, np.where(np.isfinite(fd), fd, 0.0)[:, None], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = np.where(mask, x - x.sum(axis=0) / n, 0.0)
        yc = np.where(mask, y - y.sum(axis=0) / n, 0.0)
        denom = np.sqrt((xc**2).sum(axis=0) * (yc**2).sum(axis=0))
        r = (xc * yc).sum(axis=0) / denom
    varies = _varies(y, mask) & _varies(x, mask)  # exactly constant values give no r (not rounding noise)
    r = np.where((n >= MIN_SESSIONS) & varies & (denom > 0), np.clip(r, -1.0, 1.0), np.nan)
    return r, _t_test_r(r, n), n


def _varies(values, mask):
    """Whether the masked values of each column are not all equal."""
    return np.where(mask, values, -np.inf).max(axis=0) > np.where(mask, values, np.inf).min(axis=0)


def spearman(x, y) -> dict:
    """Spearman rho (Pearson r of average ranks) with its two-sided p (t with ``n - 2`` DF, as scipy), NaN pairs
    dropped. Returns ``dict(rho, p, n)``."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3:
        return dict(rho=np.nan, p=np.nan, n=n)
    rx, ry = stats.rankdata(x[ok]), stats.rankdata(y[ok])
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = np.sqrt((rx**2).sum() * (ry**2).sum())
    if denom == 0:
        return dict(rho=np.nan, p=np.nan, n=n)
    rho = float(np.clip((rx * ry).sum() / denom, -1.0, 1.0))
    return dict(rho=rho, p=float(_t_test_r(np.array([rho]), np.array([n]))[0]), n=n)


def qcfc_summary(r, p, distance=None, alpha=0.05) -> dict:
    """The QC-FC benchmarks of one set of edges.

    Parameters
    ----------
    r, p : arrays, shape (n_edges,)
        QC-FC r and p per edge (:func:`qcfc`); NaN edges are left out.
    distance : array, shape (n_edges,), optional
        Euclidean distance between the two regions' centroids (mm); NaN where a centroid is unknown.
    alpha : float
        Significance level of the edge count.

    Returns
    -------
    dict
        ``n_edges`` (edges with a QC-FC r), ``pct_edges_p05`` (percent with p < alpha), ``median_abs_r``,
        ``distance_rho`` and ``distance_p`` (Spearman rho of QC-FC r against distance; negative when short
        edges are more motion-affected) and ``n_edges_distance`` (edges with both).
    """
    r, p = np.asarray(r, float).ravel(), np.asarray(p, float).ravel()
    ok = np.isfinite(r) & np.isfinite(p)
    n = int(ok.sum())
    out = dict(n_edges=n, pct_edges_p05=float(100.0 * (p[ok] < alpha).mean()) if n else np.nan,
               median_abs_r=float(np.median(np.abs(r[ok]))) if n else np.nan,
               distance_rho=np.nan, distance_p=np.nan, n_edges_distance=0)
    if distance is not None:
        distance = np.asarray(distance, float).ravel()
        if distance.shape != r.shape:
            raise ValueError(f"distance has {distance.size} edges, r has {r.size}")
        sp = spearman(r, distance)
        out.update(distance_rho=sp["rho"], distance_p=sp["p"], n_edges_distance=sp["n"])
    return out


def edge_distances(centroids, i, j):
    """Euclidean distance (mm) between the centroids (n_regions, 3) of regions ``i`` and ``j`` of each edge."""
    c = np.asarray(centroids, float)
    return np.sqrt(((c[np.asarray(i)] - c[np.asarray(j)]) ** 2).sum(axis=1))


def participant_means(ids, values):
    """Unique ``ids`` (sorted) and the mean of ``values`` over each one's entries (NaN ignored; NaN if none)."""
    ids, values = np.asarray(ids).ravel(), np.asarray(values, float).ravel()
    if ids.size != values.size:
        raise ValueError(f"{ids.size} ids for {values.size} values")
    uniq, inv = np.unique(ids, return_inverse=True)
    ok = np.isfinite(values)
    n = np.bincount(inv[ok], minlength=uniq.size)
    total = np.bincount(inv[ok], weights=values[ok], minlength=uniq.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return uniq, np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _describe(values):
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return (v.size, float(v.mean()) if v.size else np.nan, float(v.std(ddof=1)) if v.size > 1 else np.nan)


def compare_paired(ids_1, values_1, ids_2, values_2) -> dict:
    """Paired t test of side 1 against side 2 over the participants present on both sides.

    Each side is given per session (``ids``, ``values``); a participant's sessions on one side are averaged
    first (for example the mean of the pre sessions). Returns ``dict(n_1, mean_1, sd_1, n_2, mean_2, sd_2, t,
    df, p)`` over the complete pairs; ``t`` is positive when side 1 is higher.
    """
    u1, m1 = participant_means(ids_1, values_1)
    u2, m2 = participant_means(ids_2, values_2)
    common, i1, i2 = np.intersect1d(u1, u2, return_indices=True)
    a, b = m1[i1], m2[i2]
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    res = paired_t(a, b)
    (n1, mean1, sd1), (n2, mean2, sd2) = _describe(a), _describe(b)
    return dict(n_1=n1, mean_1=mean1, sd_1=sd1, n_2=n2, mean_2=mean2, sd_2=sd2, t=res["t"], df=res["df"],
                p=res["p"])


def compare_groups(ids_1, values_1, ids_2, values_2) -> dict:
    """Two-sample Student t test (equal variances) of side 1 against side 2, sessions averaged per participant.

    Returns ``dict(n_1, mean_1, sd_1, n_2, mean_2, sd_2, t, df, p)``; ``t`` is positive when side 1 is higher.
    """
    a = participant_means(ids_1, values_1)[1]
    b = participant_means(ids_2, values_2)[1]
    res = student_t(a, b)
    (n1, mean1, sd1), (n2, mean2, sd2) = _describe(a), _describe(b)
    return dict(n_1=n1, mean_1=mean1, sd_1=sd1, n_2=n2, mean_2=mean2, sd_2=sd2, t=res["t"], df=res["df"],
                p=res["p"])
