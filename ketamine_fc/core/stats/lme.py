"""Random-intercept linear mixed model ``y = X b + u_subject + e`` fitted as lme4 does (ML or REML).

With ``u ~ N(0, s2_u)`` and ``e ~ N(0, s2_e)`` the covariance of one subject's ``n_g`` observations is
``V_g = s2_e (I + r J)`` with ``r = s2_u / s2_e``, whose inverse is closed-form,
``(I + r J)^-1 = I - r / (1 + n_g r) J``, and ``log|I + r J| = log(1 + n_g r)``. So for a given ``r``
everything (GLS estimate, residual sum of squares, profiled deviance) follows from ``X'X``, ``X'y``,
``y'y`` and per-subject sums. The deviance, profiled over ``b`` and ``s2_e``, is minimised over
``theta = sqrt(r)`` (lme4's relative covariance factor) by a grid followed by a bounded 1-D search;
``theta = 0`` is allowed and reported as a boundary (singular) fit, as lme4 does.

Standard errors are ``sqrt(diag(s2_e (X' H^-1 X)^-1))`` at the estimates (lme4 ``vcov``, MATLAB
``fitlme``), with ``s2_e = RSS / n`` (ML) or ``RSS / (n - p)`` (REML). Degrees of freedom are either
``n - p`` ("residual", fitlme's default and the paper's DF = 37 for 40 observations) or Satterthwaite's,
as lmerTest computes them: ``df = 2 v^2 / (g' A g)`` with ``v`` the variance of the coefficient,
``g`` its gradient with respect to the variance parameters and ``A = 2 H^-1`` from the Hessian ``H`` of
the deviance in those parameters (here analytic, in ``(r, s2_e)``; the value does not depend on the
parametrisation at an interior optimum). At the boundary lmerTest's ``(theta, sigma)`` Hessian is
diagonal and the formula reduces to ``n`` (ML) or ``n - p`` (REML), which is what is returned.

References: Bates et al. (2015) J Stat Softw 67(1) (lme4); Kuznetsova et al. (2017) J Stat Softw 82(13)
(lmerTest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ketamine_fc.errors import InputError

#: the search runs over u = theta / (1 + theta) in [0, U_MAX]; U_MAX = 0.999 allows s2_u / s2_e up to ~1e6
U_MAX = 0.999
_GRID = np.linspace(0.0, U_MAX, 21)
_TOL = 1e-11
_SING_U = 1e-7  # theta below this (s2_u / s2_e < 1e-14) is the boundary
SINGULAR_WARNING = "boundary (singular) fit: sigma2_u = 0"
BOUND_WARNING = "variance ratio at the search bound (residual variance near zero); estimates unreliable"


class _Design:
    """Sufficient statistics of one design ``X`` with its grouping, for many outcomes at once."""

    def __init__(self, X, groups, method):
        if method not in ("ml", "reml"):
            raise ValueError(f"method must be 'ml' or 'reml', got {method!r}")
        _, codes = np.unique(np.asarray(groups), return_inverse=True)
        self.codes = codes.ravel()
        self.ng = np.bincount(self.codes).astype(float)
        self.n, self.p = X.shape
        self.k = self.n if method == "ml" else self.n - self.p
        self.reml = method == "reml"
        self.XX = X.T @ X
        self.Sx = self._gsum(X)  # (G, p)
        self.SxSx = (self.Sx[:, :, None] * self.Sx[:, None, :]).reshape(len(self.ng), -1)

    def _gsum(self, A):
        out = np.zeros((len(self.ng), A.shape[1]))
        np.add.at(out, self.codes, A)
        return out

    def outcomes(self, X, Y):
        """Cross-products for outcomes ``Y`` (n x m)."""
        return X.T @ Y, self._gsum(Y), np.einsum("im,im->m", Y, Y)

    def solve(self, r, Xy, Sy, yy):
        """GLS solution at variance ratios ``r`` (m,): M (m,p,p), b (m,p), RSS (m,), weights."""
        p = self.p
        denom = 1.0 + self.ng[:, None] * r[None, :]  # (G, m)
        w = r[None, :] / denom
        M = self.XX[None] - (w.T @ self.SxSx).reshape(-1, p, p)
        c = Xy.T - (w * Sy).T @ self.Sx
        b = np.linalg.solve(M, c[..., None])[..., 0]
        rss = yy - np.einsum("gm,gm->m", w, Sy * Sy) - np.einsum("mi,mi->m", c, b)
        return M, b, np.maximum(rss, 1e-300), denom

    def deviance(self, u, Xy, Sy, yy):
        """Deviance (-2 log-likelihood, or the REML criterion) profiled over b and s2_e, at u (m,)."""
        r = (u / (1.0 - u)) ** 2
        M, _, rss, denom = self.solve(r, Xy, Sy, yy)
        dev = np.log(denom).sum(axis=0) + self.k * (np.log(2 * np.pi * rss / self.k) + 1.0)
        if self.reml:
            dev = dev + np.linalg.slogdet(M)[1]
        return dev


def _check(y_or_Y, X, groups, term_names):
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise InputError(f"design matrix must be 2-D (observations x terms), got shape {X.shape}")
    Y = np.asarray(y_or_Y, dtype=float)
    groups = np.asarray(groups)
    if Y.shape[0] != X.shape[0] or groups.shape[0] != X.shape[0]:
        raise InputError(f"outcome ({Y.shape[0]}), design ({X.shape[0]}) and groups ({groups.shape[0]}) "
                         "must have the same number of observations")
    if len(term_names) != X.shape[1]:
        raise InputError(f"{len(term_names)} term names given for a design with {X.shape[1]} columns")
    if np.isnan(X).any() or pd.isna(groups).any():
        raise InputError("the design matrix or the grouping contains missing values")
    return Y, X, groups


def _check_rank(X, term_names):
    n, p = X.shape
    if n <= p:
        raise InputError(f"{n} observations cannot fit {p} fixed effects")
    if np.linalg.matrix_rank(X) < p:
        raise InputError(f"the fixed-effects design ({', '.join(term_names)}) is rank deficient: "
                         "some term is constant or a combination of the others in these data")


def _bracket(des, Xy, Sy, yy):
    """Grid search: per outcome, the bracket around the best grid point and the deviance at u = 0."""
    m = yy.shape[0]
    devs = np.stack([des.deviance(np.full(m, u), Xy, Sy, yy) for u in _GRID])  # (grid, m)
    best = np.nanargmin(devs, axis=0)
    lo = _GRID[np.maximum(best - 1, 0)]
    hi = _GRID[np.minimum(best + 1, len(_GRID) - 1)]
    return lo, hi, devs[0]


def _golden(fun, lo, hi, tol=_TOL):
    """Vectorised golden-section minimisation of ``fun`` (m,) -> (m,) on per-element brackets."""
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo.copy(), hi.copy()
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = fun(c), fun(d)
    while np.max(b - a) > tol:
        left = fc < fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new = np.where(left, b - g * (b - a), a + g * (b - a))
        fnew = fun(new)
        c, d, fc, fd = (np.where(left, new, d), np.where(left, c, new),
                        np.where(left, fnew, fd), np.where(left, fc, fnew))
    return np.where(fc < fd, c, d)


def _finish(des, u, dev0, Xy, Sy, yy, df_method):
    """Estimates, SE, DF and variance components at the optimum u (m,)."""
    dev_opt = des.deviance(u, Xy, Sy, yy)
    # the boundary wins when it is as good as the optimum found (to rounding) or theta is negligible
    singular = (dev0 <= dev_opt + 1e-9 * np.maximum(1.0, np.abs(dev0))) | (u < _SING_U)
    u = np.where(singular, 0.0, u)
    r = (u / (1.0 - u)) ** 2
    M, b, rss, denom = des.solve(r, Xy, Sy, yy)
    s2 = rss / des.k
    Minv = np.linalg.inv(M)
    var = s2[:, None] * np.diagonal(Minv, axis1=1, axis2=2)
    se = np.sqrt(var)
    if df_method == "residual":
        df = np.full_like(b, des.n - des.p)
    elif df_method == "satterthwaite":
        df = _satterthwaite(des, r, b, rss, s2, M, Minv, denom, Sy, singular)
    else:
        raise ValueError(f"df_method must be 'residual' or 'satterthwaite', got {df_method!r}")
    t = b / se
    return dict(estimate=b, se=se, t=t, df=df, p=2.0 * stats.t.sf(np.abs(t), df),
                sigma2_e=s2, sigma2_u=r * s2, loglik=-0.5 * np.where(singular, dev0, dev_opt),
                singular=singular, converged=u < _GRID[-1] - 1e-6)


def _satterthwaite(des, r, b, rss, s2, M, Minv, denom, Sy, singular):
    """lmerTest's Satterthwaite DF per coefficient, from analytic derivatives in (r, s2_e)."""
    ng = des.ng[:, None]
    w1 = 1.0 / denom**2  # d w / d r, with w = r / (1 + n_g r)
    w2 = -2.0 * ng / denom**3
    p = des.p
    M1 = -(w1.T @ des.SxSx).reshape(-1, p, p)
    M2 = -(w2.T @ des.SxSx).reshape(-1, p, p)
    Se = Sy - des.Sx @ b.T  # per-subject residual sums (G, m)
    d = -(w1 * Se).T @ des.Sx  # X' dH^-1/dr e  (m, p)
    rss1 = -np.einsum("gm,gm->m", w1, Se * Se)
    rss2 = -np.einsum("gm,gm->m", w2, Se * Se) - 2.0 * np.einsum("mi,mij,mj->m", d, Minv, d)
    ld2 = -(ng**2 / denom**2).sum(axis=0)  # second derivative of log|H|
    if des.reml:
        A1 = Minv @ M1
        ld2 = ld2 + np.einsum("mii->m", Minv @ M2) - np.einsum("mij,mji->m", A1, A1)
    h_rr = ld2 + rss2 / s2
    h_rs = -rss1 / s2**2
    h_ss = des.k / s2**2
    det = h_rr * h_ss - h_rs**2
    v = s2[:, None] * np.diagonal(Minv, axis1=1, axis2=2)
    g_s = np.diagonal(Minv, axis1=1, axis2=2)
    g_r = -s2[:, None] * np.diagonal(Minv @ M1 @ Minv, axis1=1, axis2=2)
    quad = (h_ss[:, None] * g_r**2 - 2 * h_rs[:, None] * g_r * g_s + h_rr[:, None] * g_s**2) / det[:, None]
    df = v**2 / quad
    return np.where(singular[:, None], float(des.k), df)


