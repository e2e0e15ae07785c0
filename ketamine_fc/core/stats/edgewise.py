"""Edge-wise random-intercept LME over a whole connectome, with sessions missing some edges.

``Z`` holds one row per session and one column per edge (Fisher z, NaN where a session lacks the edge, for
example a region lost to its brain mask). A session contributes the edges it has: edges are grouped by their
missing-data pattern (which sessions lack them; a handful of patterns in practice) and each pattern is fitted
with :func:`ketamine_fc.core.stats.lme.fit_random_intercept_many` on the sessions present (in blocks of
:data:`CHUNK` edges), so every edge gets the fit :func:`~ketamine_fc.core.stats.lme.fit_random_intercept`
would give it alone (to the optimiser's precision: the variance ratio's optimum is defined to about 1e-6
relative, the t values to a few 1e-6). Patterns that cannot be fitted give NaN with a reason code
(:data:`REASONS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketamine_fc.core.stats.lme import fit_random_intercept_many
from ketamine_fc.errors import InputError

#: edges per call of the vectorised solver: its working arrays then stay in cache (about 3 times faster
#: than one call on 77,000 edges)
CHUNK = 2048
#: reason codes of :attr:`EdgeFits.reason`
OK, TOO_FEW, RANK_DEFICIENT, ONE_PER_GROUP = 0, 1, 2, 3
REASONS = {
    OK: "",
    TOO_FEW: "fewer observations than fixed effects + 1",
    RANK_DEFICIENT: "fixed-effects design rank deficient on the sessions present",
    ONE_PER_GROUP: "one observation per participant: the random intercept is not identifiable",
}


@dataclass(frozen=True)
class EdgeFits:
    """Edge-wise fits of ``z = X b + u_participant + e``.

    Attributes
    ----------
    terms : tuple of str
    estimate, se, t, df, p : numpy.ndarray (n_terms, n_edges)
        NaN where the edge could not be fitted.
    sigma2_u, sigma2_e, loglik : numpy.ndarray (n_edges,)
        Variance components at the optimum (``sigma2_u / sigma2_e`` is the variance ratio ``r``) and the
        maximised log-likelihood (or REML criterion).
    n_obs, n_participants : numpy.ndarray (n_edges,) of int
        Sessions and participants entering each edge's fit.
    singular, converged : numpy.ndarray (n_edges,) of bool
        Boundary fit (``sigma2_u = 0``); optimum found inside the search bound.
    reason : numpy.ndarray (n_edges,) of int
        0 when fitted, else a key of :data:`REASONS`.
    pattern : numpy.ndarray (n_edges,) of int
        Row of ``present`` describing which sessions the edge has.
    present : numpy.ndarray (n_patterns, n_obs) of bool
        The distinct missing-data patterns (True = session present).
    method, df_method : str
    """

    terms: tuple
    estimate: np.ndarray
    se: np.ndarray
    t: np.ndarray
    df: np.ndarray
    p: np.ndarray
    sigma2_u: np.ndarray
    sigma2_e: np.ndarray
    loglik: np.ndarray
    n_obs: np.ndarray
    n_participants: np.ndarray
    singular: np.ndarray
    converged: np.ndarray
    reason: np.ndarray
    pattern: np.ndarray
    present: np.ndarray
    method: str
    df_method: str

    @property
    def ratio(self):
        """Variance ratio ``r = sigma2_u / sigma2_e`` per edge (NaN where not fitted)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sigma2_u / self.sigma2_e

    def term(self, name):
        """Row index of term ``name``."""
        if name not in self.terms:
            raise KeyError(f"no term {name!r}; terms are {', '.join(self.terms)}")
        return self.terms.index(name)

    def reason_text(self):
        """The reason of each edge in words (empty string when fitted)."""
        return np.array([REASONS[k] for k in sorted(REASONS)], dtype=object)[self.reason]


def edge_indices(n_nodes):
    """Row and column of each edge ``i < j`` in the order used throughout (``numpy.triu_indices(n, 1)``)."""
    return np.triu_indices(int(n_nodes), 1)


def n_nodes_of(n_edges):
    """Number of nodes of a graph with ``n_edges = n (n - 1) / 2`` edges."""
    n = int(round((1 + np.sqrt(1 + 8 * int(n_edges))) / 2))
    if n * (n - 1) // 2 != int(n_edges):
        raise InputError(f"{n_edges} edges is not n (n - 1) / 2 for any number of nodes n")
    return n


def vectorize(matrices):
    """Upper triangles (``i < j``) of symmetric matrices (..., n, n) as (..., n (n - 1) / 2)."""
    matrices = np.asarray(matrices, dtype=float)
    i, j = edge_indices(matrices.shape[-1])
    return matrices[..., i, j]


def unvectorize(values, fill=0.0):
    """Symmetric (..., n, n) matrices from edge vectors (..., n_edges); the diagonal is ``fill``."""
    values = np.asarray(values)
    n = n_nodes_of(values.shape[-1])
    out = np.full(values.shape[:-1] + (n, n), fill, dtype=values.dtype)
    i, j = edge_indices(n)
    out[..., i, j] = values
    out[..., j, i] = values
    return out


