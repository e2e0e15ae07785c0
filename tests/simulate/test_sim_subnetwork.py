"""The planted edge-level effect for the network-based statistic: the limbic-DMN subnetwork.

Its edges (10 limbic regions x 8 DMN parcels) sit at ``LIMBIC_DMN_FC`` before treatment and in controls and fall
by ``limbic_dmn_decrease`` at post in every patient, while the network means (within-DMN, sgACC-DMN,
within-limbic, within-visual) keep their planted targets. Checked on the region signals (no BOLD, no cleaning:
test_sim_recovery.py takes the subnetwork through the participant level's cleaning): on the real atlas table
restricted to the DMN, sgACC, limbic, visual and auditory regions, 8 repeats of 3000 frames at TR 0.5 s.
"""

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.core.networks import SGACC, network_sets
from ketamine_fc.simulate.bold import (
    SUBNETWORK_DMN_EXCESS, mixing_weight, region_signals, sgacc_weight, subnetwork_mixing,
    subnetwork_pair_fraction)
from ketamine_fc.simulate.design import (
    LIMBIC_DMN_FC, SUBNETWORK_DMN, Effects, make_study, subnetwork_sets, subnetwork_table)

N_REPEATS, N_FRAMES, TR = 8, 3000, 0.5
SUB = "limbic_dmn_subnetwork"


@pytest.fixture(scope="module")
def atlas(atlas_dir):
    from ketamine_fc.atlases import region_table

    full = region_table(atlas_dir)
    sets = network_sets(full, sgacc="core")
    keep = full["network"].isin(["Default", "Visual", "Auditory"]) | full["index"].isin(sets["sgacc"] + sets["limbic"])
    table = full[keep].reset_index(drop=True)
    pos = {int(v): i for i, v in enumerate(table["index"])}
    members = subnetwork_sets(sets)
    idx = {k: [pos[i] for i in v if i in pos] for k, v in sets.items()}
    idx["sub_limbic"] = [pos[i] for i in members["limbic"]]
    idx["sub_dmn"] = [pos[i] for i in members["dmn"]]
    idx["other_dmn"] = [i for i in idx["dmn"] if i not in idx["sub_dmn"]]
    return {"full": full, "table": table, "sets": sets, "idx": idx}


def _within(z, a):
    return z[np.ix_(a, a)][np.triu_indices(len(a), 1)].mean()


def _measures(x, idx) -> dict:
    z = np.arctanh(np.clip(np.corrcoef(x.T), -0.999999, 0.999999))
    return {"dmn": _within(z, idx["dmn"]), "sgacc_dmn": z[np.ix_(idx["sgacc"], idx["dmn"])].mean(),
            "limbic": _within(z, idx["limbic"]), "visual": _within(z, idx["visual"]),
            SUB: z[np.ix_(idx["sub_limbic"], idx["sub_dmn"])].mean(),
            "limbic_other_dmn": z[np.ix_(idx["sub_limbic"], idx["other_dmn"])].mean(),
            "subnetwork_dmn_pairs": _within(z, idx["sub_dmn"]), "other_dmn_pairs": _within(z, idx["other_dmn"])}


def _patient_targets(effects):
    """pre1 and post targets of the first patient imaged at post."""
    t = make_study(seed=3, effects=effects).targets.set_index(["participant_id", "session_id"])
    pid = next(p for p, s in t.index if s == "ses-post")
    return {ses: t.loc[(pid, f"ses-{ses}")].drop("responder").astype(float).to_dict() for ses in ("pre1", "post")}


