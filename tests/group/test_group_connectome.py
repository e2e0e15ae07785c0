"""Whole-connectome group statistics wired to the participant outputs: edge-wise LME, BH FDR, NBS, seed maps."""

import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from ketamine_fc.config import GroupParams
from ketamine_fc.core.stats.lme import fit_random_intercept
from ketamine_fc.group.analyses import run_group_analyses
from ketamine_fc.group.connectome import connectome_tables
from ketamine_fc.group.inputs import load_group_inputs
from ketamine_fc.group.outputs import write_group_tables

from test_group_qc import LABELS, PATIENTS, PLANTED, _edges_by_hand, write_study

PARAMS = dict(nbs_permutations=200, nbs_threshold=3.0, seed=7)
PLANTED_DROP = 1.0  # Fisher z, in every patient


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("connectome")
    bids, out, sessions = write_study(root)
    (table,) = (out / "atlases").glob("*_dseg.tsv")  # two limbic regions: seeds of the seed maps
    atlas = pd.read_csv(table, sep="\t")
    atlas["limbic_role"] = ["", "", "", "", "amygdala", "hippocampus_ant", "", ""]
    atlas.to_csv(table, sep="\t", index=False)
    for rel in out.glob("sub-P*/ses-post/func/*_desc-fisherz_relmat.tsv"):  # planted: FC falls after treatment
        z = pd.read_csv(rel, sep="\t", index_col=0, na_values="n/a")
        for a, b in PLANTED:
            z.loc[a, b] = z.loc[b, a] = z.loc[a, b] - PLANTED_DROP
        z.to_csv(rel, sep="\t", index_label="region", na_rep="n/a", float_format="%.10g")
    params = GroupParams(**PARAMS)
    inputs = load_group_inputs(bids, out, params)
    return {"out": out, "sessions": sessions, "params": params, "inputs": inputs,
            "tables": connectome_tables(inputs, params)}


def _design(sessions):
    """Patients' pre/post sessions, time and time x responder, built by hand (odd-numbered patients respond)."""
    pts = sessions[sessions["participant_id"].isin(PATIENTS)].reset_index(drop=True)
    time = (pts["session_id"] == "post").to_numpy(float)
    responder = np.array([PATIENTS.index(p) % 2 == 1 for p in pts["participant_id"]], float)
    return pts, np.column_stack([np.ones(len(pts)), time, time * responder])


def test_edge_tables_equal_per_edge_fits_on_files_read_independently(study):
    pts, X = _design(study["sessions"])
    Z = _edges_by_hand(study["out"], pts)
    edges = study["tables"]["connectome_time_edges"]
    assert list(edges.columns[:12]) == ["i", "j", "label_i", "label_j", "network_i", "network_j", "estimate", "se",
                                        "t", "df", "p", "q"]
    assert len(edges) == len(LABELS) * (len(LABELS) - 1) // 2
    for slug, term_row in (("time", 1), ("timexresponse", 2)):
        table = study["tables"][f"connectome_{slug}_edges"]
        for e in range(len(table)):
            ok = np.isfinite(Z[:, e])
            ref = fit_random_intercept(Z[ok, e], X[ok], pts["participant_id"].to_numpy()[ok],
                                       term_names=["intercept", "time", "time:response"], method="ml",
                                       df_method="residual").iloc[term_row]
            row = table.iloc[e]
            assert (row["label_i"], row["label_j"]) == (LABELS[row["i"]], LABELS[row["j"]])
            np.testing.assert_allclose([row["estimate"], row["se"], row["t"], row["df"], row["p"]],
                                       [ref["estimate"], ref["se"], ref["t"], ref["df"], ref["p"]], rtol=1e-6)
            assert row["n_obs"] == ok.sum()  # sub-P2 pre2 lacks R8: its edges have one session fewer
        np.testing.assert_allclose(table["q"], multipletests(table["p"], method="fdr_bh")[1], rtol=1e-12)


