"""ICC(3,1) against Shrout & Fleiss (1979) and the two-session closed form; test-retest vs scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ketamine_fc.core.stats import reliability  # module import: pytest must not collect test_retest
from ketamine_fc.core.stats.reliability import icc_3_1, icc_3_1_table

# Shrout PE, Fleiss JL (1979) Psychol Bull 86:420, Table 2: 6 targets rated by 4 judges.
# Their Table 4 gives ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def test_shrout_fleiss_published_value():
    assert round(icc_3_1_table(SHROUT_FLEISS), 2) == 0.71
    # from their ANOVA table: BMS = 11.24, EMS = 1.02 -> (11.24 - 1.02) / (11.24 + 3 * 1.02)
    np.testing.assert_allclose(icc_3_1_table(SHROUT_FLEISS), (11.24 - 1.02) / (11.24 + 3 * 1.02), atol=2e-3)


def test_two_sessions_closed_form(rng):
    # with two sessions ICC(3,1) = 2 cov(x1, x2) / (var(x1) + var(x2))
    x1 = rng.normal(size=19)
    x2 = 0.7 * x1 + rng.normal(0.5, 0.6, 19)  # an offset between sessions does not lower consistency
    c = np.cov(x1, x2)
    np.testing.assert_allclose(icc_3_1(x1, x2), 2 * c[0, 1] / (c[0, 0] + c[1, 1]), rtol=1e-12)
    assert icc_3_1(x1, x1 + 3.0) == pytest.approx(1.0)


def test_test_retest_drops_incomplete_pairs(rng):
    x1, x2 = rng.normal(size=15), rng.normal(size=15)
    x1[[1, 4]] = np.nan
    res = reliability.test_retest(x1, x2)
    keep = ~np.isnan(x1)
    ref = stats.pearsonr(x1[keep], x2[keep])
    assert res["n"] == 13
    np.testing.assert_allclose([res["r"], res["p"]], [ref.statistic, ref.pvalue], rtol=1e-10)
    np.testing.assert_allclose(res["icc"], icc_3_1(x1[keep], x2[keep]))
