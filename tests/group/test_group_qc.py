"""Group-level QC: QC-FC from the participant-level whole-brain matrices and the motion comparisons.

A small study is written as participant-level outputs: 6 patients (pre1, pre2, post) and 5 controls (pre1), whole
Fisher-z matrices over 8 cubic regions of a synthetic atlas, FC of two edges planted to rise with mean FD, and
mean FD planted to rise after treatment. QC-FC is checked against scipy ``pearsonr`` / ``spearmanr`` on the
matrices read independently, the motion tests against scipy ``ttest_rel`` / ``ttest_ind``.
"""

import logging
import re
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ketamine_fc.config import GroupParams
from ketamine_fc.errors import InputError
from ketamine_fc.group.analyses import run_group_analyses
from ketamine_fc.group.inputs import load_group_inputs, session_table
from ketamine_fc.group.outputs import COLUMNS, DESCRIPTIONS, write_group_tables
from ketamine_fc.group.qc import motion, motion_sentence, qc_fc_tables
from ketamine_fc.reports.group_qc import HEADING, qc_section
from ketamine_fc.reports.qc_figures import qc_figure
from ketamine_fc.utils.derivatives import bids_path

LABELS = [f"R{k}" for k in range(1, 9)]
INDICES = [1, 2, 3, 4, 5, 6, 7, 9]  # atlas indices need not be consecutive
CORNERS = [(1, 1, 1), (1, 1, 5), (8, 2, 2), (8, 6, 2), (3, 9, 9), (9, 9, 9), (1, 9, 4), (5, 4, 8)]
AFFINE = np.array([[2.0, 0, 0, -20], [0, 2.0, 0, -30], [0, 0, 2.0, -10], [0, 0, 0, 1]])
PLANTED = [("R1", "R2"), ("R3", "R4")]
PATIENTS = [f"sub-P{i}" for i in range(1, 7)]
CONTROLS = [f"sub-C{i}" for i in range(1, 6)]
ENTITIES = {"task": "rest", "space": "MNI152NLin6Asym", "segmentation": "GordonSeitzman"}



def _centroids_mm():
    """Centroid of each 2 x 2 x 2 voxel cube in mm, by hand."""
    return {lab: AFFINE[:3, :3] @ (np.array(c) + 0.5) + AFFINE[:3, 3] for lab, c in zip(LABELS, CORNERS)}


def _write_atlas(out, res="2"):
    folder = out / "atlases"
    folder.mkdir(parents=True, exist_ok=True)
    data = np.zeros((12, 12, 12), np.int16)
    for index, (i, j, k) in zip(INDICES, CORNERS):
        data[i:i + 2, j:j + 2, k:k + 2] = index
    stem = f"atlas-GordonSeitzman_space-MNI152NLin6Asym_res-{res}_dseg"
    nib.save(nib.Nifti1Image(data, AFFINE), folder / f"{stem}.nii.gz")
    pd.DataFrame({"index": INDICES, "label": LABELS, "network": "Default"}).to_csv(folder / f"{stem}.tsv", sep="\t",
                                                                                    index=False)


def _sessions(rng):
    rows = []
    for p in PATIENTS:
        level = rng.gamma(6.0, 0.02)
        for ses, shift in (("pre1", 0.0), ("pre2", 0.0), ("post", 0.08)):  # motion planted to rise after treatment
            rows.append((p, ses, level + shift + rng.normal(0, 0.01), int(rng.integers(150, 200))))
    for c in CONTROLS:
        rows.append((c, "pre1", rng.gamma(6.0, 0.02), int(rng.integers(150, 200))))
    return pd.DataFrame(rows, columns=["participant_id", "session_id", "mean_fd", "n_frames"])