def missing_patterns(Z):
    """Distinct missing-data patterns of the columns of ``Z``.

    Returns
    -------
    present : numpy.ndarray (n_patterns, n_obs) of bool
        True where the pattern's sessions have a value; the complete pattern (if any) first.
    which : numpy.ndarray (n_edges,) of int
        Pattern of each column.
    """
    missing = np.isnan(Z)
    packed = np.packbits(missing, axis=0).T  # (n_edges, ceil(n_obs / 8)) bytes
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, which = np.unique(keys, return_index=True, return_inverse=True)
    present = ~missing[:, first].T
    order = np.argsort(-present.sum(axis=1), kind="stable")  # most complete first
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return present[order], rank[which.ravel()]


def pattern_problem(X, codes, p):
    """Reason code (see :data:`REASONS`) why design rows ``X`` with participant codes cannot be fitted."""
    if X.shape[0] <= p:
        return TOO_FEW
    if np.linalg.matrix_rank(X) < p:
        return RANK_DEFICIENT
    if np.bincount(codes).max() < 2:
        return ONE_PER_GROUP
    return OK


def check_design(Z, X, groups, term_names):
    """Validated float arrays ``Z`` (n_obs, n_edges), ``X`` (n_obs, p) and integer participant codes."""
    Z = np.asarray(Z, dtype=float)
    X = np.asarray(X, dtype=float)
    groups = np.asarray(groups)
    if Z.ndim != 2:
        raise InputError(f"Z must be 2-D (sessions x edges), got shape {Z.shape}")
    if X.ndim != 2 or X.shape[0] != Z.shape[0] or groups.shape != (Z.shape[0],):
        raise InputError(f"Z ({Z.shape[0]} rows), X ({X.shape}) and groups ({groups.shape}) must have one row "
                         "per session")
    if len(term_names) != X.shape[1]:
        raise InputError(f"{len(term_names)} term names given for a design with {X.shape[1]} columns")
    if not np.isfinite(X).all():
        raise InputError("the design matrix contains missing or infinite values")
    if np.isinf(Z).any():
        raise InputError("Z contains infinite values (Fisher z of r = 1?); only NaN marks a missing edge")
    codes = np.unique(groups, return_inverse=True)[1].ravel()
    return Z, X, codes


def fit_edges(Z, X, groups, *, term_names, method="ml", df_method="residual"):
    """Fit ``z_e = X b_e + u_participant,e + e`` for every edge ``e``, each on the sessions that have it.

    Parameters
    ----------
    Z : array-like (n_obs, n_edges)
        Fisher z per session (row) and edge (column); NaN where the session lacks the edge.
    X : array-like (n_obs, p)
        Fixed-effects design with the intercept, shared by all edges.
    groups : array-like (n_obs,)
        Participant of each session (the random intercept's grouping).
    term_names : sequence of str
        One name per column of ``X``.
    method : {"ml", "reml"}
    df_method : {"residual", "satterthwaite"}
        As in :func:`ketamine_fc.core.stats.lme.fit_random_intercept`; the paper's convention is
        ``("ml", "residual")``, lmerTest's ``("reml", "satterthwaite")``.

    Returns
    -------
    EdgeFits
    """
    Z, X, codes = check_design(Z, X, groups, term_names)
    n, m = Z.shape
    p = X.shape[1]
    stat = {key: np.full((p, m), np.nan) for key in ("estimate", "se", "t", "df", "p")}
    var = {key: np.full(m, np.nan) for key in ("sigma2_u", "sigma2_e", "loglik")}
    n_obs, n_part = np.zeros(m, int), np.zeros(m, int)
    singular, converged = np.zeros(m, bool), np.zeros(m, bool)
    reason = np.zeros(m, np.int8)
    present, which = missing_patterns(Z)
    for k, rows in enumerate(present):
        cols = np.flatnonzero(which == k)
        sub = np.flatnonzero(rows)
        n_obs[cols] = sub.size
        n_part[cols] = np.unique(codes[sub]).size
        problem = pattern_problem(X[sub], codes[sub], p)
        if problem:
            reason[cols] = problem
            continue
        for start in range(0, cols.size, CHUNK):
            part = cols[start:start + CHUNK]
            res = fit_random_intercept_many(Z[np.ix_(sub, part)], X[sub], codes[sub],
                                            term_names=list(term_names), method=method, df_method=df_method)
            for key in stat:
                stat[key][:, part] = res[key].T
            for key in var:
                var[key][part] = res[key]
            singular[part], converged[part] = res["singular"], res["converged"]
    return EdgeFits(terms=tuple(term_names), **stat, **var, n_obs=n_obs, n_participants=n_part,
                    singular=singular, converged=converged, reason=reason, pattern=which, present=present,
                    method=method, df_method=df_method)
