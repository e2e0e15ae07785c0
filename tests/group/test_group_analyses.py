"""Group analyses on the paper-shaped cohort, each checked against an independent computation.

References: statsmodels ``MixedLM`` (estimates; the SE recomputed as lme4 does from its variance components),
statsmodels ``AnovaRM``, scipy ``ttest_ind`` / ``ttest_rel`` / ``pearsonr`` / ``binomtest``, and the k = 2
identity ICC(3,1) = 2 cov(a, b) / (var a + var b).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ketamine_fc.group.analyses import run_group_analyses
from ketamine_fc.group.inputs import load_group_inputs
from ketamine_fc.config import GroupParams

from cohort import PLANTED_EDGE, make_cohort, write_participant_outputs


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyses")
    cohort = make_cohort(root / "bids")
    write_participant_outputs(cohort, root / "out")

    def run(**kw):
        inputs = load_group_inputs(cohort["root"], root / "out", GroupParams(**kw), cohort["fc"])
        return run_group_analyses(inputs, GroupParams(**kw))

    fc = pd.read_csv(cohort["fc"], sep="\t")
    madrs = pd.read_csv(cohort["root"] / "phenotype" / "madrs.tsv", sep="\t")
    return {"cohort": cohort, "tables": run(), "run": run, "fc": fc[fc["included"]],
            "madrs": madrs.pivot(index="participant_id", columns="timepoint", values="madrs")}


def _by_hand_lme_data(study, response_timepoint="week2", pre=("ses-pre1", "ses-pre2")):
    w = study["madrs"]
    resp = ((w["baseline"] - w[response_timepoint]) / w["baseline"] >= 0.5)[w[response_timepoint].notna()]
    fc = study["fc"]
    fc = fc[fc["participant_id"].isin(resp.index) & fc["session_id"].isin(list(pre) + ["ses-post"])].copy()
    fc["time"] = (fc["session_id"] == "ses-post").astype(float)
    fc["time_resp"] = fc["time"] * resp.reindex(fc["participant_id"]).to_numpy().astype(float)
    return fc


def _lme_reference(data, measure):
    """statsmodels ML fit; SE = sqrt(diag((X' V^-1 X)^-1)) at its variance components (as lme4 reports)."""
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm(f"{measure} ~ time + time_resp", data, groups=data["participant_id"]).fit(
            reml=False, method="lbfgs", ftol=1e-12, gtol=1e-10, maxiter=5000)
    s2u, s2e = float(fit.cov_re.iloc[0, 0]), float(fit.scale)
    X = np.column_stack([np.ones(len(data)), data["time"], data["time_resp"]])
    g = data["participant_id"].to_numpy()
    V = s2e * np.eye(len(g)) + s2u * (g[:, None] == g[None, :])
    cov = np.linalg.inv(X.T @ np.linalg.solve(V, X))
    return fit.fe_params.to_numpy(), np.sqrt(np.diag(cov))


@pytest.mark.parametrize("measure", ["dmn", "sgacc_dmn", "limbic", "visual"])
def test_lme_matches_statsmodels_and_the_paper_design(study, measure):
    data = _by_hand_lme_data(study)
    est, se = _lme_reference(data, measure)
    got = study["tables"]["lme"].query("measure == @measure").set_index("term")
    np.testing.assert_allclose(got.loc[["intercept", "time", "time:response"], "estimate"], est, atol=2e-5)
    np.testing.assert_allclose(got.loc[["intercept", "time", "time:response"], "se"], se, rtol=2e-3)
    assert (got["n_obs"] == len(data)).all() and (got["n_participants"] == data["participant_id"].nunique()).all()
    assert len(data) == 21 + 16 + 18 and data["participant_id"].nunique() == 21  # P01, P02: no week 2
    assert (got["df"] == len(data) - 3).all()
    t = got.loc["time", "estimate"] / got.loc["time", "se"]
    assert got.loc["time", "t"] == pytest.approx(t)
    assert got.loc["time", "p"] == pytest.approx(2 * stats.t.sf(abs(t), len(data) - 3))


def test_lme_follows_the_response_timepoint_and_pre_sessions(study):
    tables = study["run"](response_timepoint="day1", pre_sessions=("pre1",))
    data = _by_hand_lme_data(study, "day1", pre=("ses-pre1",))
    est, _ = _lme_reference(data, "dmn")
    got = tables["lme"].query("measure == 'dmn'").set_index("term")
    np.testing.assert_allclose(got["estimate"], est, atol=2e-5)
    assert got["n_obs"].iloc[0] == len(data) == 22 + 19  # pre1 of 22 patients with day 1, post of 19 of them


def test_clinical_anova_matches_statsmodels_anovarm(study):
    from statsmodels.stats.anova import AnovaRM

    complete = study["madrs"].dropna()
    long = complete.reset_index().melt(id_vars="participant_id", var_name="timepoint", value_name="madrs")
    ref = AnovaRM(long, "madrs", "participant_id", within=["timepoint"]).fit().anova_table.iloc[0]
    got = study["tables"]["clinical_anova"].iloc[0]
    assert got["n"] == len(complete) == 20
    assert got["F"] == pytest.approx(ref["F Value"], rel=1e-10)
    assert (got["df_num"], got["df_den"]) == (ref["Num DF"], ref["Den DF"])
    assert got["p"] == pytest.approx(ref["Pr > F"], rel=1e-8)


def test_clinical_timecourse_paired_t_and_effect_size_variants(study):
    w = study["madrs"]
    both = w[["baseline", "week8"]].dropna()
    ref = stats.ttest_rel(both["week8"], both["baseline"])
    course = study["tables"]["clinical_timecourse"].set_index("timepoint")
    assert list(course.index) == ["baseline", "day1", "week2", "week4", "week6", "week8"]
    assert course.loc["week8", "t"] == pytest.approx(ref.statistic)
    assert course.loc["week8", "p"] == pytest.approx(ref.pvalue)
    diff = both["week8"] - both["baseline"]
    assert course.loc["week8", "cohens_d"] == pytest.approx(diff.mean() / diff.std(ddof=1))
    av = study["run"](cohens_d="av")["clinical_timecourse"].set_index("timepoint")
    assert av.loc["week8", "cohens_d"] == pytest.approx(
        diff.mean() / ((both["week8"].std() + both["baseline"].std()) / 2))


def test_primary_cgi_outcome_is_an_exact_binomial_test(study):
    cgi = pd.read_csv(study["cohort"]["root"] / "phenotype" / "cgi.tsv", sep="\t").query("timepoint == 'week2'")
    k, n = int((cgi["cgi_i"] <= 2).sum()), len(cgi)
    prim = study["tables"]["primary_outcomes"].set_index("outcome")
    assert prim.loc["cgi_improved_week2", "p"] == pytest.approx(stats.binomtest(k, n, 0.5, "greater").pvalue)
    assert prim.loc["cgi_improved_week2", "statistic"] == pytest.approx(k / n)
    assert "exact binomial" in prim.loc["cgi_improved_week2", "test"]
    assert list(prim.index[2:]) == [f"{m} {t}" for m in ("dmn", "sgacc_dmn", "limbic")
                                    for t in ("time", "time:response")]


def test_controls_vs_patients_match_scipy_with_visits_averaged(study):
    fc = study["fc"]
    cvp = study["tables"]["controls_vs_patients"].set_index(["measure", "comparison"])
    for comparison, sessions in (("baseline", ("ses-pre1", "ses-pre2")), ("post", ("ses-post",))):
        for m in ("dmn", "visual"):
            controls = [g[m].mean() for _, g in fc[fc["participant_id"].str.startswith("sub-C")].groupby(
                "participant_id")]
            patients = [g[m].mean() for _, g in fc[fc["participant_id"].str.startswith("sub-P")
                                                   & fc["session_id"].isin(sessions)].groupby("participant_id")]
            ref = stats.ttest_ind(controls, patients)
            got = cvp.loc[(m, comparison)]
            assert (got["n_control"], got["n_patient"]) == (27, 23 if comparison == "baseline" else 20)
            assert got["t"] == pytest.approx(ref.statistic) and got["p"] == pytest.approx(ref.pvalue)
            assert got["df"] == 27 + got["n_patient"] - 2


def test_baseline_reliability_r_and_icc(study):
    fc = study["fc"]
    wide = fc[fc["participant_id"].str.startswith("sub-P")].pivot(index="participant_id", columns="session_id",
                                                                  values="limbic")
    both = wide[["ses-pre1", "ses-pre2"]].dropna()
    a, b = both["ses-pre1"], both["ses-pre2"]
    got = study["tables"]["baseline_reliability"].set_index("measure").loc["limbic"]
    assert got["n"] == 18
    assert got["r"] == pytest.approx(stats.pearsonr(a, b)[0]) and got["p"] == pytest.approx(stats.pearsonr(a, b)[1])
    assert got["icc"] == pytest.approx(2 * np.cov(a, b)[0, 1] / (a.var() + b.var()))


def test_volume_correlation_recovers_the_planted_hippocampus(study):
    w = study["madrs"]
    change = (100 * (w["week2"] - w["baseline"]) / w["baseline"]).dropna()
    vols = study["cohort"]["volumes"].set_index("participant_id").reindex(change.index)
    corr = study["tables"]["correlations"].set_index("x")
    for name in ("hippocampus_r", "amygdala_l"):
        ref = stats.pearsonr(vols[name] / vols["icv"], change)
        assert corr.loc[f"{name}_icv", "r"] == pytest.approx(ref[0])
        assert corr.loc[f"{name}_icv", "p"] == pytest.approx(ref[1])
    assert corr.loc["hippocampus_r_icv", "r"] > 0.5 and corr.loc["hippocampus_r_icv", "p"] < 0.01
    assert set(corr.loc["bprs_positive_mean", "y"]) == {f"madrs_change_{t}" for t in
                                                        ("day1", "week2", "week4", "week6", "week8")}


def test_limbic_edges_find_the_planted_edge_only(study):
    edges = study["tables"]["edges_limbic_change"]
    assert len(edges) == 45 and (edges["n"] == 20).all()
    planted = edges[(edges["region_1"] == PLANTED_EDGE[0]) & (edges["region_2"] == PLANTED_EDGE[1])].iloc[0]
    assert planted["t"] < 0 and planted["p"] < 1e-6
    assert planted["mean_change"] == pytest.approx(-0.15, abs=0.03)
    others = edges.drop(planted.name)
    assert (others["p"] > 1e-3).all()


def test_limbic_edge_against_scipy(study):
    """The t of one edge recomputed from the written matrices (post minus the mean of pre) with ttest_rel."""
    from ketamine_fc.group.inputs import read_limbic_matrices

    mats = read_limbic_matrices(study["cohort"]["root"].parent / "out")
    a, b = "limbic_hippocampus_ant_L", "limbic_thalamus_R"
    subs = sorted({s for (s, ses) in mats if s.startswith("sub-P") and ses == "ses-post"})
    post = [mats[(s, "ses-post")].loc[a, b] for s in subs]
    pre = [np.mean([mats[(s, ses)].loc[a, b] for ses in ("ses-pre1", "ses-pre2") if (s, ses) in mats])
           for s in subs]
    ref = stats.ttest_rel(post, pre)
    got = study["tables"]["edges_limbic_change"].query("region_1 == @a and region_2 == @b").iloc[0]
    assert got["t"] == pytest.approx(ref.statistic) and got["p"] == pytest.approx(ref.pvalue)


def test_logistic_matches_statsmodels(study):
    import statsmodels.api as sm

    root = study["cohort"]["root"] / "phenotype"
    data = pd.read_csv(root / "side_effects.tsv", sep="\t").merge(pd.read_csv(root / "ketamine_levels.tsv",
                                                                              sep="\t"))
    fit = sm.Logit(data["dissociation"], sm.add_constant(data["ketamine_r"])).fit(disp=0)
    got = study["tables"]["logistic"].query("predictor == 'ketamine_r'").iloc[0]
    assert got["coef"] == pytest.approx(fit.params["ketamine_r"], rel=1e-5)
    assert got["p"] == pytest.approx(fit.pvalues["ketamine_r"], rel=1e-4)


def test_singular_lme_fit_is_recorded_in_the_table(study, tmp_path):
    """A measure with no between-participant variance: sigma2_u = 0 and the table says so."""
    fc = pd.read_csv(study["cohort"]["fc"], sep="\t")
    rng = np.random.default_rng(3)
    fc["flat"] = 0.2 + rng.normal(0, 0.02, len(fc))
    fc["flat"] -= fc.groupby("participant_id")["flat"].transform("mean") - 0.2  # identical participant means
    fc.to_csv(tmp_path / "fc.tsv", sep="\t", index=False)
    inputs = load_group_inputs(study["cohort"]["root"], tmp_path, GroupParams(), tmp_path / "fc.tsv")
    assert inputs.measures == ["dmn", "sgacc_dmn", "limbic", "visual", "flat"]
    lme = run_group_analyses(inputs, GroupParams())["lme"].set_index("measure")
    assert (lme.loc["flat", "warning"] == "boundary (singular) fit: sigma2_u = 0").all()
    assert (lme.loc["flat", "sigma2_u"] == 0).all()
    assert (lme.loc["dmn", "warning"] == "n/a").all()
