"""What ``ketamine-fc-simulate`` writes: BIDS that pybids indexes, fMRIPrep-style derivatives the participant
level reads, FreeSurfer stats the group level reads, byte-identical output for a seed, atomic refusals."""

import json
import re

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from ketamine_fc.cli.simulate import main
from ketamine_fc.simulate.writer import grid

N_FRAMES = 60
ARGS = ["--n-patients", "2", "--n-controls", "1", "--n-frames", str(N_FRAMES), "--resolution", "4", "--seed", "7",
        "--tr", "1.5"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory, atlas_dir):
    root = tmp_path_factory.mktemp("sim")
    codes = [main([str(root / "a"), *ARGS, "--atlas-dir", str(atlas_dir)]),
             main([str(root / "b"), *ARGS, "--atlas-dir", str(atlas_dir), "--nprocs", "2"])]
    return {"root": root, "bids": root / "a", "copy": root / "b", "codes": codes,
            "fmriprep": root / "a" / "derivatives" / "fmriprep", "atlas_dir": atlas_dir}


def _tsv(path):
    return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)


def test_exit_codes(sim):
    assert sim["codes"] == [0, 0]


def test_raw_dataset_validates_and_indexes_with_pybids(sim):
    from bids import BIDSLayout

    raw = BIDSLayout(str(sim["bids"]), validate=True)
    assert sorted(raw.get_subjects()) == ["C01", "P01", "P02"]
    desc = json.loads((sim["bids"] / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "raw" and desc["BIDSVersion"]
    parts = _tsv(sim["bids"] / "participants.tsv")
    assert list(parts.columns) == ["participant_id", "group", "age", "sex"]
    assert parts.set_index("participant_id")["group"].to_dict() == {"sub-P01": "patient", "sub-P02": "patient",
                                                                    "sub-C01": "control"}
    sessions = _tsv(sim["bids"] / "sub-P01" / "sub-P01_sessions.tsv")
    assert sessions["session_id"].str.match(r"ses-(pre\d|post)$").all()


def test_derivatives_index_with_the_right_entities(sim):
    from bids import BIDSLayout

    layout = BIDSLayout(str(sim["bids"]), validate=True, derivatives=True)
    common = {"subject": "P01", "session": "pre1", "task": "rest", "run": 1, "return_type": "filename"}
    bold = layout.get(**common, space="MNI152NLin6Asym", res="4", desc="preproc", suffix="bold",
                      extension=".nii.gz", scope="derivatives")
    mask = layout.get(**common, space="MNI152NLin6Asym", desc="brain", suffix="mask", extension=".nii.gz",
                      scope="derivatives")
    conf = layout.get(**common, desc="confounds", suffix="timeseries", extension=".tsv", scope="derivatives")
    assert len(bold) == len(mask) == len(conf) == 1
    assert layout.get_metadata(bold[0])["RepetitionTime"] == 1.5
    desc = json.loads((sim["fmriprep"] / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["GeneratedBy"][0]["Name"] == "ketamine-fc-simulate"


def test_the_participant_level_collects_and_reads_every_run(sim):
    from ketamine_fc.core.confounds import read_confounds, select_nuisance
    from ketamine_fc.config import DenoiseParams
    from ketamine_fc.utils.bids import collect_runs
    from ketamine_fc.utils.checks import check_run

    found = collect_runs(sim["fmriprep"])
    assert not found.problems
    for run in found.runs:
        check_run(run, DenoiseParams())  # headers, grids, repetition time and confounds all pass the plan's checks
    expected = {(p[4:], s[4:]) for p, ss in _sessions(sim["bids"]).items() for s in ss}
    assert {(r.subject, r.session) for r in found.runs} == expected
    run = found.runs[0]
    assert run.tr == 1.5 and run.n_frames == N_FRAMES and run.res == "4" and run.space == "MNI152NLin6Asym"
    conf = read_confounds(run.confounds)
    for strategy in ("36P", "24P", "27P", "acompcor"):
        assert select_nuisance(conf, strategy, run.confounds).notna().all().all()


def _sessions(bids):
    return {p.name: _tsv(p / f"{p.name}_sessions.tsv")["session_id"].tolist() for p in sorted(bids.glob("sub-*"))}


def test_images_on_the_mni_grid(sim):
    shape, affine = grid(4)
    func = sim["fmriprep"] / "sub-P02" / "ses-pre1" / "func"
    stem = "sub-P02_ses-pre1_task-rest_run-1_space-MNI152NLin6Asym_res-4"
    bold = nb.load(func / f"{stem}_desc-preproc_bold.nii.gz")
    mask = nb.load(func / f"{stem}_desc-brain_mask.nii.gz")
    ref = nb.load(func / f"{stem}_boldref.nii.gz")
    assert bold.shape == shape + (N_FRAMES,) and bold.get_data_dtype() == np.int16
    assert bold.header.get_zooms() == pytest.approx((4.0, 4.0, 4.0, 1.5))
    for img in (bold, mask, ref):
        np.testing.assert_allclose(img.affine, affine)
        assert nb.aff2axcodes(img.affine) == ("L", "A", "S")
    inside = np.asarray(mask.dataobj) > 0
    data = bold.get_fdata(dtype=np.float32)
    assert set(np.unique(np.asarray(mask.dataobj))) == {0, 1}
    assert (data[~inside] == 0).all() and (data[inside].std(axis=1) > 1).all()
    np.testing.assert_allclose(np.asarray(ref.dataobj)[inside], data[inside][:, 2:].mean(axis=1), atol=0.05)


def test_fd_above_threshold_exactly_at_the_planted_bursts(sim):
    spikes = _tsv(sim["bids"] / "derivatives" / "simulation_spikes.tsv")
    for conf_path in sorted(sim["fmriprep"].glob("sub-*/ses-*/func/*_desc-confounds_timeseries.tsv")):
        sub, ses = re.match(r"(sub-\w+?)_(ses-\w+?)_", conf_path.name).groups()
        conf = _tsv(conf_path)
        assert len(conf) == N_FRAMES and np.isnan(conf.loc[0, "framewise_displacement"])
        planted = spikes.query("participant_id == @sub and session_id == @ses")["frame"].tolist()
        assert np.flatnonzero(conf["framewise_displacement"].to_numpy() > 0.2).tolist() == sorted(planted)
        assert len(planted) >= 6
        meta = json.loads(conf_path.with_suffix(".json").read_text())
        assert meta["w_comp_cor_00"]["Mask"] == "WM" and meta["c_comp_cor_00"]["Mask"] == "CSF"


def test_phenotype_tables_with_sidecars(sim):
    pheno = sim["bids"] / "phenotype"
    required = {"madrs": ["participant_id", "timepoint", "madrs"], "cgi": ["participant_id", "timepoint", "cgi_i"],
                "bprs": ["participant_id", "timepoint", "bprs_positive"],
                "ketamine_levels": ["participant_id", "ketamine_r", "ketamine_s", "norketamine_r", "norketamine_s"],
                "side_effects": ["participant_id", "dissociation", "nausea"]}
    for name, columns in required.items():
        table = _tsv(pheno / f"{name}.tsv")
        assert list(table.columns) == columns
        meta = json.loads((pheno / f"{name}.json").read_text())
        assert set(columns) <= set(meta) and all(meta[c]["Description"] for c in columns)
        assert set(table["participant_id"]) <= {"sub-P01", "sub-P02"}
    madrs = _tsv(pheno / "madrs.tsv")
    assert set(madrs["timepoint"]) <= {"baseline", "day1", "week2", "week4", "week6", "week8"}


def test_aseg_stats_in_freesurfer_format(sim):
    from ketamine_fc.group.inputs import parse_aseg

    path = sim["fmriprep"] / "sourcedata" / "freesurfer" / "sub-P01" / "stats" / "aseg.stats"
    text = path.read_text()
    etiv = re.search(r"^# Measure EstimatedTotalIntraCranialVol, eTIV, Estimated Total Intracranial Volume, "
                     r"([\d.]+), mm\^3$", text, re.M)
    assert etiv and 1.0e6 < float(etiv.group(1)) < 2.0e6
    rows = {line.split()[4]: float(line.split()[3]) for line in text.splitlines() if not line.startswith("#")}
    assert set(rows) == {f"{side}-{s}" for side in ("Left", "Right") for s in ("Hippocampus", "Amygdala",
                                                                                "Accumbens-area")}
    assert 2500 < rows["Right-Hippocampus"] < 6000 and 200 < rows["Left-Accumbens-area"] < 1200
    parsed = parse_aseg(path)
    assert parsed["hippocampus_r"] == rows["Right-Hippocampus"] and parsed["icv"] == float(etiv.group(1))


def test_truth_table_outside_the_fmriprep_folder(sim):
    truth = _tsv(sim["bids"] / "derivatives" / "simulation_truth.tsv")
    assert list(truth.columns) == ["participant_id", "session_id", "dmn", "sgacc_dmn", "limbic", "visual",
                                   "limbic_dmn_subnetwork", "responder"]
    assert len(truth) == sum(len(v) for v in _sessions(sim["bids"]).values())
    meta = json.loads((sim["bids"] / "derivatives" / "simulation_truth.json").read_text())
    assert meta["Seed"] == 7 and meta["Effects"]["limbic_decrease"] > 0
    assert meta["Effects"]["limbic_dmn_decrease"] == 0.15 and "limbic_dmn_subnetwork" in meta
    t = truth.set_index(["participant_id", "session_id"])["limbic_dmn_subnetwork"]
    for pid in ("sub-P01", "sub-P02"):
        if (pid, "ses-post") in t.index:
            assert t[(pid, "ses-post")] - t[(pid, "ses-pre1")] == pytest.approx(-0.15)


def test_subnetwork_regions_recorded_beside_the_truth(sim):
    from ketamine_fc.atlases import region_table
    from ketamine_fc.core.networks import label_to_index

    sub = _tsv(sim["bids"] / "derivatives" / "simulation_subnetwork.tsv")
    assert list(sub.columns[:3]) == ["region", "index", "role"]
    assert sub["role"].value_counts().to_dict() == {"limbic": 10, "dmn": 8}
    assert [label_to_index(r) for r in sub["region"]] == sub["index"].tolist()
    assert set(sub["region"]) <= set(region_table(sim["atlas_dir"])["label"])  # the FC matrices' labels
    assert sub.loc[sub["role"] == "dmn", "region"].tolist() == ["Gordon_1", "Gordon_26", "Gordon_127", "Gordon_152",
                                                               "Gordon_184", "Gordon_186", "Gordon_290", "Gordon_331"]
    meta = json.loads((sim["bids"] / "derivatives" / "simulation_subnetwork.json").read_text())
    assert set(meta["role"]["Levels"]) == {"limbic", "dmn"}


def test_effect_options_reach_the_truth(tmp_path, atlas_dir):
    args = ["--n-patients", "1", "--n-controls", "0", "--n-frames", "30", "--resolution", "4", "--seed", "3",
            "--effect-limbic-dmn-decrease", "0.1", "--atlas-dir", str(atlas_dir)]
    assert main([str(tmp_path / "f"), *args]) == 0
    meta = json.loads((tmp_path / "f" / "derivatives" / "simulation_truth.json").read_text())
    assert meta["Effects"]["limbic_dmn_decrease"] == 0.1
    t = _tsv(tmp_path / "f" / "derivatives" / "simulation_truth.tsv").set_index("session_id")["limbic_dmn_subnetwork"]
    assert t["ses-post"] - t["ses-pre1"] == pytest.approx(-0.1)


def test_same_seed_same_bytes_whatever_the_number_of_processes(sim):
    a, b = sim["bids"], sim["copy"]
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    bold = next(a.rglob("*_desc-preproc_bold.nii.gz")).relative_to(a)
    np.testing.assert_array_equal(np.asarray(nb.load(a / bold).dataobj), np.asarray(nb.load(b / bold).dataobj))


def test_another_seed_gives_other_data_and_runs_are_separate(sim, tmp_path):
    from ketamine_fc.utils.bids import collect_runs

    args = ARGS[:-4] + ["--seed", "8", "--tr", "1.5", "--n-controls", "0", "--n-runs", "2",
                        "--atlas-dir", str(sim["atlas_dir"])]
    assert main([str(tmp_path / "c"), *args]) == 0
    func = "derivatives/fmriprep/sub-P01/ses-pre1/func/sub-P01_ses-pre1_task-rest"
    run1, run2 = (f"{func}_run-{k}_desc-confounds_timeseries.tsv" for k in (1, 2))
    assert (tmp_path / "c" / run1).read_bytes() != (sim["bids"] / run1).read_bytes()
    assert (tmp_path / "c" / run1).read_bytes() != (tmp_path / "c" / run2).read_bytes()
    runs = collect_runs(tmp_path / "c" / "derivatives" / "fmriprep").runs
    assert sorted(str(r.run) for r in runs if (r.subject, r.session) == ("P01", "pre1")) == ["1", "2"]


def test_refuses_a_non_empty_folder_without_overwrite(sim, tmp_path, capsys):
    out = tmp_path / "d"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["--n-patients", "1", "--n-controls", "0", "--n-frames", "40", "--resolution", "4",
            "--atlas-dir", str(sim["atlas_dir"])]
    assert main([str(out), *args]) == 1
    err = capsys.readouterr().err
    assert str(out) in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "keep.txt").exists() and not (out / "participants.tsv").exists()
    assert main([str(out), *args, "--overwrite"]) == 0
    assert "[1/1] wrote sub-P01 (ses-pre1" in capsys.readouterr().out  # progress, one line per participant
    assert not (out / "keep.txt").exists() and (out / "participants.tsv").exists()
    assert not list(out.rglob("*.part"))  # atomic writes leave no temporary file


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    assert main([str(tmp_path / "e"), "--n-frames", "10"]) == 1
    assert "--n-frames" in capsys.readouterr().err