def write_study(root, seed=11):
    """BIDS phenotype and participant-level outputs of the small study; returns (bids, out, sessions)."""
    rng = np.random.default_rng(seed)
    bids, out = root / "bids", root / "out"
    (bids / "phenotype").mkdir(parents=True)
    pd.DataFrame({"participant_id": PATIENTS + CONTROLS,
                  "group": ["patient"] * len(PATIENTS) + ["control"] * len(CONTROLS)}).to_csv(
        bids / "participants.tsv", sep="\t", index=False)
    madrs = [(p, tp, score) for k, p in enumerate(PATIENTS)
             for tp, score in (("baseline", 30), ("week2", 10 if k % 2 else 25))]
    pd.DataFrame(madrs, columns=["participant_id", "timepoint", "madrs"]).to_csv(bids / "phenotype" / "madrs.tsv",
                                                                               sep="\t", index=False)
    sessions = _sessions(rng)
    excluded = pd.DataFrame([("sub-C1", "pre2", 0.9, 40)], columns=sessions.columns)
    n = len(LABELS)
    for k, row in pd.concat([sessions, excluded], ignore_index=True).iterrows():
        ents = {"subject": row["participant_id"].removeprefix("sub-"), "session": row["session_id"], **ENTITIES}
        included = k < len(sessions)
        measures = {"participant_id": row["participant_id"], "session_id": f"ses-{row['session_id']}",
                    "dmn": rng.normal(0.3, 0.05), "sgacc_dmn": rng.normal(0.1, 0.05), "limbic": rng.normal(0.3, 0.05),
                    "visual": rng.normal(0.4, 0.05), "n_frames": row["n_frames"], "mean_fd": row["mean_fd"],
                    "included": included, "exclusion_reason": "n/a" if included else "too few frames"}
        path = bids_path(out, {**ents, "desc": "network"}, "measures", ".tsv")
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([measures]).to_csv(path, sep="\t", index=False)
        z = rng.normal(0.3, 0.1, (n, n))
        for a, b in PLANTED:
            z[LABELS.index(a), LABELS.index(b)] += 4.0 * row["mean_fd"]
        z = np.triu(z, 1) + np.triu(z, 1).T
        z[np.diag_indices(n)] = np.nan if k % 2 else 8.4  # the diagonal is never used
        if row["participant_id"] == "sub-P2" and row["session_id"] == "pre2":
            z[LABELS.index("R8"), :] = z[:, LABELS.index("R8")] = np.nan  # a region lost to the mask
        if not included:
            z[:] = 5.0  # would dominate QC-FC if the excluded session were used
        rel = bids_path(out, {**ents, "stat": "pearsoncorrelation", "desc": "fisherz"}, "relmat", ".tsv")
        pd.DataFrame(z, index=LABELS, columns=LABELS).to_csv(rel, sep="\t", index_label="region", na_rep="n/a",
                                                             float_format="%.10g")
        decoy = bids_path(out, {**ents, "stat": "pearsoncorrelation", "desc": "limbicfisherz"}, "relmat", ".tsv")
        pd.DataFrame(np.zeros((2, 2)), index=LABELS[:2], columns=LABELS[:2]).to_csv(decoy, sep="\t",
                                                                                   index_label="region")
    _write_atlas(out)
    return bids, out, sessions


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("qc")
    bids, out, sessions = write_study(root)
    params = GroupParams()
    inputs = load_group_inputs(bids, out, params)
    return {"bids": bids, "out": out, "sessions": sessions, "params": params, "inputs": inputs,
            "tables": run_group_analyses(inputs, params), "root": root}


def _edges_by_hand(out, sessions):
    """Upper-triangle edges of every included session's matrix, read independently of the package."""
    rows = []
    for _, s in sessions.iterrows():
        (path,) = (out / s["participant_id"] / f"ses-{s['session_id']}" / "func").glob("*_desc-fisherz_relmat.tsv")
        m = pd.read_csv(path, sep="\t", index_col=0, na_values="n/a").loc[LABELS, LABELS].to_numpy()
        rows.append(m[np.triu_indices(len(LABELS), 1)])
    return np.array(rows)


def test_qc_fc_matches_scipy_and_flags_the_planted_edges(study):
    tables, sessions = study["tables"], study["sessions"]
    edges = tables["qc_fc_edges"]
    assert len(edges) == 28 and list(edges.columns) == ["index_i", "index_j", "label_i", "label_j", "distance_mm",
                                                        "n_sessions", "r", "p"]
    by_hand = _edges_by_hand(study["out"], sessions)
    fd = sessions["mean_fd"].to_numpy()
    cent = _centroids_mm()
    iu = np.triu_indices(len(LABELS), 1)
    for e, (i, j) in enumerate(zip(*iu)):
        row = edges.iloc[e]
        assert (row["label_i"], row["label_j"]) == (LABELS[i], LABELS[j])
        assert (row["index_i"], row["index_j"]) == (INDICES[i], INDICES[j])
        ok = np.isfinite(by_hand[:, e])
        ref = stats.pearsonr(by_hand[ok, e], fd[ok])
        assert row["n_sessions"] == ok.sum() == (22 if LABELS[j] == "R8" else 23)
        assert row["r"] == pytest.approx(ref.statistic, abs=1e-9) and row["p"] == pytest.approx(ref.pvalue, rel=1e-6)
        assert row["distance_mm"] == pytest.approx(np.linalg.norm(cent[LABELS[i]] - cent[LABELS[j]]))
    planted = edges[[(a, b) in PLANTED for a, b in zip(edges["label_i"], edges["label_j"])]]
    assert len(planted) == 2 and (planted["r"] > 0.7).all() and (planted["p"] < 1e-3).all()

    qc = tables["qc_fc"].set_index("sessions")
    assert list(qc.index) == ["all included sessions", "patients pre", "patients post", "controls"]
    top = qc.loc["all included sessions"]
    assert (top["n_sessions"], top["n_participants"], top["n_edges"]) == (23, 11, 28)
    assert top["pct_edges_p05"] == pytest.approx(100 * (edges["p"] < 0.05).mean())
    assert top["median_abs_r"] == pytest.approx(np.median(np.abs(edges["r"])))
    ref = stats.spearmanr(edges["r"], edges["distance_mm"])
    assert top["distance_rho"] == pytest.approx(ref.statistic) and top["distance_p"] == pytest.approx(ref.pvalue)
    assert top["mean_fd_sessions"] == pytest.approx(fd.mean())
    assert top["atlas"] == "atlas-GordonSeitzman_space-MNI152NLin6Asym_res-2_dseg.nii.gz" and top["atlas_grids"] == 1
    assert qc.loc["patients pre", "n_sessions"] == 12 and qc.loc["patients post", "n_sessions"] == 6
    assert qc.loc["controls", "n_sessions"] == 5 and qc.loc["controls", "n_participants"] == 5


