"""t tests, Pearson, binomial and logistic tests and Bonferroni against scipy, statsmodels and hand values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ketamine_fc.core.stats.inference import binomial_test, logistic, paired_t, pearson, student_t
from ketamine_fc.core.stats.multiple import bonferroni
from ketamine_fc.errors import InputError


def test_paired_t_matches_scipy(rng):
    a = rng.normal(10, 2, 23)
    b = a - 1.0 + rng.normal(0, 1.5, 23)
    ref = stats.ttest_rel(a, b)
    res = paired_t(a, b)
    np.testing.assert_allclose([res["t"], res["p"]], [ref.statistic, ref.pvalue], rtol=1e-10)
    assert (res["df"], res["n"]) == (22, 23)


def test_paired_t_drops_incomplete_pairs(rng):
    a, b = rng.normal(size=12), rng.normal(size=12)
    a[2], b[7] = np.nan, np.nan
    keep = ~(np.isnan(a) | np.isnan(b))
    ref = stats.ttest_rel(a[keep], b[keep])
    res = paired_t(a, b)
    assert res["n"] == 10
    np.testing.assert_allclose(res["t"], ref.statistic, rtol=1e-10)


def test_paired_t_hand_value():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt(3)) = 2 sqrt(3)
    res = paired_t([2, 4, 6], [1, 2, 3])
    np.testing.assert_allclose(res["t"], 2 * np.sqrt(3))


def test_student_t_matches_scipy(rng):
    x, y = rng.normal(0.3, 1, 27), rng.normal(0.0, 1, 21)
    y[4] = np.nan
    ref = stats.ttest_ind(x, y[~np.isnan(y)], equal_var=True)
    res = student_t(x, y)
    np.testing.assert_allclose([res["t"], res["p"]], [ref.statistic, ref.pvalue], rtol=1e-10)
    assert (res["df"], res["n_x"], res["n_y"]) == (45, 27, 20)
    np.testing.assert_allclose([res["mean_x"], res["mean_y"]], [x.mean(), np.nanmean(y)])


def test_pearson_matches_scipy_with_nan(rng):
    x = rng.normal(size=21)
    y = 0.5 * x + rng.normal(size=21)
    x[3], y[10] = np.nan, np.nan
    keep = ~(np.isnan(x) | np.isnan(y))
    ref = stats.pearsonr(x[keep], y[keep])
    res = pearson(x, y)
    assert res["n"] == 19
    np.testing.assert_allclose([res["r"], res["p"]], [ref.statistic, ref.pvalue], rtol=1e-10)


def test_pearson_degenerate():
    assert np.isnan(pearson([1, 2], [3, 4])["r"])
    assert np.isnan(pearson([1, 1, 1, 1], [1, 2, 3, 4])["r"])


def test_binomial_hand_values():
    # P(X >= 8 | n = 10, p = 0.5) = (C(10,8) + C(10,9) + C(10,10)) / 2^10 = 56 / 1024
    np.testing.assert_allclose(binomial_test(8, 10)["p"], 56 / 1024, rtol=1e-12)
    np.testing.assert_allclose(binomial_test(2, 10, alternative="less")["p"], 56 / 1024, rtol=1e-12)
    # two-sided: 2 * 56 / 1024 by symmetry at p0 = 0.5
    np.testing.assert_allclose(binomial_test(8, 10, alternative="two-sided")["p"], 112 / 1024, rtol=1e-12)
    # R 4.2.2: binom.test(3, 20, p = 0.1)$p.value = 0.4446498494 (two-sided, asymmetric p0)
    np.testing.assert_allclose(binomial_test(3, 20, p0=0.1, alternative="two-sided")["p"], 0.4446498494,
                               rtol=1e-8)
    with pytest.raises(InputError):
        binomial_test(5, 3)


def test_logistic_matches_statsmodels(rng):
    import statsmodels.api as sm

    x = rng.normal(100, 30, 60)
    prob = 1 / (1 + np.exp(-(-4 + 0.04 * x)))
    y = (rng.random(60) < prob).astype(float)
    ref = sm.Logit(y, sm.add_constant(x)).fit(disp=0)
    res = logistic(y, x)
    np.testing.assert_allclose([res["coef"], res["se"], res["z"], res["p"]],
                               [ref.params[1], ref.bse[1], ref.tvalues[1], ref.pvalues[1]], rtol=1e-6)
    assert res["n"] == 60 and res["warning"] == ""


def test_logistic_recovers_planted_slope(rng):
    x = rng.normal(0, 1, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-(0.5 + 1.2 * x)))).astype(int)
    res = logistic(y, x)
    assert abs(res["coef"] - 1.2) < 4 * res["se"]
    assert res["p"] < 1e-10


def test_logistic_perfect_separation_is_reported_not_raised():
    x = np.arange(10.0)
    y = (x > 4.5).astype(int)
    res = logistic(y, x)
    assert "separation" in res["warning"]
    assert np.isnan(res["coef"]) and res["n"] == 10
    assert "constant" in logistic(np.zeros(10), x)["warning"]
    with pytest.raises(InputError, match="0/1"):
        logistic(x, x)


def test_bonferroni_is_strict():
    threshold, passes = bonferroni([0.001, 0.00625, 0.0062, 0.2, np.nan, 0.04, 0.5, 0.9])
    assert threshold == 0.05 / 8 == 0.00625
    assert passes.tolist() == [True, False, True, False, False, False, False, False]
    threshold, passes = bonferroni([0.01, 0.02], n_tests=4, alpha=0.1)
    assert threshold == pytest.approx(0.025) and passes.tolist() == [True, True]
