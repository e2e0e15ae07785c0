"""Test-retest reliability: Pearson r and the intraclass correlation ICC(3,1).

ICC(3,1) (Shrout & Fleiss 1979, two-way mixed model, consistency, single measurement) from the two-way
ANOVA of an n targets x k sessions table: ``(MS_rows - MS_error) / (MS_rows + (k - 1) MS_error)``.
"""

from __future__ import annotations

import numpy as np

from ketamine_fc.core.stats.inference import _pairs, pearson
from ketamine_fc.errors import InputError


def icc_3_1_table(ratings) -> float:
    """ICC(3,1) of a complete ``targets x sessions`` table (rows with a NaN are dropped)."""
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise InputError(f"ICC needs a targets x sessions table with at least 2 sessions, got shape {x.shape}")
    x = x[~np.isnan(x).any(axis=1)]
    n, k = x.shape
    if n < 2:
        return np.nan
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows = ss_rows / (n - 1)
    ms_err = ss_err / ((n - 1) * (k - 1))
    denom = ms_rows + (k - 1) * ms_err
    return float((ms_rows - ms_err) / denom) if denom > 0 else np.nan


def icc_3_1(x1, x2) -> float:
    """ICC(3,1) between two sessions of the same targets, pairs with a NaN dropped."""
    a, b = _pairs(x1, x2, ("x1", "x2"))
    return icc_3_1_table(np.column_stack([a, b]))


def test_retest(x1, x2) -> dict:
    """Reliability of a measure across two sessions: ``dict(n, r, p, icc)`` on the complete pairs."""
    res = pearson(x1, x2)
    return dict(n=res["n"], r=res["r"], p=res["p"], icc=icc_3_1(x1, x2))


test_retest.__test__ = False  # not a pytest test when imported into a test module