def test_subnetwork_dmn_parcels_are_the_default_parcels_nearest_the_limbic_regions(atlas, atlas_dir):
    from ketamine_fc.atlases import gordon_table, seitzman_table

    gordon = gordon_table(atlas_dir, centroids=True)
    seitz = seitzman_table(atlas_dir)
    limbic = seitz[seitz["roi"].isin([i - 1000 for i in atlas["sets"]["limbic"]])][["x", "y", "z"]].to_numpy()
    dmn = gordon[(gordon["community"] == "Default") & ~gordon["parcel_id"].isin(SGACC["extended"])].copy()
    xyz = dmn[[f"centroid_vol1mm_{a}" for a in "xyz"]].to_numpy()
    dmn["distance"] = np.linalg.norm(xyz[:, None] - limbic[None], axis=2).mean(axis=1)
    nearest = sorted(int(p) for h in ("L", "R")
                     for p in dmn[dmn["hemisphere"] == h].nsmallest(4, "distance")["parcel_id"])
    assert len(limbic) == 10 and nearest == list(SUBNETWORK_DMN)
    sub = subnetwork_table(atlas["full"], atlas["sets"])
    assert sub["role"].tolist() == ["limbic"] * 10 + ["dmn"] * 8
    assert sub.loc[sub["role"] == "dmn", "region"].tolist() == [f"Gordon_{p}" for p in SUBNETWORK_DMN]
    assert set(sub.loc[sub["role"] == "limbic", "region"]) == {f"Seitzman_{i - 1000}" for i in atlas["sets"]["limbic"]}
    assert (sub.loc[sub["role"] == "dmn", "network"] == "Default").all()
    assert subnetwork_pair_fraction(atlas["full"], atlas["sets"]) == pytest.approx(28 / 820)  # 8 of 41 DMN parcels


@pytest.mark.parametrize("z_dmn, z_limbic, z_sub", [(0.47, 0.42, 0.2), (0.35, 0.30, 0.2), (0.35, 0.27, 0.05),
                                                    (0.6, 0.5, -0.1)])
def test_mixing_weights_give_the_planted_correlations_by_hand(z_dmn, z_limbic, z_sub):
    f = 28 / 820
    m = subnetwork_mixing(z_dmn, z_limbic, z_sub, f)
    a, h, a_l, mu = m["a"], m["h"], m["a_l"], m["mu"]
    assert m["z"] == pytest.approx(z_sub) and m["own"] ** 2 + h**2 == pytest.approx(1.0)
    var_dmn, var_limbic = 1 + a * a, 1 + a_l**2 + mu**2  # the subnetwork's DMN parcels: a^2 + h^2 + own^2
    z_rest = np.arctanh(a * a / var_dmn)  # every DMN pair outside the subnetwork, and sgACC x any DMN parcel
    z_pairs = np.arctanh((a * a + h * h) / var_dmn)  # pairs of the subnetwork's DMN parcels
    assert z_pairs - z_rest == pytest.approx(SUBNETWORK_DMN_EXCESS)
    assert f * z_pairs + (1 - f) * z_rest == pytest.approx(z_dmn)  # the within-DMN mean keeps its target
    assert np.arctanh((a_l**2 + mu**2) / var_limbic) == pytest.approx(z_limbic)
    assert var_limbic == pytest.approx(1 + mixing_weight(z_limbic) ** 2)
    assert np.arctanh(mu * h / np.sqrt(var_limbic * var_dmn)) == pytest.approx(z_sub)
    b = sgacc_weight(0.2, a)
    assert np.arctanh(a * b / np.sqrt(var_dmn * (1 + b * b))) == pytest.approx(0.2)


def test_a_coupling_beyond_the_model_is_clipped_and_reported():
    weak = subnetwork_mixing(0.35, 0.05, 0.2, 28 / 820)  # limbic FC too weak to carry a z = 0.2 coupling
    assert 0 < weak["z"] < 0.2 and weak["a_l"] == pytest.approx(0.0, abs=1e-7)
    assert np.arctanh(weak["mu"] ** 2 / (1 + weak["mu"] ** 2)) == pytest.approx(0.05)  # limbic target kept
    assert subnetwork_mixing(0.35, 0.30, 0.0, 28 / 820)["mu"] == 0.0


