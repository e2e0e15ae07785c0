"""The simulated study design against the paper's published numbers (Siegel et al. 2021) and its own rules."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ketamine_fc.simulate.design import CONTROL_FC, Effects, make_study


@pytest.fixture(scope="module")
def study():
    return make_study(seed=3)


def _wide(study):
    return study.phenotype["madrs"].pivot(index="participant_id", columns="timepoint", values="madrs")


def test_participants_and_imaging_sessions_like_the_paper(study):
    groups = study.participants.set_index("participant_id")["group"]
    assert (groups == "patient").sum() == 23 and (groups == "control").sum() == 27
    count = pd.Series([s for p, ss in study.sessions.items() if groups[p] == "patient" for s in ss]).value_counts()
    assert (count["pre1"], count["pre2"], count["post"]) == (23, 18, 20)  # paper: 23, 18, 20 imaged
    controls = [ss for p, ss in study.sessions.items() if groups[p] == "control"]
    assert all(ss[0] == "pre1" for ss in controls) and sum(len(ss) == 2 for ss in controls) == 7
    assert set(study.targets["session_id"]) == {"ses-pre1", "ses-pre2", "ses-post"}


def test_madrs_course_matches_the_published_means_and_sds():
    # paper: 29 +/- 4 at baseline, 9 +/- 8 at day 1, 13 +/- 8 at week 2, 15 +/- 8 at week 8
    means, sds = [], []
    for seed in range(8):
        w = _wide(make_study(seed=seed))
        means.append(w[["baseline", "day1", "week2", "week8"]].mean())
        sds.append(w[["baseline", "day1", "week2", "week8"]].std())
    mean, sd = pd.concat(means, axis=1).mean(axis=1), pd.concat(sds, axis=1).mean(axis=1)
    np.testing.assert_allclose(mean, [29, 9, 13, 15], atol=2.0)
    np.testing.assert_allclose(sd, [4, 8, 8, 8], atol=2.0)


def test_dropouts_and_per_protocol_counts(study):
    n = _wide(study).notna().sum()
    assert n["baseline"] == 23 and n["day1"] == 22 and n["week2"] == 21 and n["week8"] == 21  # paper: 22, 21, 21


def test_responders_follow_the_madrs_table(study):
    w = _wide(study)
    by_hand = {p: bool(w.loc[p, "week2"] <= 0.5 * w.loc[p, "baseline"]) for p in w.index if pd.notna(w.loc[p, "week2"])}
    assert study.responders == by_hand
    assert 8 <= sum(by_hand.values()) <= 15  # paper: 11 of 21
    truth = study.targets.drop_duplicates("participant_id").set_index("participant_id")["responder"]
    assert all(truth[p] == r for p, r in by_hand.items())
    for n in (6, 10):  # small cohorts keep both groups
        small = make_study(n_patients=n, n_controls=2, seed=0).responders
        assert 0 < sum(small.values()) < len(small)


def test_planted_targets(study):
    eff = Effects()
    t = study.targets.set_index(["participant_id", "session_id"])
    patients = [p for p in study.sessions if p.startswith("sub-P")]
    for p in patients:
        if (p, "ses-post") not in t.index:
            continue
        pre, post = t.loc[(p, "ses-pre1")], t.loc[(p, "ses-post")]
        assert post["limbic"] - pre["limbic"] == pytest.approx(-eff.limbic_decrease)
        assert post["dmn"] - pre["dmn"] == pytest.approx(-eff.dmn_decrease)
        expected = eff.sgacc_decrease_responder if study.responders.get(p) else eff.sgacc_decrease_nonresponder
        assert post["sgacc_dmn"] - pre["sgacc_dmn"] == pytest.approx(-expected)
        assert post["visual"] == pre["visual"]
    base = study.targets[study.targets["session_id"] == "ses-pre1"].copy()
    base["patient"] = base["participant_id"].str.startswith("sub-P")
    diff = base.groupby("patient")[list(CONTROL_FC)].mean().diff().iloc[-1]
    se = eff.between_sd * np.sqrt(1 / 23 + 1 / 27)
    for m in ("dmn", "sgacc_dmn", "limbic"):
        assert abs(diff[m] - eff.baseline_excess) < 4 * se
    assert abs(diff["visual"]) < 4 * se


def test_null_plants_nothing():
    t = make_study(seed=3, effects=Effects.null()).targets.set_index(["participant_id", "session_id"])
    per_person = t.groupby(level=0).nunique()
    assert (per_person[["dmn", "sgacc_dmn", "limbic", "visual"]] == 1).all().all()


def test_clinical_correlations_planted_like_the_paper():
    # a large cohort, so that the sample r is close to the planted one
    study = make_study(n_patients=600, n_controls=0, seed=5)
    w = _wide(study)
    change = (w["week2"] - w["baseline"]) / w["baseline"]
    vol = study.volumes.set_index("participant_id").reindex(change.index)
    ok = change.notna()
    r_hip = stats.pearsonr(vol["Right-Hippocampus"][ok] / vol["EstimatedTotalIntraCranialVol"][ok], change[ok])[0]
    assert r_hip == pytest.approx(Effects().hippocampus_r, abs=0.1)  # paper: r = 0.52
    r_left = stats.pearsonr(vol["Left-Hippocampus"][ok] / vol["EstimatedTotalIntraCranialVol"][ok], change[ok])[0]
    assert abs(r_left) < 0.15
    bprs = study.phenotype["bprs"].groupby("participant_id")["bprs_positive"].mean()
    day1 = (w["day1"] - w["baseline"]) / w["baseline"]
    both = day1.notna()
    assert stats.pearsonr(bprs.reindex(day1.index)[both], day1[both])[0] < -0.3  # paper: r = -0.54
    cgi = study.phenotype["cgi"]
    assert cgi["cgi_i"].between(1, 7).all()
    week2 = cgi[cgi["timepoint"] == "week2"].set_index("participant_id")["cgi_i"]
    resp = pd.Series(study.responders)
    assert week2[resp[resp].index].mean() < week2[resp[~resp].index].mean() - 1
    side = study.phenotype["side_effects"].merge(study.phenotype["ketamine_levels"], on="participant_id")
    total = side["ketamine_r"] + side["ketamine_s"]
    assert total[side["dissociation"] == 1].mean() > total[side["dissociation"] == 0].mean()


def test_null_keeps_the_clinical_course_unless_null_clinical():
    kept = make_study(n_patients=60, n_controls=0, seed=8, effects=Effects.null())
    gone = make_study(n_patients=60, n_controls=0, seed=8, effects=Effects.null(clinical=False))
    for study, improves in ((kept, True), (gone, False)):
        w = _wide(study)
        drop = ((w["baseline"] - w["week2"]) / w["baseline"]).dropna()
        if improves:
            assert drop.mean() > 0.4 and 0.3 < np.mean(drop >= 0.5) < 0.8  # the paper's course and responders
        else:
            assert abs(drop.mean()) < 0.05 and not np.any(drop >= 0.5)  # MADRS only wobbles around baseline
            cgi = study.phenotype["cgi"]["cgi_i"]
            assert abs(cgi.mean() - 4) < 0.3  # "no change" on average
    assert Effects.null().hippocampus_r == Effects().hippocampus_r and Effects.null(clinical=False).hippocampus_r == 0
    per_person = gone.targets.set_index(["participant_id", "session_id"]).groupby(level=0).nunique()
    assert (per_person[["dmn", "sgacc_dmn", "limbic", "visual"]] == 1).all().all()