def test_motion_matches_scipy_and_finds_the_planted_increase(study):
    sessions, table = study["sessions"], study["tables"]["motion"]
    assert list(table["contrast"].unique()) == ["patients post vs pre", "patients vs controls, baseline",
                                                "patients vs controls, post"]
    fc = sessions.assign(phase=np.where(sessions["session_id"] == "post", "post", "pre"))
    for m in ("mean_fd", "n_frames"):
        pts = fc[fc["participant_id"].str.startswith("sub-P")]
        pre = pts[pts["phase"] == "pre"].groupby("participant_id")[m].mean()
        post = pts[pts["phase"] == "post"].groupby("participant_id")[m].mean()
        ctl = fc[fc["participant_id"].str.startswith("sub-C")].groupby("participant_id")[m].mean()
        rows = table[table["motion_measure"] == m].set_index("contrast")
        paired = stats.ttest_rel(post, pre.reindex(post.index))
        got = rows.loc["patients post vs pre"]
        assert (got["n_1"], got["n_2"], got["df"]) == (6, 6, 5)
        assert got["t"] == pytest.approx(paired.statistic) and got["p"] == pytest.approx(paired.pvalue)
        assert got["mean_1"] == pytest.approx(post.mean()) and got["sd_2"] == pytest.approx(pre.std())
        for contrast, side in (("patients vs controls, baseline", pre), ("patients vs controls, post", post)):
            ref = stats.ttest_ind(side, ctl, equal_var=True)
            got = rows.loc[contrast]
            assert (got["n_1"], got["n_2"], got["df"]) == (6, 5, 9)
            assert got["t"] == pytest.approx(ref.statistic) and got["p"] == pytest.approx(ref.pvalue)
    fd = table[(table["motion_measure"] == "mean_fd") & (table["contrast"] == "patients post vs pre")].iloc[0]
    frames = table[(table["motion_measure"] == "n_frames") & (table["contrast"] == "patients post vs pre")].iloc[0]
    assert fd["p"] < 0.001 and fd["t"] > 0  # planted
    assert frames["p"] > 0.05  # not planted

    sentence = motion_sentence(table)
    assert sentence.startswith(f"Mean FD was higher in patients' post sessions than in their pre sessions "
                               f"({fd['mean_1']:.3f} vs {fd['mean_2']:.3f} mm, paired t(5) = {fd['t']:.2f}, p ")
    assert "Retained frames did not differ between patients' post sessions and their pre sessions" in sentence
    assert sentence.count(".") >= 6 and "nan" not in sentence
    assert motion_sentence(None) == "Motion was not compared."


def test_tables_are_written_with_described_columns(study, tmp_path):
    out = tmp_path / "out"
    paths = write_group_tables(study["tables"], out, study["params"], study["inputs"])
    for name in ("qc_fc", "qc_fc_edges", "motion"):
        assert name in DESCRIPTIONS and paths[name].exists()
        assert all(c in COLUMNS for c in study["tables"][name].columns), name
    assert "pooled" in DESCRIPTIONS["qc_fc"] and "Student" in DESCRIPTIONS["motion"]


