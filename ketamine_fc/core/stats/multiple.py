"""Multiple-comparison correction."""

from __future__ import annotations

import numpy as np


def bonferroni(pvalues, n_tests=None, alpha=0.05):
    """Bonferroni threshold ``alpha / n_tests`` and which p values pass it (strictly: ``p < threshold``).

    Parameters
    ----------
    pvalues : array-like
        Raw p values; NaN never passes.
    n_tests : int, optional
        Size of the family; defaults to the number of p values (NaN included).
    alpha : float
        Family-wise error rate.

    Returns
    -------
    (float, numpy.ndarray of bool)
        The threshold (0.05 / 8 = 0.00625 for the paper's eight primary outcomes) and the pass flags.
    """
    p = np.asarray(pvalues, dtype=float)
    n = p.size if n_tests is None else int(n_tests)
    if n < 1:
        raise ValueError(f"the number of tests must be at least 1, got {n}")
    threshold = alpha / n
    with np.errstate(invalid="ignore"):
        passes = p < threshold
    return threshold, passes


def fdr_bh(pvalues):
    """Benjamini-Hochberg q values (false discovery rate adjusted p values).

    ``q_(i) = min_{k >= i} min(1, n p_(k) / k)`` over the ``n`` non-missing p values sorted ascending;
    equal to ``statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1]``.

    Parameters
    ----------
    pvalues : array-like
        Raw p values of any shape; NaN stays NaN and is left out of ``n``.

    Returns
    -------
    numpy.ndarray
        q values, the shape of ``pvalues``.

    References
    ----------
    Benjamini & Hochberg (1995) J R Stat Soc B 57:289.
    """
    p = np.asarray(pvalues, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    values = p[ok]
    if ((values < 0) | (values > 1)).any():
        raise ValueError("p values must lie in [0, 1]")
    n = values.size
    if n == 0:
        return q
    order = np.argsort(values, kind="stable")
    scaled = values[order] / (np.arange(1, n + 1) / n)
    adjusted = np.empty(n)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    q[ok] = adjusted
    return q
