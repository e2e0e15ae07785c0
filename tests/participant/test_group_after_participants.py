"""Participant then group level through the CLI: a strategy without regressors runs, the group report carries the
participant-level settings (with the template-mismatch warning), and a rerun sees changed participant outputs."""

import subprocess
import sys

import pandas as pd
import pytest

from ketamine_fc.utils.derivatives import read_tsv

from builder import make_dataset

pytestmark = pytest.mark.slow


def _cli(*args):
    proc = subprocess.run([sys.executable, "-m", "ketamine_fc", *map(str, args)], capture_output=True, text=True,
                          timeout=600)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


@pytest.fixture(scope="module")
def study(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("after")
    bids = root / "bids"
    subjects = ["01", "02", "03", "04"]
    make_dataset(bids, shared_data, {s: {"pre1": [[]], "post": [[]]} for s in subjects}, seed=6, n_frames=60,
                 space="MNI152NLin2009cAsym")
    (bids / "phenotype").mkdir()
    pd.DataFrame({"participant_id": [f"sub-{s}" for s in subjects] * 2,
                  "timepoint": ["baseline"] * 4 + ["week2"] * 4,
                  "madrs": [30, 30, 30, 30, 10, 12, 25, 28]}).to_csv(bids / "phenotype" / "madrs.tsv", sep="\t",
                                                                    index=False)
    out = root / "out"
    proc = _cli(bids, out, "participant", "-w", root / "work", "--space", "MNI152NLin2009cAsym",
                "--allow-template-mismatch", "--nuisance-regressors", "none", "--min-frames", "20", "--nprocs", "2")
    return {"root": root, "bids": bids, "out": out, "participant": proc}


def test_no_regressors_runs(study):
    assert study["participant"].returncode == 0, study["participant"].stderr
    design = read_tsv(next(study["out"].rglob("sub-01_ses-pre1_task-rest_run-1_desc-design_timeseries.tsv")))
    assert list(design.columns) == ["frame"] and len(design) == 60


def test_group_report_carries_the_participant_settings_and_sees_reruns(study):
    proc = _cli(study["bids"], study["out"], "group", "-w", study["root"] / "work", "--nbs-permutations", "100")
    assert proc.returncode == 0, proc.stderr
    report = (study["out"] / "group" / "report.html").read_text()
    assert "Participant-level settings" in report
    assert "were used on BOLD in MNI152NLin2009cAsym without a template-to-template transform" in report
    citation = (study["out"] / "logs" / "CITATION.md").read_text()
    assert "## Participant level" in citation and "## Group level" in citation
    # a participant-level output changes (a rerun of that participant): the group level must see it
    measures = next(study["out"].rglob("sub-01_ses-post_*_desc-network_measures.tsv"))
    table = read_tsv(measures)
    table.loc[0, "dmn"] = 9.99
    table.to_csv(measures, sep="\t", index=False, na_rep="n/a")
    assert _cli(study["bids"], study["out"], "group", "-w", study["root"] / "work", "--nbs-permutations", "100").returncode == 0
    gathered = read_tsv(study["out"] / "group" / "network_fc.tsv").set_index(["participant_id", "session_id"])
    assert gathered.loc[("sub-01", "ses-post"), "dmn"] == 9.99
