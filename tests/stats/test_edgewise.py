"""Edge-wise LME (missing-data patterns) against per-edge fits and R lme4 / lmerTest; Benjamini-Hochberg."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ketamine_fc.core.stats.edgewise import (
    ONE_PER_GROUP,
    RANK_DEFICIENT,
    TOO_FEW,
    fit_edges,
    missing_patterns,
    unvectorize,
    vectorize,
)
from ketamine_fc.core.stats.lme import fit_random_intercept
from ketamine_fc.core.stats.multiple import fdr_bh
from ketamine_fc.errors import InputError

DATA = Path(__file__).parent / "data" / "lme_unbalanced.csv"  # as in test_stats_lme.py
TERMS = ["(Intercept)", "time", "time:response"]

# Reference fits of the fixture's outcomes with sessions (0-based rows) removed, i.e. for each outcome, mask
# and REML in (FALSE, TRUE), with dd = d[-(rows + 1), ]:
#   m <- lmer(<outcome> ~ time + time:response + (1 | pid), data = dd, REML = reml)
#   coef(summary(m, ddf = "Satterthwaite")); as.data.frame(VarCorr(m)); isSingular(m)
# R 4.2.2, lme4 1.1.31, lmerTest 3.1.3 (the versions of tests/stats/data/lme_reference.R).
# Columns: estimate, se, Satterthwaite df, t, p.
MASKS = {"none": [], "drop2": [2, 5], "drop4": [0, 7, 19, 30], "sub02": [2, 3, 4]}
R_FITS = {
    ("y", "none", "ml"): dict(
        coef=[[0.325708167782, 0.0171204713975, 25.0533879155, 19.024485963, 2.08703936457e-16],
              [-0.040609201283, 0.0290296000061, 27.1982165104, -1.39888945334, 0.173146880821],
              [0.0455221881125, 0.0428153389577, 34.9207300285, 1.06322148138, 0.29497892307]],
        sigma2_u=0.0033951640759, sigma2_e=0.00315893953964, singular=False),
    ("y", "none", "reml"): dict(
        coef=[[0.32570894892, 0.0177925819331, 23.4886499041, 18.3058844491, 2.10439698451e-15],
              [-0.0406600296367, 0.0301962692287, 25.408948435, -1.34652494084, 0.190022857338],
              [0.045609867859, 0.0445277059016, 32.4263996432, 1.02430311501, 0.313273255777]],
        sigma2_u=0.00366133254131, sigma2_e=0.00341948021695, singular=False),
    ("y", "drop2", "ml"): dict(
        coef=[[0.327075182309, 0.0180938909071, 24.6421283525, 18.0765532405, 9.91225987946e-16],
              [-0.0352115188874, 0.0286852493843, 23.5536462833, -1.22751308227, 0.231757168481],
              [0.0365606963142, 0.0423725786424, 30.5586257276, 0.862838597168, 0.394947600543]],
        sigma2_u=0.00411779645141, sigma2_e=0.00287969782771, singular=False),
    ("y", "drop2", "reml"): dict(
        coef=[[0.327072381011, 0.0187968291914, 23.193420463, 17.4004018274, 8.28860639086e-15],
              [-0.0355772559708, 0.0299858685068, 21.9290965617, -1.18646741757, 0.248133465198],
              [0.0371624152325, 0.0442409824058, 28.306947049, 0.839999774229, 0.407947572573]],
        sigma2_u=0.00440383905839, sigma2_e=0.0031564219701, singular=False),
    ("y", "drop4", "ml"): dict(
        coef=[[0.327869393364, 0.0169794889791, 22.5879414204, 19.3097326879, 1.55247639466e-15],
              [-0.044062136894, 0.0289386233244, 22.5660890287, -1.52260653176, 0.141748568886],
              [0.0370276702031, 0.0441813609304, 27.9723036539, 0.838083513575, 0.409088259871]],
        sigma2_u=0.00307308855098, sigma2_e=0.00306034194968, singular=False),
    ("y", "drop4", "reml"): dict(
        coef=[[0.328001116552, 0.0176708316462, 21.2616181235, 18.5617249442, 1.28520679425e-14],
              [-0.0446533548788, 0.0303354378476, 20.9673002786, -1.47198649656, 0.155876354654],
              [0.0378144299267, 0.0462623221054, 25.8828376159, 0.817391523073, 0.421165589321]],
        sigma2_u=0.00327902917079, sigma2_e=0.00337765886592, singular=False),
    ("y", "sub02", "ml"): dict(
        coef=[[0.330859554911, 0.0175385981652, 24.1177121858, 18.8646522256, 6.02063281854e-16],
              [-0.0588072512073, 0.0303452713433, 25.4326198324, -1.93793789292, 0.0638086188465],
              [0.0587229734614, 0.0426880228779, 31.0766540219, 1.37563113732, 0.178770758375]],
        sigma2_u=0.00363875841493, sigma2_e=0.00273441002193, singular=False),
    ("y", "sub02", "reml"): dict(
        coef=[[0.330861611327, 0.0182652632459, 22.5408487286, 18.1142536448, 6.31483250058e-15],
              [-0.0589681784667, 0.0317051454347, 23.5843181224, -1.85989301289, 0.0754186025569],
              [0.0589975613869, 0.0445765057107, 28.6856655808, 1.32351247471, 0.196117045969]],
        sigma2_u=0.00392734880478, sigma2_e=0.00299033336664, singular=False),
    ("y_singular", "none", "ml"): dict(
        coef=[[0.296126448276, 0.00974546796446, 39.9999999998, 30.3860675912, 2.97035824309e-29],
              [-0.0397477816092, 0.0235375413068, 40, -1.68869726413, 0.099059807258],
              [-0.0122802666667, 0.0317787940431, 40.0000000004, -0.386429599878, 0.701226559984]],
        sigma2_u=0, sigma2_e=0.00275425022954, singular=True),
    ("y_singular", "none", "reml"): dict(
        coef=[[0.296126448276, 0.0101328550896, 36.9999999999, 29.224384012, 3.64791643524e-27],
              [-0.0397477816092, 0.0244731701029, 37, -1.62413702197, 0.112836619636],
              [-0.0122802666667, 0.0330420166722, 36.9999999999, -0.371656088322, 0.712268892069]],
        sigma2_u=0, sigma2_e=0.00297756781572, singular=True),
    ("y_singular", "drop2", "ml"): dict(
        coef=[[0.299019444444, 0.0102016503308, 37.9999999996, 29.3108893901, 1.07093475279e-27],
              [-0.0426407777778, 0.023924990744, 37.9999999995, -1.78226935316, 0.0826972083189],
              [-0.0122802666667, 0.0320987433988, 37.9999999996, -0.382577801071, 0.704164421189]],
        sigma2_u=0, sigma2_e=0.00280998907577, singular=True),
    ("y_singular", "drop2", "reml"): dict(
        coef=[[0.299019444444, 0.0106298762793, 34.9999999995, 28.1300963988, 1.27921527628e-25],
              [-0.0426407777778, 0.0249292696127, 34.9999999995, -1.71047040047, 0.096030616693],
              [-0.0122802666667, 0.0334461248901, 34.9999999995, -0.367165604596, 0.715706257338]],
        sigma2_u=0, sigma2_e=0.00305084528226, singular=True),
    ("y_singular", "drop4", "ml"): dict(
        coef=[[0.291133769231, 0.0102699496958, 35.9999999988, 28.3481202785, 3.23423654148e-26],
              [-0.0347551025641, 0.0237174328857, 35.9999999991, -1.46538214028, 0.151496766367],
              [0.00145333333333, 0.0338025426534, 35.9999999989, 0.0429947932685, 0.965943275177]],
        sigma2_u=0, sigma2_e=0.00274226853561, singular=True),
    ("y_singular", "drop4", "reml"): dict(
        coef=[[0.291133769231, 0.010726612619, 32.9999999992, 27.1412588086, 3.80203059047e-24],
              [-0.0347551025641, 0.0247720507322, 32.9999999992, -1.40299658433, 0.169957049263],
              [0.00145333333333, 0.0353056043427, 32.9999999991, 0.0411643805676, 0.967412901987]],
        sigma2_u=0, sigma2_e=0.00299156567521, singular=True),
    ("y_singular", "sub02", "ml"): dict(
        coef=[[0.298106777778, 0.0101224576411, 36.9999999998, 29.4500395406, 2.77593954661e-27],
              [-0.0282079777778, 0.0256080173315, 36.9999999996, -1.10152915833, 0.277780717873],
              [-0.0258004, 0.0332657903244, 36.9999999998, -0.775583557413, 0.442924146336]],
        sigma2_u=0, sigma2_e=0.00276653201477, singular=True),
    ("y_singular", "sub02", "reml"): dict(
        coef=[[0.298106777778, 0.0105595976719, 34.0000000002, 28.2308840773, 3.49657537667e-25],
              [-0.0282079777778, 0.0267139038545, 33.9999999999, -1.05592870033, 0.298446408272],
              [-0.0258004, 0.0347023790584, 33.9999999999, -0.743476404213, 0.462300304556]],
        sigma2_u=0, sigma2_e=0.00301063778078, singular=True),
}


@pytest.fixture(scope="module")
def fixture():
    d = pd.read_csv(DATA)
    X = np.column_stack([np.ones(len(d)), d["time"], d["time"] * d["response"]])
    return d, X, d["pid"].to_numpy()


def masked_z(d):
    """One column per (outcome, mask) of R_FITS (the fixture's outcomes with NaN in the masked rows)."""
    keys = sorted({(outcome, mask) for outcome, mask, _ in R_FITS})
    Z = np.column_stack([d[outcome].to_numpy(float) for outcome, _ in keys])
    for col, (_, mask) in enumerate(keys):
        Z[MASKS[mask], col] = np.nan
    return keys, Z


@pytest.mark.parametrize("method", ["ml", "reml"])
def test_matches_lme4_and_lmertest(fixture, method):
    d, X, groups = fixture
    keys, Z = masked_z(d)
    fits = fit_edges(Z, X, groups, term_names=TERMS, method=method, df_method="satterthwaite")
    assert fits.estimate.shape == (3, len(keys)) and len(fits.present) == len(MASKS)
    for col, (outcome, mask) in enumerate(keys):
        ref = R_FITS[(outcome, mask, method)]
        coef = np.array(ref["coef"])
        msg = f"{outcome} without rows {MASKS[mask]} ({method})"
        np.testing.assert_allclose(fits.estimate[:, col], coef[:, 0], rtol=1e-5, err_msg=msg)
        np.testing.assert_allclose(fits.se[:, col], coef[:, 1], rtol=1e-5, err_msg=msg)
        np.testing.assert_allclose(fits.t[:, col], coef[:, 3], rtol=1e-5, err_msg=msg)
        np.testing.assert_allclose(fits.df[:, col], coef[:, 2], rtol=1e-3, err_msg=msg)
        np.testing.assert_allclose(fits.p[:, col], coef[:, 4], rtol=1e-3, err_msg=msg)
        np.testing.assert_allclose(fits.sigma2_e[col], ref["sigma2_e"], rtol=1e-5, err_msg=msg)
        np.testing.assert_allclose(fits.sigma2_u[col], ref["sigma2_u"], rtol=1e-5, atol=1e-12, err_msg=msg)
        assert fits.singular[col] == ref["singular"], msg
        assert fits.n_obs[col] == 40 - len(MASKS[mask])
        assert fits.n_participants[col] == d["pid"].drop(index=MASKS[mask]).nunique()
    assert (fits.reason == 0).all() and fits.converged.all()


def test_paper_convention_residual_df(fixture):
    """ML with DF = n_obs - 3 per edge: t as lme4's, p = 2 pt(-|t|, n_obs - 3)."""
    d, X, groups = fixture
    keys, Z = masked_z(d)
    fits = fit_edges(Z, X, groups, term_names=TERMS)  # defaults: the paper's ML, residual DF
    for col, (outcome, mask) in enumerate(keys):
        coef = np.array(R_FITS[(outcome, mask, "ml")]["coef"])
        np.testing.assert_allclose(fits.t[:, col], coef[:, 3], rtol=1e-5)
        assert (fits.df[:, col] == 40 - len(MASKS[mask]) - 3).all()
        np.testing.assert_allclose(fits.p[:, col], 2 * stats.t.sf(np.abs(coef[:, 3]), 37 - len(MASKS[mask])),
                                   rtol=1e-4)


def test_unfittable_patterns_give_nan_with_reason(fixture):
    d, X, groups = fixture
    y = d["y"].to_numpy(float)
    first = np.unique(groups, return_index=True)[1]  # one session per participant
    columns = {
        "too_few": np.where(np.arange(40) < 3, y, np.nan),
        "all_missing": np.full(40, np.nan),
        "no_post": np.where(d["time"] == 0, y, np.nan),  # time and time:response all 0
        "one_each": np.where(np.isin(np.arange(40), first), y, np.nan),
        "ok": y,
    }
    fits = fit_edges(np.column_stack(list(columns.values())), X, groups, term_names=TERMS)
    assert list(fits.reason) == [TOO_FEW, TOO_FEW, RANK_DEFICIENT, ONE_PER_GROUP, 0]
    assert np.isnan(fits.t[:, :4]).all() and np.isfinite(fits.t[:, 4]).all()
    pre = d["time"] == 0
    assert list(fits.n_obs) == [3, 0, pre.sum(), 21, 40]
    assert list(fits.n_participants) == [2, 0, d.loc[pre, "pid"].nunique(), 21, 21]
    text = fits.reason_text()
    assert "rank deficient" in text[2] and "one observation per participant" in text[3] and text[4] == ""


@pytest.fixture(scope="module")
def many(fixture):
    """3000 edges of the fixture's design with participant effects of varied size and 5 missing-data patterns."""
    d, X, groups = fixture
    rng = np.random.default_rng(7)
    codes = pd.factorize(groups)[0]
    m = 3000
    Z = 0.3 + rng.normal(0, 0.05, (21, m))[codes] * rng.uniform(0, 1.5, m) + rng.normal(0, 0.05, (40, m))
    for rows in ([3], [0, 7], [10, 11, 12], [20]):
        Z[np.ix_(rows, rng.choice(m, 400, replace=False))] = np.nan
    return Z, X, groups


@pytest.mark.parametrize("method, df_method", [("ml", "residual"), ("reml", "satterthwaite")])
def test_equals_per_edge_fits(many, method, df_method):
    """Each edge's fit is fit_random_intercept's on its own sessions.

    The maximised likelihood agrees to 1e-9; the estimates to the precision with which the optimum of the
    variance ratio is defined (the profiled deviance changes by ~1e-13 when r changes by 1e-6 relatively,
    so two independent optimisations of one edge agree to ~1e-6 in t: 2e-5 relative, or 2e-5 SE for an
    estimate near 0, as test_stats_lme.py::test_vectorised_equals_single_fit). Exactness given r: next test.
    """
    Z, X, groups = many
    fits = fit_edges(Z, X, groups, term_names=TERMS, method=method, df_method=df_method)
    assert len(fits.present) > 5
    rng = np.random.default_rng(0)
    sample = np.concatenate([rng.choice(np.flatnonzero(fits.pattern == k), 3, replace=False)
                             for k in range(len(fits.present))] + [rng.choice(Z.shape[1], 30, replace=False)])
    for e in sample:
        one = fit_random_intercept(Z[:, e], X, groups, term_names=TERMS, method=method, df_method=df_method)
        for key in ("estimate", "se", "t", "df", "p"):
            ours, ref = getattr(fits, key)[:, e], one[key].to_numpy()
            atol = 2e-5 * one["se"].to_numpy() if key == "estimate" else 2e-5 if key == "t" else 1e-9
            assert (np.abs(ours - ref) <= atol + 2e-5 * np.abs(ref)).all(), f"{key} of edge {e}: {ours} {ref}"
        np.testing.assert_allclose(fits.loglik[e], one.attrs["loglik"], rtol=1e-9)
        assert fits.singular[e] == one.attrs["singular"]
        assert (fits.n_obs[e], fits.n_participants[e]) == (one.attrs["n_obs"], one.attrs["n_groups"])


@pytest.mark.parametrize("method", ["ml", "reml"])
def test_exact_given_the_variance_ratio(many, method):
    """At the fitted r, estimates, SE, t and residual-DF p equal dense GLS on the edge's sessions to 1e-8."""
    Z, X, groups = many
    fits = fit_edges(Z, X, groups, term_names=TERMS, method=method)
    rng = np.random.default_rng(1)
    for e in rng.choice(Z.shape[1], 40, replace=False):
        ok = ~np.isnan(Z[:, e])
        y, Xe, g = Z[ok, e], X[ok], groups[ok]
        Hinv = np.linalg.inv(np.eye(ok.sum()) + fits.ratio[e] * (g[:, None] == g[None, :]))
        M = Xe.T @ Hinv @ Xe
        b = np.linalg.solve(M, Xe.T @ Hinv @ y)
        res = y - Xe @ b
        s2 = res @ Hinv @ res / (ok.sum() - (3 if method == "reml" else 0))
        se = np.sqrt(s2 * np.diag(np.linalg.inv(M)))
        np.testing.assert_allclose(fits.estimate[:, e], b, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(fits.se[:, e], se, rtol=1e-8)
        np.testing.assert_allclose(fits.t[:, e], b / se, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fits.sigma2_e[e], s2, rtol=1e-8)
        np.testing.assert_allclose(fits.p[:, e], 2 * stats.t.sf(np.abs(b / se), ok.sum() - 3), rtol=1e-8)


def test_missing_patterns():
    Z = np.arange(20.0).reshape(4, 5)
    Z[1, [0, 3]] = np.nan
    Z[[0, 2], 4] = np.nan
    present, which = missing_patterns(Z)
    assert present[0].all()  # the complete pattern first
    assert len(present) == 3
    for col in range(5):
        assert (present[which[col]] == ~np.isnan(Z[:, col])).all()
    assert which[1] == which[2] == 0 and which[0] == which[3]


def test_vectorize_round_trip(rng):
    A = rng.normal(size=(3, 6, 6))
    A = A + A.transpose(0, 2, 1)
    v = vectorize(A)
    assert v.shape == (3, 15)
    back = unvectorize(v, fill=np.nan)
    i, j = np.triu_indices(6, 1)
    np.testing.assert_array_equal(back[:, i, j], A[:, i, j])
    np.testing.assert_array_equal(back, back.transpose(0, 2, 1))
    with pytest.raises(InputError, match="n \\(n - 1\\) / 2"):
        unvectorize(np.zeros(14))


def test_input_errors(fixture):
    d, X, groups = fixture
    Z = np.column_stack([d["y"], d["y"]])
    with pytest.raises(InputError, match="infinite"):
        fit_edges(np.where(np.arange(40)[:, None] == 0, np.inf, Z), X, groups, term_names=TERMS)
    with pytest.raises(InputError, match="one row"):
        fit_edges(Z[:-1], X, groups, term_names=TERMS)
    with pytest.raises(InputError, match="term names"):
        fit_edges(Z, X, groups, term_names=TERMS[:2])


def test_fdr_bh_equals_statsmodels(rng):
    from statsmodels.stats.multitest import multipletests

    for _ in range(20):
        p = np.concatenate([rng.random(300), rng.random(40) * 1e-3, [0.0, 1.0, 0.5, 0.5]])
        rng.shuffle(p)
        np.testing.assert_array_equal(fdr_bh(p), multipletests(p, method="fdr_bh")[1])
    p = rng.random((5, 8))
    p[1, 2] = p[3, 4] = np.nan  # NaN kept, and left out of the number of tests
    q = fdr_bh(p)
    assert q.shape == (5, 8) and np.isnan(q[1, 2]) and np.isnan(q[3, 4])
    ok = ~np.isnan(p)
    np.testing.assert_array_equal(q[ok], multipletests(p[ok], method="fdr_bh")[1])
    assert np.isnan(fdr_bh([np.nan, np.nan])).all() and fdr_bh([]).size == 0
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        fdr_bh([0.2, 1.5])
