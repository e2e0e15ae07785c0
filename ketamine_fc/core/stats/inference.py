"""Classical tests used by the group analyses: t tests, Pearson correlation, binomial and logistic tests.

All tests are two-sided unless stated; missing values are dropped (pairwise for paired data) and the
number of values used is returned with every result. Too few values give NaN statistics, not errors.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from ketamine_fc.errors import InputError


def _vec(x, name):
    try:
        return np.asarray(x, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} contains non-numeric values") from exc


def _pairs(a, b, names=("a", "b")):
    a, b = _vec(a, names[0]), _vec(b, names[1])
    if a.shape != b.shape:
        raise InputError(f"{names[0]} and {names[1]} have different lengths ({a.size} and {b.size})")
    ok = ~(np.isnan(a) | np.isnan(b))
    return a[ok], b[ok]


def paired_t(a, b) -> dict:
    """Paired t test of ``mean(a - b)`` against 0 on the pairs where both values exist.

    Returns ``dict(t, df, p, n)``; ``t`` is positive when ``a`` exceeds ``b`` on average.
    """
    a, b = _pairs(a, b)
    n = a.size
    d = a - b
    if n < 2 or np.std(d) == 0:
        return dict(t=np.nan, df=float(max(n - 1, 0)), p=np.nan, n=n)
    t = d.mean() / (d.std(ddof=1) / np.sqrt(n))
    return dict(t=float(t), df=float(n - 1), p=float(2 * stats.t.sf(abs(t), n - 1)), n=n)


def student_t(x, y) -> dict:
    """Two-sample Student t test (equal variances) of ``mean(x) - mean(y)``, missing values dropped.

    Returns ``dict(t, df, p, n_x, n_y, mean_x, mean_y)``.
    """
    x, y = _vec(x, "x"), _vec(y, "y")
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    nx, ny = x.size, y.size
    out = dict(t=np.nan, df=float(max(nx + ny - 2, 0)), p=np.nan, n_x=nx, n_y=ny,
               mean_x=float(x.mean()) if nx else np.nan, mean_y=float(y.mean()) if ny else np.nan)
    if nx < 1 or ny < 1 or nx + ny < 3:
        return out
    df = nx + ny - 2
    pooled = (((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()) / df
    if pooled == 0:
        return out
    t = (x.mean() - y.mean()) / np.sqrt(pooled * (1.0 / nx + 1.0 / ny))
    out.update(t=float(t), p=float(2 * stats.t.sf(abs(t), df)))
    return out


def pearson(x, y) -> dict:
    """Pearson correlation with its two-sided p (t test with n - 2 DF), pairs with a NaN dropped.

    Returns ``dict(n, r, p)``; fewer than 3 pairs or a constant variable give NaN.
    """
    x, y = _pairs(x, y, ("x", "y"))
    n = x.size
    if n < 3:
        return dict(n=n, r=np.nan, p=np.nan)
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc**2).sum() * (yc**2).sum())
    if denom == 0:
        return dict(n=n, r=np.nan, p=np.nan)
    r = float(np.clip((xc * yc).sum() / denom, -1.0, 1.0))
    if abs(r) == 1.0:
        return dict(n=n, r=r, p=0.0)
    t = r * np.sqrt((n - 2) / (1.0 - r**2))
    return dict(n=n, r=r, p=float(2 * stats.t.sf(abs(t), n - 2)))


def binomial_test(k, n, p0=0.5, alternative="greater") -> dict:
    """Exact binomial test of ``k`` successes in ``n`` trials against success probability ``p0``.

    ``alternative`` is "greater" (P(X >= k)), "less" (P(X <= k)) or "two-sided" (sum of the
    probabilities no larger than that of ``k``, as R's ``binom.test``). Returns
    ``dict(k, n, proportion, p0, p, alternative)``.
    """
    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise InputError(f"binomial test needs 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 < p0 < 1:
        raise InputError(f"binomial test needs 0 < p0 < 1, got {p0}")
    if alternative == "greater":
        p = stats.binom.sf(k - 1, n, p0)
    elif alternative == "less":
        p = stats.binom.cdf(k, n, p0)
    elif alternative == "two-sided":
        pmf = stats.binom.pmf(np.arange(n + 1), n, p0)
        p = pmf[pmf <= pmf[k] * (1 + 1e-7)].sum()
    else:
        raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")
    return dict(k=k, n=n, proportion=k / n, p0=p0, p=float(min(p, 1.0)), alternative=alternative)


def _separated(y, x):
    """True when a threshold on ``x`` splits the outcome classes perfectly (no finite MLE)."""
    x0, x1 = x[y == 0], x[y == 1]
    return x0.max() < x1.min() or x1.max() < x0.min()


def logistic(outcome, predictor) -> dict:
    """Logistic regression ``logit P(outcome = 1) = a + b * predictor`` (statsmodels ``Logit``).

    Returns ``dict(coef, se, z, p, n, warning)`` for the slope ``b`` (Wald test). Perfect or
    quasi-complete separation, a constant outcome or non-convergence give NaN statistics with the reason
    in ``warning`` ("" when the fit is clean).
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    y, x = _pairs(outcome, predictor, ("outcome", "predictor"))
    n = y.size
    out = dict(coef=np.nan, se=np.nan, z=np.nan, p=np.nan, n=n, warning="")
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError("logistic regression outcome must be coded 0/1")
    if n < 3 or y.min() == y.max() or x.min() == x.max():
        out["warning"] = "outcome or predictor is constant (or fewer than 3 observations): no fit"
        return out
    if _separated(y, x):
        out["warning"] = "perfect separation: the predictor splits the outcome exactly; no finite estimate"
        return out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = sm.Logit(y, sm.add_constant(x, has_constant="add")).fit(disp=0, maxiter=200)
        except Exception as exc:  # statsmodels raises on (quasi-)separation in some versions
            out["warning"] = f"logistic fit failed: {exc}"
            return out
    msgs = [str(w.message) for w in caught if issubclass(w.category, (ConvergenceWarning, RuntimeWarning))
            or "separation" in str(w.message).lower()]
    if not fit.mle_retvals.get("converged", True):
        msgs.append("maximum likelihood did not converge")
    out.update(coef=float(fit.params[1]), se=float(fit.bse[1]), z=float(fit.tvalues[1]),
               p=float(fit.pvalues[1]), warning="; ".join(dict.fromkeys(msgs)))
    return out