def fit_random_intercept(y, X, groups, *, term_names, method="ml", df_method="residual"):
    """Fit ``y = X b + u_group + e`` by ML or REML and test each fixed effect.

    Parameters
    ----------
    y : array-like (n,)
        Outcome; observations with a missing outcome are dropped.
    X : array-like (n, p)
        Fixed-effects design including the intercept column.
    groups : array-like (n,)
        Subject labels (the random intercept's grouping).
    term_names : sequence of str
        One name per column of ``X``.
    method : {"ml", "reml"}
        Maximum likelihood (lme4 ``REML=FALSE``, fitlme's default) or restricted ML.
    df_method : {"residual", "satterthwaite"}
        ``n - p`` for every term, or lmerTest's Satterthwaite approximation.

    Returns
    -------
    pandas.DataFrame
        Columns ``term, estimate, se, t, df, p`` (two-sided); ``.attrs`` holds ``sigma2_e, sigma2_u,
        loglik, converged, singular, warning`` ("" when none), ``n_obs, n_groups, method, df_method``.
    """
    y, X, groups = _check(y, X, groups, term_names)
    if y.ndim != 1:
        raise InputError(f"outcome must be 1-D, got shape {y.shape}")
    keep = ~np.isnan(y)
    y, X, groups = y[keep], X[keep], groups[keep]
    _check_rank(X, term_names)
    des = _Design(X, groups, method)
    if des.ng.max() < 2:
        raise InputError("every group has a single observation, so the random intercept cannot be "
                         "separated from the residual")
    Xy, Sy, yy = des.outcomes(X, y[:, None])
    lo, hi, dev0 = _bracket(des, Xy, Sy, yy)

    def fun(u):
        return float(des.deviance(np.array([u]), Xy, Sy, yy)[0])

    opt = optimize.minimize_scalar(fun, bounds=(lo[0], hi[0]), method="bounded",
                                   options={"xatol": _TOL, "maxiter": 500})
    res = _finish(des, np.array([opt.x]), dev0, Xy, Sy, yy, df_method)
    out = pd.DataFrame({"term": list(term_names)})
    for key in ("estimate", "se", "t", "df", "p"):
        out[key] = res[key][0]
    singular, converged = bool(res["singular"][0]), bool(res["converged"][0])
    out.attrs.update(
        sigma2_e=float(res["sigma2_e"][0]), sigma2_u=float(res["sigma2_u"][0]),
        loglik=float(res["loglik"][0]), converged=converged, singular=singular,
        warning=SINGULAR_WARNING if singular else ("" if converged else BOUND_WARNING),
        n_obs=int(len(y)), n_groups=int(len(des.ng)), method=method, df_method=df_method)
    return out