def test_design_plants_the_decrease_in_every_patient_and_nothing_under_null():
    eff = Effects()
    study = make_study(seed=3)
    t = study.targets.set_index(["participant_id", "session_id"])[SUB]
    for pid, sessions in study.sessions.items():
        values = [t[(pid, f"ses-{s}")] for s in sessions]
        if pid.startswith("sub-P") and "post" in sessions:
            assert values[-1] - values[0] == pytest.approx(-eff.limbic_dmn_decrease)
            values = values[:-1]
        assert len(set(values)) == 1  # pre1 = pre2, and controls never change
    assert (study.targets.loc[study.targets["session_id"] != "ses-post", SUB] == LIMBIC_DMN_FC).all()
    null = make_study(seed=3, effects=Effects.null()).targets
    assert Effects.null().limbic_dmn_decrease == 0.0
    assert (null.groupby("participant_id")[SUB].nunique() == 1).all()
    # the subnetwork draws nothing: the other targets are those of a study without it
    other = make_study(seed=3, effects=Effects(limbic_dmn_decrease=0.3)).targets
    pd.testing.assert_frame_equal(other.drop(columns=SUB), study.targets.drop(columns=SUB))


@pytest.fixture(scope="module")
def measured(atlas):
    """Planted (a patient's pre1 and post targets), the subnetwork change alone, and null (independent streams)."""
    planted, null = _patient_targets(Effects()), _patient_targets(Effects.null())
    alone = dict(planted["pre1"], **{SUB: planted["post"][SUB]})
    sessions = {"pre": (planted["pre1"], 0), "post": (planted["post"], 0), "alone": (alone, 0),
                "null_pre": (null["pre1"], 0), "null_post": (null["post"], 100)}
    rows, first = [], {}
    for k in range(N_REPEATS):
        for name, (targets, offset) in sessions.items():
            x = region_signals(np.random.default_rng(k + offset), atlas["table"], atlas["sets"], targets, N_FRAMES,
                               TR)
            rows.append({"repeat": k, "session": name, **_measures(x, atlas["idx"])})
            if k == 0:
                first[name] = x
    return {"table": pd.DataFrame(rows).set_index(["session", "repeat"]), "first": first, "planted": planted,
            "null": null}


def _change(measured, a, b):
    t = measured["table"]
    return t.loc[b] - t.loc[a]


def test_planted_changes_come_back_and_the_network_means_keep_their_targets(measured):
    t, planted = measured["table"], measured["planted"]
    change = _change(measured, "pre", "post").mean()
    for m in ("dmn", "sgacc_dmn", "limbic", "visual", SUB):
        assert change[m] == pytest.approx(planted["post"][m] - planted["pre1"][m], abs=0.02), m
        for ses, key in (("pre", "pre1"), ("post", "post")):
            assert t.loc[ses][m].mean() == pytest.approx(planted[key][m], abs=0.03), (m, ses)
    assert change[SUB] == pytest.approx(-Effects().limbic_dmn_decrease, abs=0.02)
    assert abs(t.loc["pre"]["limbic_other_dmn"].mean()) < 0.02  # limbic regions couple to the subnetwork only
    excess = t.loc["pre"]["subnetwork_dmn_pairs"] - t.loc["pre"]["other_dmn_pairs"]
    assert excess.mean() == pytest.approx(SUBNETWORK_DMN_EXCESS, abs=0.05)


def test_the_subnetwork_change_alone_moves_only_the_limbic_dmn_edges(measured, atlas):
    change = _change(measured, "pre", "alone").mean()
    assert change[SUB] == pytest.approx(-Effects().limbic_dmn_decrease, abs=0.02)
    assert abs(change["limbic"]) < 0.01 and abs(change["limbic_other_dmn"]) < 0.02
    # same stream, same DMN target: every signal but the limbic regions' is the same
    pre, alone, limbic = measured["first"]["pre"], measured["first"]["alone"], atlas["idx"]["limbic"]
    others = np.setdiff1d(np.arange(pre.shape[1]), limbic)
    np.testing.assert_array_equal(pre[:, others], alone[:, others])
    assert not np.allclose(pre[:, limbic], alone[:, limbic])