def test_qc_section_renders_words_tables_and_an_embedded_figure(study, tmp_path):
    tables = study["tables"]
    png = qc_figure(tables["qc_fc_edges"], session_table(study["inputs"], study["params"]), tmp_path)
    assert png.stat().st_size > 1000 and png.with_suffix(".svg").exists()
    text = qc_section(tables, png)
    assert text.startswith(f'<section id="qc"><h2>{HEADING}</h2>')
    assert text.count('<img alt="QC-FC and motion" src="data:image/png;base64,') == 1
    assert "Mean FD was higher in patients&#x27; post sessions" in text
    assert re.search(r"Across 23 sessions of 11 participants \(repeated sessions pooled\), [\d.]+ % of 28 edges "
                     r"correlated with mean FD at p &lt; \.05 \(about 5 % expected by chance\); median \|r\| = "
                     r"[\d.]+; distance dependence rho = -?[\d.]+", text)
    assert "6 patients before treatment, 6 patients after treatment, 5 controls" in text
    assert text.count("<table>") == 2
    for bad in ("nan", "None", "<NA>", "NaN"):
        assert bad not in re.sub(r'src="data:[^"]+"', "", text), bad
    # missing pieces: no QC-FC, no figure; a motion row that cannot be tested shows n/a
    motion_rows = tables["motion"].copy()
    motion_rows.loc[0, ["t", "p", "sd_1"]] = np.nan
    partial = qc_section({"motion": motion_rows}, None)
    assert "QC-FC was not computed" in partial and "<img" not in partial and "n/a" in partial
    assert "could not be compared" in partial
    for bad in ("nan", "None", "<NA>", "NaN"):
        assert bad not in partial, bad


def test_figure_without_qc_fc_still_shows_motion(study, tmp_path):
    png = qc_figure(None, session_table(study["inputs"], study["params"]), tmp_path, name="no_qcfc")
    assert png.stat().st_size > 1000


def test_first_of_several_atlas_grids_is_used_and_counted(study, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(study["out"], out)
    _write_atlas(out, res="3")
    inputs = load_group_inputs(study["bids"], out, study["params"], quiet=True)
    qc = qc_fc_tables(inputs, study["params"])["qc_fc"].iloc[0]
    assert qc["atlas_grids"] == 2 and "res-2" in qc["atlas"]


def test_without_matrices_or_with_a_foreign_fc_table_qc_fc_is_skipped_and_motion_kept(study, tmp_path, caplog):
    out = tmp_path / "out"
    shutil.copytree(study["out"], out)
    for f in out.glob("sub-*/ses-*/func/*_desc-fisherz_relmat.tsv"):
        f.unlink()
    inputs = load_group_inputs(study["bids"], out, study["params"], quiet=True)
    with caplog.at_level(logging.WARNING, logger="ketamine_fc"):
        tables = run_group_analyses(inputs, study["params"])
    assert "qc_fc" not in tables and "qc_fc_edges" not in tables and "motion" in tables
    assert "no whole-brain FC matrices" in inputs.skipped["qc_fc"]
    assert not [r for r in caplog.records if "qc_fc" in r.getMessage()]  # listed in the report, not warned
    # an FC table given from elsewhere: the matrices are still found in the output folder
    fc_table = tmp_path / "fc.tsv"
    study["inputs"].fc_all.to_csv(fc_table, sep="\t", index=False)
    inputs = load_group_inputs(study["bids"], study["out"], study["params"], fc_table=fc_table, quiet=True)
    assert qc_fc_tables(inputs, study["params"])["qc_fc"].iloc[0]["n_sessions"] == 23
    assert len(motion(inputs, study["params"])) == 6


def test_too_few_sessions_and_mismatched_regions_are_reported(study, tmp_path):
    inputs, params = study["inputs"], study["params"]
    few = load_group_inputs(study["bids"], study["out"], params, quiet=True)
    few.fc = few.fc.head(2)
    with pytest.raises(ValueError, match="QC-FC needs at least 3"):
        qc_fc_tables(few, params)
    out = tmp_path / "out"
    shutil.copytree(study["out"], out)
    (path,) = (out / "sub-P3" / "ses-post" / "func").glob("*_desc-fisherz_relmat.tsv")
    pd.read_csv(path, sep="\t").rename(columns={"R5": "R99"}).replace({"R5": "R99"}).to_csv(path, sep="\t",
                                                                                          index=False, na_rep="n/a")
    other = load_group_inputs(study["bids"], out, params, quiet=True)
    with pytest.raises(InputError, match="other regions.*R99"):
        qc_fc_tables(other, params)
    assert len(inputs.fc) == 23  # the excluded session never enters


def test_without_an_atlas_qc_fc_is_computed_and_the_distance_dependence_is_na(study, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(study["out"], out)
    shutil.rmtree(out / "atlases")
    inputs = load_group_inputs(study["bids"], out, study["params"], quiet=True)
    tables = qc_fc_tables(inputs, study["params"])
    top = tables["qc_fc"].iloc[0]
    assert top["n_edges"] == 28 and np.isnan(top["distance_rho"]) and top["atlas"] == "n/a"
    assert tables["qc_fc_edges"]["distance_mm"].isna().all() and tables["qc_fc_edges"]["index_i"].isna().all()
    pd.testing.assert_series_equal(tables["qc_fc_edges"]["r"], study["tables"]["qc_fc_edges"]["r"])
    text = qc_section({**tables, "motion": study["tables"]["motion"]}, None)
    assert "distance dependence n/a" in text and "nan" not in text and "<NA>" not in text