def fit_random_intercept_many(Y, X, groups, *, term_names, method="ml", df_method="residual"):
    """Vectorised :func:`fit_random_intercept` for many outcomes sharing one design (e.g. FC edges).

    Parameters
    ----------
    Y : array-like (n, m)
        One outcome per column. Columns are fitted on their non-missing rows; columns sharing a
        missing-data pattern are fitted together. Columns whose remaining design is rank deficient
        (or has one observation per group) give NaN.
    X, groups, term_names, method, df_method
        As in :func:`fit_random_intercept`.

    Returns
    -------
    dict
        ``terms`` (list), ``estimate, se, t, df, p`` (m x p arrays), ``sigma2_e, sigma2_u, loglik``
        (m,), ``singular, converged`` (m,) booleans, ``n_obs`` (m,) integers.
    """
    Y, X, groups = _check(Y, X, groups, term_names)
    if Y.ndim != 2:
        raise InputError(f"outcomes must be 2-D (observations x outcomes), got shape {Y.shape}")
    n, m = Y.shape
    p = X.shape[1]
    out = {key: np.full((m, p), np.nan) for key in ("estimate", "se", "t", "df", "p")}
    out.update({key: np.full(m, np.nan) for key in ("sigma2_e", "sigma2_u", "loglik")})
    out.update(singular=np.zeros(m, bool), converged=np.zeros(m, bool), n_obs=np.zeros(m, int),
               terms=list(term_names))
    missing = np.isnan(Y)
    patterns, which = np.unique(missing.T, axis=0, return_inverse=True)
    for k, pattern in enumerate(patterns):
        cols = np.flatnonzero(which.ravel() == k)
        keep = ~pattern
        Xk, gk = X[keep], groups[keep]
        if keep.sum() <= p or np.linalg.matrix_rank(Xk) < p:
            continue
        des = _Design(Xk, gk, method)
        if des.ng.max() < 2:
            continue
        Xy, Sy, yy = des.outcomes(Xk, Y[np.ix_(keep, cols)])
        lo, hi, dev0 = _bracket(des, Xy, Sy, yy)
        u = _golden(lambda uu: des.deviance(uu, Xy, Sy, yy), lo, hi)
        res = _finish(des, u, dev0, Xy, Sy, yy, df_method)
        for key, val in res.items():
            out[key][cols] = val
        out["n_obs"][cols] = int(keep.sum())
    return out
