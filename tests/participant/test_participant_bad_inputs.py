"""Bad inputs: one clear message naming the file and the problem, and the other participants still complete."""

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.cli.run import main
from ketamine_fc.utils.derivatives import read_tsv

from builder import make_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def broken(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("bad")
    bids = root / "bids"
    subjects = ["good", "noconf", "short", "nan", "t1w", "moving"]
    info = make_dataset(bids, shared_data, {s: {"pre1": [[]]} for s in subjects}, seed=3, n_frames=60)
    fmriprep = info["fmriprep"]

    def func(sub):
        return fmriprep / f"sub-{sub}" / "ses-pre1" / "func"

    (func("noconf") / "sub-noconf_ses-pre1_task-rest_run-1_desc-confounds_timeseries.tsv").unlink()
    short = func("short") / "sub-short_ses-pre1_task-rest_run-1_desc-confounds_timeseries.tsv"
    pd.read_csv(short, sep="\t").iloc[:50].to_csv(short, sep="\t", index=False, na_rep="n/a")
    nan = func("nan") / "sub-nan_ses-pre1_task-rest_run-1_desc-confounds_timeseries.tsv"
    df = pd.read_csv(nan, sep="\t")
    df.loc[20, "white_matter"] = np.nan
    df.to_csv(nan, sep="\t", index=False, na_rep="n/a")
    for path in func("t1w").iterdir():
        path.rename(path.with_name(path.name.replace("space-MNI152NLin6Asym_res-3", "space-T1w")))
    moving = func("moving") / "sub-moving_ses-pre1_task-rest_run-1_desc-confounds_timeseries.tsv"
    df = pd.read_csv(moving, sep="\t")
    df["framewise_displacement"] = 0.5
    df.to_csv(moving, sep="\t", index=False, na_rep="n/a")
    out = root / "out"
    return {"root": root, "bids": bids, "out": out, "func": func}


@pytest.fixture(scope="module")
def run_all(broken):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "ketamine_fc", str(broken["bids"]), str(broken["out"]), "participant",
           "-w", str(broken["root"] / "work"), "--min-frames", "20",
           "--participant-label", "good", "noconf", "short", "nan", "t1w", "moving", "ghost"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return proc


def test_exit_code_is_failure_but_good_participant_completes(broken, run_all):
    assert run_all.returncode == 1
    measures = list((broken["out"] / "sub-good").rglob("*_desc-network_measures.tsv"))
    assert len(measures) == 1 and bool(read_tsv(measures[0]).loc[0, "included"])


@pytest.mark.parametrize("sub,pattern", [
    ("noconf", r"sub-noconf_ses-pre1_task-rest_run-1_space-MNI152NLin6Asym_res-3_desc-preproc_bold\.nii\.gz: the "
               r"confounds file is missing"),
    ("short", r"sub-short_ses-pre1_task-rest_run-1_desc-confounds_timeseries\.tsv: the confounds file has 50 rows "
              r"but the BOLD series has 60 frames"),
    ("nan", r"sub-nan_ses-pre1_task-rest_run-1_desc-confounds_timeseries\.tsv: .*white_matter.*"),
    ("t1w", r"sub-t1w has no preprocessed 'rest' BOLD in space MNI152NLin6Asym \(spaces found: T1w\)"),
    ("moving", r"sub-moving_ses-pre1_task-rest_run-1_space-MNI152NLin6Asym_res-3_desc-preproc_bold\.nii\.gz: every "
               r"frame is censored"),
    ("ghost", r"participant sub-ghost does not exist"),
])
def test_one_clear_message_per_problem(run_all, sub, pattern):
    import re

    lines = [ln for ln in run_all.stderr.splitlines() if re.search(pattern, ln)]
    assert len(lines) == 1, run_all.stderr
    assert "Traceback" not in run_all.stderr


def test_all_censored_session_written_with_included_false(broken, run_all):
    measures = list((broken["out"] / "sub-moving").rglob("*_desc-network_measures.tsv"))
    assert len(measures) == 1
    row = read_tsv(measures[0]).iloc[0]
    assert not bool(row["included"]) and row["n_frames"] == 0 and np.isnan(row["dmn"])
    qc = list((broken["out"] / "sub-moving").rglob("*_qc.tsv"))
    assert qc


def test_nothing_written_for_rejected_participants(broken, run_all):
    for sub in ("noconf", "short", "nan", "t1w"):
        assert not (broken["out"] / f"sub-{sub}").exists()