def test_planted_change_is_found_by_fdr_and_nbs(study):
    edges = study["tables"]["connectome_time_edges"]
    planted = {tuple(sorted(p)) for p in PLANTED}
    found = {tuple(sorted((r["label_i"], r["label_j"]))) for _, r in edges[edges["q"] < 0.05].iterrows()}
    assert planted <= found
    smallest = {tuple(sorted((r["label_i"], r["label_j"]))) for _, r in edges.nsmallest(2, "p").iterrows()}
    assert smallest == planted
    comps = study["tables"]["nbs_components"]
    time = comps[comps["term"] == "time"]
    assert set(time["sign"]) <= {"positive", "negative"} and (time["p_fwe"].between(0, 1)).all()
    assert (edges.set_index(["label_i", "label_j"]).loc[list(PLANTED), "t"] < -3).all()
    nbs_edges = study["tables"]["nbs_edges"]
    in_components = {tuple(sorted((r["label_i"], r["label_j"]))) for _, r in nbs_edges[nbs_edges["term"] ==
                                                                                       "time"].iterrows()}
    assert planted <= in_components


def test_rerun_is_identical_and_matrices_mirror_the_edges(study):
    again = connectome_tables(load_group_inputs(study["inputs"].sources["participants"].rsplit("/", 1)[0],
                                                study["out"], study["params"]), study["params"])
    pd.testing.assert_frame_equal(again["nbs_components"], study["tables"]["nbs_components"])
    t = study["tables"]["connectome_timexresponse_t"].set_index("region")
    edges = study["tables"]["connectome_timexresponse_edges"]
    for _, r in edges.sample(5, random_state=0).iterrows():
        assert t.loc[r["label_i"], r["label_j"]] == t.loc[r["label_j"], r["label_i"]] == r["t"]
    assert np.isnan(np.diag(t.to_numpy(float))).all()


def test_seed_maps_leave_the_seed_out_and_apply_fdr_within_each_seed(study):
    seeds = study["tables"]["seed_maps"]
    assert set(seeds["term"]) == {"time", "time:response"} and set(seeds["seed"]) == {"R5", "R6"}
    own = seeds[(seeds["seed"] == "R5") & (seeds["region"] == "R5")]
    assert own["t"].isna().all()
    for (seed, term), g in seeds.groupby(["seed", "term"]):
        assert len(g) == len(LABELS)
        ok = g["p"].notna()
        np.testing.assert_allclose(g.loc[ok, "q"], multipletests(g.loc[ok, "p"], method="fdr_bh")[1], rtol=1e-12)


def test_outputs_written_with_the_permutation_scheme_in_the_sidecar(study, tmp_path):
    params = GroupParams(**PARAMS)
    inputs = load_group_inputs(study["inputs"].sources["participants"].rsplit("/", 1)[0], study["out"], params)
    tables = run_group_analyses(inputs, params)
    paths = write_group_tables(tables, tmp_path, params, inputs)
    for name in ("connectome_time_edges", "connectome_timexresponse_edges", "connectome_time_t", "connectome_time_q",
                 "nbs_components", "nbs_edges", "seed_maps", "connectome_regions"):
        assert name in paths
    meta = json.loads((tmp_path / "group" / "nbs_components.json").read_text())
    scheme = meta["NBS"]["time"]["permutation"]
    assert "within" in scheme["name"] and scheme["seed"] == 7 and meta["NBS"]["time"]["n_perm"] == 200
    assert "between" in meta["NBS"]["time:response"]["permutation"]["name"]


def test_no_matrices_or_no_permutations_skip_with_a_reason(study):
    params = GroupParams(nbs_permutations=0)
    inputs = load_group_inputs(study["inputs"].sources["participants"].rsplit("/", 1)[0], study["out"], params)
    assert connectome_tables(inputs, params) == {} and "nbs-permutations 0" in inputs.skipped["connectome"]