def test_null_plants_no_subnetwork_difference(measured):
    null = measured["null"]
    assert null["pre1"][SUB] == null["post"][SUB]
    change = _change(measured, "null_pre", "null_post")  # independent streams: sampling noise only
    assert abs(change[SUB].mean()) < 3 * change[SUB].std() / np.sqrt(N_REPEATS) + 0.01
    assert abs(change[SUB].mean()) < 0.04
    assert measured["table"].loc["null_pre"][SUB].mean() == pytest.approx(null["pre1"][SUB], abs=0.03)


def _study_edges(atlas, effects, seed, n_frames=240):
    """Fisher-z edges of every patient session of a simulated study (region signals at TR 2 s), and its design."""
    study = make_study(seed=seed, effects=effects)
    t = study.targets[study.targets["participant_id"].str.startswith("sub-P")]
    rng = np.random.default_rng(seed)
    iu = np.triu_indices(len(atlas["table"]), 1)
    Z = [np.arctanh(np.corrcoef(region_signals(rng, atlas["table"], atlas["sets"], row, n_frames, 2.0).T)[iu])
         for _, row in t.iterrows()]
    time_ = (t["session_id"] == "ses-post").to_numpy(float)
    X = np.column_stack([np.ones(len(t)), time_, time_ * (t["responder"].astype(str) == "True")])
    return np.array(Z), X, pd.factorize(t["participant_id"])[0], iu


@pytest.mark.parametrize("effects", ["planted", "null"])
def test_nbs_recovers_the_planted_subnetwork_and_finds_nothing_under_null(atlas, effects):
    """The group level's NBS of time (sessions permuted within participants, |t| > 3) on a simulated study:
    planted, a negative component holds most limbic-DMN subnetwork edges and almost no limbic edge to the other
    DMN parcels (nothing planted there); under null (same seed) no component reaches p_FWE < .05."""
    from ketamine_fc.core.stats.edgewise import fit_edges
    from ketamine_fc.core.stats.nbs import WithinParticipantT, nbs

    Z, X, groups, iu = _study_edges(atlas, Effects() if effects == "planted" else Effects.null(), seed=5)
    terms = ["intercept", "time", "time:response"]
    fits = fit_edges(Z, X, groups, term_names=terms, method="ml", df_method="residual")
    stat = WithinParticipantT(Z, X, groups, term_names=terms, term="time", fits=fits, method="ml", threshold=3.0,
                              n_perm=100, seed=0)
    res = nbs(fits.t[fits.term("time")], stat, 100, threshold=3.0)
    found = set()
    for c in res.components:
        if c.p < 0.05:
            assert c.sign < 0  # FC only falls
            found |= {(int(iu[0][e]), int(iu[1][e])) for e in c.edges}
    idx = atlas["idx"]

    def pairs(a, b):
        return {(min(x, y), max(x, y)) for x in a for y in b}

    planted, control = pairs(idx["sub_limbic"], idx["sub_dmn"]), pairs(idx["sub_limbic"], idx["other_dmn"])
    if effects == "null":
        assert not found
        return
    assert len(found & planted) >= 0.6 * len(planted), (len(found & planted), len(planted))
    assert len(found & control) <= 0.02 * len(control), (len(found & control), len(control))
    # what else the components hold changes by design: within-limbic, within-DMN and sgACC-DMN edges
    changed = planted | pairs(idx["limbic"], idx["limbic"]) | pairs(idx["dmn"] + idx["sgacc"], idx["dmn"] + idx["sgacc"])
    assert len(found - changed) <= 0.05 * len(found), sorted(found - changed)[:10]
