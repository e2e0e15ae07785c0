"""Repeated-measures ANOVA against statsmodels AnovaRM and R; Greenhouse-Geisser epsilon by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.core.stats.anova import gg_epsilon, rm_anova
from ketamine_fc.errors import InputError

# 8 subjects x 4 timepoints, MADRS-like; reference from R 4.2.2:
#   fit <- lm(Y ~ 1); anova(fit, X = ~1, test = "Spherical")
#   -> F = 37.24358 on 3 and 21 DF, Pr(>F) = 1.36866067e-08, G-G epsilon 0.5876, G-G Pr = 8.606985337e-06
WIDE = np.array([[30, 12, 14, 16], [28, 9, 10, 20], [35, 20, 22, 25], [31, 8, 9, 11],
                 [27, 15, 12, 18], [33, 10, 19, 21], [29, 25, 26, 24], [32, 6, 8, 14]], dtype=float)
LEVELS = ["baseline", "day1", "week2", "week8"]


def _long(wide, levels=LEVELS):
    n = wide.shape[0]
    return pd.DataFrame({"pid": np.repeat([f"s{i}" for i in range(n)], len(levels)),
                         "tp": np.tile(levels, n), "madrs": wide.ravel()})


def _gg_by_contrasts(wide):
    """Box's epsilon from the eigenvalues of the covariance of orthonormal (Helmert) contrasts."""
    k = wide.shape[1]
    helmert = np.zeros((k, k - 1))
    for j in range(1, k):
        helmert[:j, j - 1] = 1.0 / j
        helmert[j, j - 1] = -1.0
        helmert[:, j - 1] /= np.linalg.norm(helmert[:, j - 1])
    lam = np.linalg.eigvalsh(helmert.T @ np.cov(wide, rowvar=False) @ helmert)
    return lam.sum() ** 2 / ((k - 1) * (lam**2).sum())


def test_matches_r_anova_mlm():
    res = rm_anova(_long(WIDE), "pid", "tp", "madrs")
    assert (res["n"], res["df_num"], res["df_den"]) == (8, 3, 21)
    np.testing.assert_allclose(res["F"], 37.24358, rtol=1e-6)
    np.testing.assert_allclose(res["p"], 1.36866067e-08, rtol=1e-6)
    np.testing.assert_allclose(res["epsilon_gg"], 0.5876, atol=5e-5)
    np.testing.assert_allclose(res["epsilon_gg"], _gg_by_contrasts(WIDE), rtol=1e-12)
    np.testing.assert_allclose(res["p_gg"], 8.606985337e-06, rtol=1e-6)


def test_matches_statsmodels_anovarm_with_dropouts(rng):
    from statsmodels.stats.anova import AnovaRM

    wide = 25 + rng.normal(0, 4, (20, 6)) - np.array([0, 15, 12, 10, 9, 9]) + rng.normal(0, 3, (20, 1))
    long = _long(wide, [f"t{j}" for j in range(6)])
    ref = AnovaRM(long, "madrs", "pid", within=["tp"]).fit().anova_table.iloc[0]
    dropped = long.copy()
    dropped.loc[(dropped.pid == "s3") & (dropped.tp == "t4"), "madrs"] = np.nan  # incomplete -> excluded
    dropped = dropped[~((dropped.pid == "s5") & (dropped.tp == "t2"))]  # row absent -> excluded
    keep = ~long.pid.isin(["s3", "s5"])
    ref_cc = AnovaRM(long[keep], "madrs", "pid", within=["tp"]).fit().anova_table.iloc[0]
    res = rm_anova(long, "pid", "tp", "madrs")
    np.testing.assert_allclose([res["F"], res["df_num"], res["df_den"], res["p"]],
                               [ref["F Value"], ref["Num DF"], ref["Den DF"], ref["Pr > F"]], rtol=1e-10)
    res_cc = rm_anova(dropped, "pid", "tp", "madrs")
    assert (res_cc["n"], res_cc["n_excluded"]) == (18, 2)
    np.testing.assert_allclose([res_cc["F"], res_cc["p"]], [ref_cc["F Value"], ref_cc["Pr > F"]], rtol=1e-10)
    complete = wide[~np.isin(np.arange(20), [3, 5])]
    np.testing.assert_allclose(res_cc["epsilon_gg"], _gg_by_contrasts(complete), rtol=1e-10)


def test_gg_epsilon_properties(rng):
    assert gg_epsilon(rng.normal(size=(10, 2))) == pytest.approx(1.0)  # always 1 with two levels
    x = rng.normal(size=(15, 5)) * np.array([1, 1, 1, 1, 8])  # very non-spherical
    eps = gg_epsilon(x)
    assert 1 / 4 <= eps < 0.6
    # compound symmetry in the population: epsilon near 1 in a large sample
    cs = rng.normal(size=(20000, 1)) + rng.normal(size=(20000, 4))
    assert gg_epsilon(cs) == pytest.approx(1.0, abs=0.01)


def test_input_problems():
    long = _long(WIDE)
    with pytest.raises(InputError, match="more than one value"):
        rm_anova(pd.concat([long, long.iloc[:1]]), "pid", "tp", "madrs")
    with pytest.raises(InputError, match="no column"):
        rm_anova(long, "pid", "timepoint", "madrs")
