"""Clinical definitions at their boundaries, Cohen's d variants and the MADRS time-course table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ketamine_fc.core.stats.clinical import (
    cgi_improved,
    clinical_timecourse,
    is_remission,
    is_response,
    percent_change,
)
from ketamine_fc.core.stats.effect_size import cohens_d_paired
from ketamine_fc.errors import InputError


def test_response_boundaries():
    assert is_response(30, 15)  # exactly 50% responds
    assert not is_response(30, 15.5)
    assert is_response(33, 16.5) and is_response(29, 14.5)  # 50% in floating point
    assert is_response(20, 14, threshold=0.3) and not is_response(20, 14.2, threshold=0.3)
    np.testing.assert_array_equal(is_response([30, 40, 25], [15, 21, np.nan]), [True, False, False])
    with pytest.raises(InputError, match="baseline"):
        is_response(0, 0)
    with pytest.raises(InputError, match="baseline"):
        percent_change([20, 0], [10, 5])


def test_remission_and_cgi_boundaries():
    assert is_remission(9) and not is_remission(10)
    np.testing.assert_array_equal(is_remission([9.5, 10, 0, np.nan]), [True, False, True, False])
    np.testing.assert_array_equal(cgi_improved([1, 2, 3, 7]), [True, True, False, False])
    with pytest.raises(InputError, match="1-7"):
        cgi_improved([0, 2])


def test_percent_change():
    np.testing.assert_allclose(percent_change([30, 20], [15, 25]), [-50.0, 25.0])
    assert np.isnan(percent_change(30, np.nan))


def test_cohens_d_variants_hand_values():
    pre, post = [30, 28, 32, 30], [10, 12, 8, 14]
    # differences -20, -16, -24, -16: mean -19, SD sqrt(44 / 3)
    np.testing.assert_allclose(cohens_d_paired(pre, post, "dz"), -19 / np.sqrt(44 / 3))
    sd_pre, sd_post = np.sqrt(8 / 3), np.sqrt(20 / 3)
    np.testing.assert_allclose(cohens_d_paired(pre, post, "av"), -19 / ((sd_pre + sd_post) / 2))
    np.testing.assert_allclose(cohens_d_paired(pre, post, "pooled"), -19 / np.sqrt((8 / 3 + 20 / 3) / 2))
    with pytest.raises(ValueError):
        cohens_d_paired(pre, post, "hedges")


def test_dz_is_on_the_papers_scale(rng):
    """Paper: MADRS 29 -> 9 with d = 1.7, i.e. SD of the change about 20 / 1.7 = 11.8 (d_z), not pooled."""
    n = 200000
    pre = rng.normal(29, 5, n)
    post = pre - 20 + rng.normal(0, 11.8, n)
    assert abs(cohens_d_paired(pre, post, "dz")) == pytest.approx(1.7, abs=0.01)
    assert abs(cohens_d_paired(pre, post, "pooled")) > 2.0  # pooled-SD d would read about 2.1


def _cohort():
    madrs = pd.DataFrame(
        [("sub-01", "baseline", 30), ("sub-01", "day1", 15), ("sub-01", "week2", 10),
         ("sub-02", "baseline", 40), ("sub-02", "day1", 25), ("sub-02", "week2", 9),
         ("sub-03", "baseline", 28), ("sub-03", "day1", 27), ("sub-03", "week2", "n/a"),
         ("sub-04", "baseline", 35), ("sub-04", "day1", 12), ("sub-04", "week2", 20),
         ("sub-05", "baseline", 32), ("sub-05", "day1", 30)],
        columns=["participant_id", "timepoint", "madrs"])
    cgi = pd.DataFrame([("sub-01", "day1", 2), ("sub-02", "day1", 3), ("sub-04", "day1", 1),
                        ("sub-01", "week2", 1), ("sub-02", "week2", 1), ("sub-04", "week2", 4)],
                       columns=["participant_id", "timepoint", "cgi_i"])
    return madrs, cgi


def test_timecourse_hand_cohort():
    madrs, cgi = _cohort()
    tab = clinical_timecourse(madrs, ["baseline", "day1", "week2"], cgi=cgi)
    assert list(tab.columns[:11]) == ["timepoint", "n", "mean", "sd", "response_n", "remission_n",
                                      "cgi_improved_n", "t", "df", "p", "cohens_d"]
    assert tab["timepoint"].tolist() == ["baseline", "day1", "week2"]
    assert tab["n"].tolist() == [5, 5, 3]  # sub-03 'n/a' and sub-05 absent at week2: per protocol
    np.testing.assert_allclose(tab["mean"], [33, 21.8, 13])
    np.testing.assert_allclose(tab.loc[2, "sd"], np.std([10, 9, 20], ddof=1))
    # day1: 30->15 (50%, responds), 40->25, 28->27, 35->12 (responds), 32->30
    assert tab.loc[1, "response_n"] == 2 and tab.loc[1, "n_paired"] == 5
    # week2: 30->10, 40->9, 35->20: two respond; remission 9 only (10 does not remit)
    assert tab.loc[2, "response_n"] == 2 and tab.loc[2, "remission_n"] == 1
    assert tab["cgi_improved_n"].tolist()[1:] == [2, 2] and pd.isna(tab.loc[0, "cgi_improved_n"])
    assert pd.isna(tab.loc[0, "response_n"]) and np.isnan(tab.loc[0, "t"])
    ref = stats.ttest_rel([10, 9, 20], [30, 40, 35])
    np.testing.assert_allclose([tab.loc[2, "t"], tab.loc[2, "p"]], [ref.statistic, ref.pvalue], rtol=1e-10)
    assert tab.loc[2, "df"] == 2
    diff = np.array([10, 9, 20]) - np.array([30, 40, 35])
    np.testing.assert_allclose(tab.loc[2, "cohens_d"], diff.mean() / diff.std(ddof=1))
    pooled = clinical_timecourse(madrs, ["baseline", "day1", "week2"], cohens_d="pooled")
    np.testing.assert_allclose(pooled.loc[2, "cohens_d"], cohens_d_paired([30, 40, 35], [10, 9, 20], "pooled"))


def test_timecourse_input_errors():
    madrs, cgi = _cohort()
    tps = ["baseline", "day1", "week2"]
    with pytest.raises(InputError, match="week3"):
        clinical_timecourse(madrs, tps + ["week3"])  # a requested timepoint with no data
    bad = madrs.copy()
    bad.loc[2, "timepoint"] = "wk2"
    with pytest.raises(InputError, match="wk2"):
        clinical_timecourse(bad, tps)
    bad = madrs.copy()
    bad["madrs"] = bad["madrs"].astype(object)
    bad.loc[4, "madrs"] = "twenty-five"
    with pytest.raises(InputError, match="sub-02.*not a number") as err:
        clinical_timecourse(bad, tps, madrs_path="phenotype/madrs.tsv")
    assert "phenotype/madrs.tsv" in str(err.value)
    bad = madrs.copy()
    bad.loc[0, "madrs"] = 0  # sub-01's baseline: response undefined for sub-01, the rest still computed
    zero = clinical_timecourse(bad, tps).set_index("timepoint")
    ref = clinical_timecourse(madrs, tps).set_index("timepoint")
    assert zero.loc["week2", "n_paired"] == ref.loc["week2", "n_paired"]
    assert ref.loc["week2", "response_n"] == 2 and zero.loc["week2", "response_n"] == 1  # sub-01 no longer counts
    with pytest.raises(InputError, match="more than one row"):
        clinical_timecourse(pd.concat([madrs, madrs.iloc[:1]]), tps)
    with pytest.raises(InputError, match="baseline"):
        clinical_timecourse(madrs, tps, baseline="screening")
    bad_cgi = cgi.copy()
    bad_cgi.loc[0, "cgi_i"] = 9
    with pytest.raises(InputError, match="1-7"):
        clinical_timecourse(madrs, tps, cgi=bad_cgi)
