"""End to end: the CLI on synthetic fMRIPrep derivatives with planted FC and motion spikes."""

import json

import numpy as np
import pytest

from ketamine_fc.cli.run import main
from ketamine_fc.utils.derivatives import read_tsv

from builder import make_dataset

pytestmark = pytest.mark.slow

SPIKES_RUN1 = [30, 31, 70]
SPIKES_RUN2 = [45]
N_FRAMES = 120


@pytest.fixture(scope="module")
def processed(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("e2e")
    bids = root / "bids"
    design = {"01": {"pre1": [SPIKES_RUN1, SPIKES_RUN2]}, "02": {"post": [[]]}}
    info = make_dataset(bids, shared_data, design, seed=1, n_frames=N_FRAMES, n_dummy=2)
    out = root / "out"
    code = main([str(bids), str(out), "participant", "-w", str(root / "work"), "--min-frames", "100",
                 "--atlas-dir", str(shared_data / "atlases"), "--nprocs", "2"])
    return {"code": code, "out": out, "root": root, "bids": bids, **info}


def func(processed, sub, ses):
    return processed["out"] / f"sub-{sub}" / f"ses-{ses}" / "func"


def test_exit_code_and_dataset_description(processed):
    assert processed["code"] == 0
    desc = json.loads((processed["out"] / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["GeneratedBy"][0]["Name"] == "ketamine-fc"


def test_censored_frames_match_planted_spikes(processed):
    d = func(processed, "01", "pre1")
    run1 = read_tsv(d / "sub-01_ses-pre1_task-rest_run-1_outliers.tsv")
    dropped = set(np.flatnonzero(run1["retained"].to_numpy() == 0))
    # dummy frames 0-1; FD spikes at 30, 31 (the jump out) and 70; each spike moves the head twice
    # (out and back are both large FD: the spike frame and the next one)
    fd_outliers = set(np.flatnonzero(run1["fd_outlier"].to_numpy() == 1))
    assert set(SPIKES_RUN1) <= fd_outliers
    assert fd_outliers <= {s + k for s in SPIKES_RUN1 for k in (0, 1)}
    assert {0, 1} <= dropped
    assert fd_outliers <= dropped
    # nothing else dropped except short segments, of which there are none between these spikes
    assert dropped == fd_outliers | {0, 1}
    ts = read_tsv(d / "sub-01_ses-pre1_task-rest_run-1_space-MNI152NLin6Asym_seg-GordonSeitzman_stat-mean_timeseries.tsv")
    assert len(ts) == N_FRAMES - len(dropped)


def test_planted_networks_recovered(processed):
    d = func(processed, "01", "pre1")
    z = read_tsv(d / "sub-01_ses-pre1_task-rest_space-MNI152NLin6Asym_seg-GordonSeitzman_stat-pearsoncorrelation_desc-fisherz_relmat.tsv").set_index("region")
    table = processed["atlas"].table.set_index("index")
    dmn = table.loc[sorted(processed["sets"]["dmn"]), "label"]
    vis = table.loc[sorted(processed["sets"]["visual"]), "label"]
    within = z.loc[dmn, dmn].to_numpy()[np.triu_indices(len(dmn), 1)]
    between = z.loc[dmn, vis].to_numpy().ravel()
    assert np.nanmean(within) > 0.5
    # DMN and visual share nothing; global signal regression (36P) pushes them slightly negative
    assert abs(np.nanmean(between)) < 0.3 and np.nanmean(within) - np.nanmean(between) > 0.5
    measures = read_tsv(d / "sub-01_ses-pre1_task-rest_space-MNI152NLin6Asym_seg-GordonSeitzman_desc-network_measures.tsv")
    assert list(measures.columns[:9]) == ["participant_id", "session_id", "dmn", "sgacc_dmn", "limbic", "visual",
                                          "n_frames", "mean_fd", "included"]
    row = measures.iloc[0]
    assert row["participant_id"] == "sub-01" and row["session_id"] == "ses-pre1"
    assert row["dmn"] > 0.5 and row["limbic"] > 0.5 and row["visual"] > 0.5
    assert abs(row["sgacc_dmn"]) < 0.2  # sgACC parcels were given independent signals
    assert bool(row["included"])


def test_session_without_spikes_keeps_every_frame_but_the_dummies(processed):
    measures = read_tsv(func(processed, "02", "post") /
                        "sub-02_ses-post_task-rest_space-MNI152NLin6Asym_seg-GordonSeitzman_desc-network_measures.tsv")
    assert measures.loc[0, "n_frames"] == N_FRAMES - 2
    assert bool(measures.loc[0, "included"])


def test_every_output_has_a_sidecar_with_parameters(processed):
    files = sorted(p for p in processed["out"].rglob("sub-*/**/*") if p.suffix in (".tsv",))
    assert len(files) >= 2 * 4 + 2 * 5
    for path in files:
        meta = json.loads(path.with_suffix(".json").read_text())
        assert meta["GeneratedBy"][0]["Name"] == "ketamine-fc"
        assert meta["Parameters"]["fd_thresh"] == 0.2 and meta["Parameters"]["nuisance_regressors"] == "36P"
    atlas = list((processed["out"] / "atlases").glob("atlas-GordonSeitzman_space-MNI152NLin6Asym*_dseg.*"))
    assert {p.name.split("_dseg")[1] for p in atlas} == {".nii.gz", ".tsv", ".json"}


def test_rerun_with_same_work_dir_resumes(processed, shared_data):
    root = processed["root"]
    before = {p: p.stat().st_mtime for p in (root / "work").rglob("signals.npz")}
    code = main([str(processed["bids"]), str(processed["out"]), "participant", "-w", str(root / "work"),
                 "--min-frames", "100", "--atlas-dir", str(shared_data / "atlases")])
    assert code == 0
    after = {p: p.stat().st_mtime for p in (root / "work").rglob("signals.npz")}
    assert before and before == after  # the BOLD was not read again
