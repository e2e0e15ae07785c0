"""Both LME inference conventions side by side, the deciding one named, differing decisions flagged; the
Greenhouse-Geisser p deciding the ANOVA outcome; the response coding flipping the interaction's sign."""

import numpy as np
import pytest

from ketamine_fc.config import GroupParams
from ketamine_fc.core.stats.lme import fit_random_intercept
from ketamine_fc.group.analyses import CONVENTIONS, run_group_analyses
from ketamine_fc.group.inputs import load_group_inputs, session_table
from ketamine_fc.group.analyses import patient_ids, responders

from cohort import make_cohort

STATS = ("estimate", "se", "t", "df", "p")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("inference")
    return make_cohort(root / "bids"), root


def _run(cohort, **kw):
    c, root = cohort
    params = GroupParams(**kw)
    inputs = load_group_inputs(c["root"], root / "out", params, c["fc"])
    return run_group_analyses(inputs, params), inputs, params


def _direct_fit(inputs, params, measure, method, df_method):
    """The model fit directly with the core solver (checked against R lme4/lmerTest in tests/stats)."""
    fc = session_table(inputs, params)
    resp = responders(inputs, params)
    fc = fc[fc["participant_id"].isin(patient_ids(inputs, params)) & fc["phase"].isin(["pre", "post"])
            & fc["participant_id"].isin(resp.index)]
    time = (fc["phase"] == "post").to_numpy(float)
    response = resp.reindex(fc["participant_id"]).to_numpy(float)
    X = np.column_stack([np.ones(len(fc)), time, time * response])
    ok = np.isfinite(fc[measure].to_numpy(float))
    return fit_random_intercept(fc[measure].to_numpy(float)[ok], X[ok], fc["participant_id"].to_numpy()[ok],
                                term_names=["intercept", "time", "time:response"], method=method,
                                df_method=df_method).set_index("term")


@pytest.mark.parametrize("inference", ["paper", "satterthwaite"])
def test_lme_table_holds_both_conventions_and_repeats_the_deciding_one(cohort, inference):
    tables, inputs, params = _run(cohort, lme_inference=inference)
    lme = tables["lme"].set_index(["measure", "term"])
    assert (lme["inference"] == inference).all()
    for measure in ("dmn", "limbic"):
        for name, (method, df_method, suffix) in CONVENTIONS.items():
            ref = _direct_fit(inputs, params, measure, method, df_method)
            for term in ref.index:
                for k in STATS:
                    assert lme.loc[(measure, term), f"{k}_{suffix}"] == pytest.approx(ref.loc[term, k], rel=1e-10)
        decide = CONVENTIONS[inference][2]
        for k in STATS:
            np.testing.assert_allclose(lme.loc[measure, k], lme.loc[measure, f"{k}_{decide}"])
    # the paper's DF are n_obs - 3; Satterthwaite's are not
    assert (lme["df_ml_residual"] == lme["n_obs"] - 3).all()
    assert not np.allclose(lme["df_reml_satterthwaite"], lme["df_ml_residual"])


def test_primary_outcomes_name_the_convention_and_flag_differences(cohort):
    tables, _, _ = _run(cohort)
    prim = tables["primary_outcomes"].set_index("outcome")
    lme = tables["lme"].set_index(["measure", "term"])
    threshold = prim["bonferroni_threshold"].iloc[0]
    for outcome in ("dmn time", "sgacc_dmn time:response", "limbic time"):
        measure, term = outcome.split(" ")
        assert prim.loc[outcome, "p"] == lme.loc[(measure, term), "p_ml_residual"]
        assert prim.loc[outcome, "p_alternative"] == lme.loc[(measure, term), "p_reml_satterthwaite"]
        assert "residual DF" in prim.loc[outcome, "test"] and "Satterthwaite" in prim.loc[outcome, "alternative"]
    passes = prim["p"] < threshold
    passes_alt = prim["p_alternative"] < threshold
    np.testing.assert_array_equal(prim["passes_bonferroni"].astype(bool), passes)
    expected = prim["p_alternative"].notna() & (passes != passes_alt)
    np.testing.assert_array_equal(prim["decision_differs"].astype(bool), expected)


def test_a_decision_near_the_threshold_is_flagged(cohort):
    """Find the paper convention's p nearest the threshold and move the threshold between the two conventions."""
    tables, _, _ = _run(cohort)
    prim = tables["primary_outcomes"].set_index("outcome")
    lmerows = prim[prim["p_alternative"].notna() & prim.index.str.contains(" ")]
    row = lmerows.iloc[np.argmax(np.abs(np.log(lmerows["p_alternative"] / lmerows["p"])))]
    lo, hi = sorted([row["p"], row["p_alternative"]])
    alpha = float(np.sqrt(lo * hi)) * 8  # the Bonferroni threshold alpha / 8 falls between the two p values
    if not 0 < alpha <= 1:
        pytest.skip("no outcome whose two p values straddle a usable threshold")
    tables, _, _ = _run(cohort, alpha=alpha)
    flagged = tables["primary_outcomes"].set_index("outcome").loc[row.name]
    assert bool(flagged["decision_differs"]) and bool(flagged["passes_bonferroni"]) != bool(flagged["passes_alternative"])


def test_anova_outcome_uses_the_greenhouse_geisser_p(cohort):
    tables, _, _ = _run(cohort)
    anova = tables["clinical_anova"].iloc[0]
    prim = tables["primary_outcomes"].set_index("outcome").loc["madrs_rm_anova"]
    assert prim["p"] == anova["p_gg"] and prim["p_alternative"] == anova["p"]
    assert 0 < anova["epsilon_gg"] <= 1 and anova["p_gg"] >= anova["p"]
    assert "Greenhouse-Geisser" in prim["test"]


def test_response_coding_flips_the_interaction(cohort):
    responder, _, _ = _run(cohort)
    nonresponder, _, _ = _run(cohort, response_coding="nonresponder")
    a = responder["lme"].set_index(["measure", "term"])
    b = nonresponder["lme"].set_index(["measure", "term"])
    for measure in ("dmn", "sgacc_dmn", "limbic", "visual"):
        assert b.loc[(measure, "time:response"), "estimate"] == pytest.approx(
            -a.loc[(measure, "time:response"), "estimate"], rel=1e-6)
        assert b.loc[(measure, "time:response"), "p"] == pytest.approx(a.loc[(measure, "time:response"), "p"],
                                                                       rel=1e-6)
        # time now is the change of the responders: the old time plus the old interaction
        assert b.loc[(measure, "time"), "estimate"] == pytest.approx(
            a.loc[(measure, "time"), "estimate"] + a.loc[(measure, "time:response"), "estimate"], rel=1e-6)
