"""Random-intercept LME against R lme4 / lmerTest reference fits (numbers kept here; R is not needed)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.core.stats.lme import fit_random_intercept, fit_random_intercept_many
from ketamine_fc.errors import InputError

DATA = Path(__file__).parent / "data" / "lme_unbalanced.csv"
TERMS = ["(Intercept)", "time", "time:response"]

# Reference values: tests/stats/data/lme_reference.R, i.e. for each outcome and REML in (FALSE, TRUE)
#   m <- lmer(<outcome> ~ time + time:response + (1 | pid), data = d, REML = reml)
#   coef(summary(m, ddf = "Satterthwaite")); as.data.frame(VarCorr(m)); logLik(m)
# R 4.2.2, lme4 1.1.31, lmerTest 3.1.3. Columns: estimate, se, Satterthwaite df, t, p.
R_FITS = {
    ("y", "ml"): dict(
        coef=[[0.3257081677817, 0.0171204713975, 25.0533879155, 19.02448596296, 2.08703936457e-16],
              [-0.0406092012830, 0.0290296000061, 27.1982165104, -1.39888945334, 1.73146880821e-01],
              [0.0455221881125, 0.0428153389577, 34.9207300285, 1.06322148138, 2.94978923070e-01]],
        sigma2_u=0.0033951640759, sigma2_e=0.00315893953964, loglik=47.0116019118, singular=False),
    ("y", "reml"): dict(
        coef=[[0.3257089489196, 0.0177925819331, 23.4886499041, 18.30588444913, 2.10439698451e-15],
              [-0.0406600296367, 0.0301962692287, 25.4089484350, -1.34652494084, 1.90022857338e-01],
              [0.0456098678590, 0.0445277059016, 32.4263996432, 1.02430311501, 3.13273255777e-01]],
        sigma2_u=0.00366133254131, sigma2_e=0.00341948021695, loglik=38.749699334, singular=False),
    ("y_singular", "ml"): dict(  # lme4: "boundary (singular) fit", theta = 0
        coef=[[0.2961264482759, 0.00974546796446, 40.0, 30.386067591193, 2.97035824309e-29],
              [-0.0397477816092, 0.02353754130682, 40.0, -1.688697264131, 9.90598072580e-02],
              [-0.0122802666667, 0.03177879404308, 40.0, -0.386429599878, 7.01226559984e-01]],
        sigma2_u=0.0, sigma2_e=0.00275425022954, loglik=61.1346591199, singular=True),
    ("y_singular", "reml"): dict(
        coef=[[0.2961264482759, 0.0101328550896, 37.0, 29.224384012025, 3.64791643524e-27],
              [-0.0397477816092, 0.0244731701029, 37.0, -1.624137021973, 1.12836619636e-01],
              [-0.0122802666667, 0.0330420166722, 37.0, -0.371656088322, 7.12268892069e-01]],
        sigma2_u=0.0, sigma2_e=0.00297756781572, loglik=51.7230245629, singular=True),
}
# 2 * pt(-abs(t), df = 40 - 3) for the ML fit of y (the 'residual' DF, fitlme's default)
R_RESIDUAL_P = [1.07159629170e-20, 1.70173290198e-01, 2.94571751427e-01]


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(DATA)
    X = np.column_stack([np.ones(len(d)), d["time"], d["time"] * d["response"]])
    return d, X


@pytest.mark.parametrize("key", sorted(R_FITS))
def test_matches_lme4_and_lmertest(data, key):
    d, X = data
    outcome, method = key
    ref = R_FITS[key]
    fit = fit_random_intercept(d[outcome], X, d["pid"], term_names=TERMS, method=method,
                               df_method="satterthwaite")
    coef = np.array(ref["coef"])
    assert list(fit["term"]) == TERMS
    np.testing.assert_allclose(fit["estimate"], coef[:, 0], rtol=1e-5)
    np.testing.assert_allclose(fit["se"], coef[:, 1], rtol=1e-5)
    np.testing.assert_allclose(fit["t"], coef[:, 3], rtol=1e-5)
    np.testing.assert_allclose(fit["df"], coef[:, 2], rtol=1e-3)
    np.testing.assert_allclose(fit["p"], coef[:, 4], rtol=1e-3)
    np.testing.assert_allclose(fit.attrs["sigma2_e"], ref["sigma2_e"], rtol=1e-5)
    np.testing.assert_allclose(fit.attrs["sigma2_u"], ref["sigma2_u"], rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(fit.attrs["loglik"], ref["loglik"], rtol=1e-8)
    assert fit.attrs["singular"] is ref["singular"]
    assert fit.attrs["converged"]
    assert ("singular" in fit.attrs["warning"]) is ref["singular"]
    assert (fit.attrs["n_obs"], fit.attrs["n_groups"]) == (40, 21)


def test_residual_df_is_n_obs_minus_n_fixed(data):
    d, X = data
    fit = fit_random_intercept(d["y"], X, d["pid"], term_names=TERMS)  # defaults: ML, residual DF
    assert (fit["df"] == 37).all()
    np.testing.assert_allclose(fit["t"], np.array(R_FITS[("y", "ml")]["coef"])[:, 3], rtol=1e-5)
    np.testing.assert_allclose(fit["p"], R_RESIDUAL_P, rtol=1e-4)


def test_estimates_agree_with_statsmodels_mixedlm(rng):
    """statsmodels MixedLM estimates (not its bse_fe) on a second, larger unbalanced design."""
    import statsmodels.formula.api as smf

    n_sub = 30
    rows = []
    for s in range(n_sub):
        resp = s % 2
        u = rng.normal(0, 0.5)
        for t in (0, 0, 1)[: rng.integers(1, 4)]:
            rows.append((s, t, resp, 1.0 - 0.8 * t + 0.6 * t * resp + u + rng.normal(0, 0.4)))
    d = pd.DataFrame(rows, columns=["pid", "time", "response", "y"])
    d["tr"] = d["time"] * d["response"]
    X = np.column_stack([np.ones(len(d)), d["time"], d["tr"]])
    for reml in (False, True):
        sm = smf.mixedlm("y ~ time + tr", d, groups=d["pid"]).fit(reml=reml, method="lbfgs")
        ours = fit_random_intercept(d["y"], X, d["pid"], term_names=TERMS, method="reml" if reml else "ml")
        np.testing.assert_allclose(ours["estimate"], sm.fe_params.to_numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ours.attrs["sigma2_e"], sm.scale, rtol=1e-3)
        np.testing.assert_allclose(ours.attrs["sigma2_u"], float(sm.cov_re.iloc[0, 0]), rtol=1e-3)
        np.testing.assert_allclose(ours.attrs["loglik"], sm.llf, rtol=1e-6)


def test_planted_effects_recovered(rng):
    n_sub, reps = 400, 3
    pid = np.repeat(np.arange(n_sub), reps)
    time_ = np.tile([0, 0, 1], n_sub)
    resp = np.repeat(np.arange(n_sub) % 2, reps)
    y = 0.5 - 0.3 * time_ + 0.2 * time_ * resp + rng.normal(0, 0.3, n_sub)[pid] + rng.normal(0, 0.2, pid.size)
    X = np.column_stack([np.ones(pid.size), time_, time_ * resp])
    fit = fit_random_intercept(y, X, pid, term_names=TERMS, df_method="satterthwaite")
    lo, hi = fit["estimate"] - 4 * fit["se"], fit["estimate"] + 4 * fit["se"]
    assert ((lo < [0.5, -0.3, 0.2]) & ([0.5, -0.3, 0.2] < hi)).all()
    np.testing.assert_allclose([fit.attrs["sigma2_u"], fit.attrs["sigma2_e"]], [0.09, 0.04], rtol=0.25)
    assert (fit["p"].iloc[1:] < 1e-6).all()


def test_vectorised_equals_single_fit(data, rng):
    d, X = data
    n_out = 50
    u = rng.normal(0, 1, (21, n_out)) * rng.uniform(0, 1.5, n_out)  # some outcomes without subject effect
    codes = pd.factorize(d["pid"])[0]
    Y = 0.2 * X[:, 1:2] + u[codes] + rng.normal(0, 1, (40, n_out))
    Y[3, :5] = np.nan  # two missing-data patterns
    Y[[0, 7], 5:8] = np.nan
    Y[:, 8] = d["y_singular"]  # a known boundary fit
    for method in ("ml", "reml"):
        for df_method in ("residual", "satterthwaite"):
            many = fit_random_intercept_many(Y, X, d["pid"], term_names=TERMS, method=method,
                                             df_method=df_method)
            assert many["estimate"].shape == (n_out, 3)
            assert many["singular"][8]
            for j in range(n_out):
                one = fit_random_intercept(Y[:, j], X, d["pid"], term_names=TERMS, method=method,
                                           df_method=df_method)
                for key in ("estimate", "se", "t", "df", "p"):
                    np.testing.assert_allclose(many[key][j], one[key], rtol=2e-5, atol=1e-9,
                                               err_msg=f"{key} outcome {j} {method} {df_method}")
                assert many["singular"][j] == one.attrs["singular"]
                assert many["n_obs"][j] == one.attrs["n_obs"]
                np.testing.assert_allclose(many["loglik"][j], one.attrs["loglik"], rtol=1e-9)


def test_vectorised_is_fast(data, rng):
    d, X = data
    Y = rng.normal(size=(40, 5000)) + rng.normal(size=(21, 5000))[pd.factorize(d["pid"])[0]]
    start = time.perf_counter()
    res = fit_random_intercept_many(Y, X, d["pid"], term_names=TERMS, df_method="satterthwaite")
    elapsed = time.perf_counter() - start
    assert np.isfinite(res["t"]).all()
    assert elapsed < 10.0, f"{5000 / elapsed:.0f} outcomes per second"  # ~8000/s measured on 2 cores


def test_input_errors(data):
    d, X = data
    with pytest.raises(InputError, match="rank deficient"):
        fit_random_intercept(d["y"], np.column_stack([X, X[:, 1]]), d["pid"], term_names=TERMS + ["dup"])
    with pytest.raises(InputError, match="term names"):
        fit_random_intercept(d["y"], X, d["pid"], term_names=TERMS[:2])
    with pytest.raises(InputError, match="same number"):
        fit_random_intercept(d["y"][:-1], X, d["pid"], term_names=TERMS)
    with pytest.raises(InputError, match="single observation"):
        fit_random_intercept(d["y"], X, np.arange(40), term_names=TERMS)


def test_missing_outcomes_dropped(data):
    d, X = data
    y = d["y"].to_numpy().copy()
    y[[2, 5]] = np.nan
    keep = ~np.isnan(y)
    a = fit_random_intercept(y, X, d["pid"], term_names=TERMS)
    b = fit_random_intercept(y[keep], X[keep], d["pid"][keep], term_names=TERMS)
    assert a.attrs["n_obs"] == 38
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-12)
    assert (a["df"] == 35).all()
