"""--overwrite replaces only the sessions a run recomputes; a different resolution is a named problem."""

import json

import pytest

from ketamine_fc.cli.participant import check_previous_outputs
from ketamine_fc.config import Settings, replace
from ketamine_fc.errors import InputError
from ketamine_fc.plan import SessionPlan
from ketamine_fc.utils.bids import RunInputs, collect_runs

from builder import make_dataset


def _session_outputs(out, sub, ses, params):
    func = out / f"sub-{sub}" / f"ses-{ses}" / "func"
    func.mkdir(parents=True)
    stem = f"sub-{sub}_ses-{ses}_task-rest_space-MNI152NLin6Asym_seg-GordonSeitzman_desc-network_measures"
    (func / f"{stem}.tsv").write_text("participant_id\tsession_id\n")
    (func / f"{stem}.json").write_text(json.dumps({"Parameters": params}))
    return func


def test_overwrite_replaces_only_the_recomputed_sessions(tmp_path):
    settings = Settings(bids_dir=tmp_path / "bids", output_dir=tmp_path / "out", analysis_level="participant")
    old = dict(settings.parameters(), fd_thresh=0.5)
    pre1 = _session_outputs(settings.output_dir, "01", "pre1", old)
    post = _session_outputs(settings.output_dir, "01", "post", old)
    run = RunInputs({"subject": "01", "session": "pre1", "task": "rest"}, "b.nii.gz", "m.nii.gz", "c.tsv", tr=2.0)
    planned = [SessionPlan("01", "pre1", [run], 240)]  # e.g. --session-label pre1
    with pytest.raises(InputError, match=r"fd_thresh: 0.5 -> 0.2.*--overwrite"):
        check_previous_outputs(settings, planned)
    assert pre1.exists() and post.exists()
    check_previous_outputs(replace(settings, overwrite=True), planned)
    assert not pre1.parent.exists() and post.exists()


def test_a_resolution_a_participant_lacks_is_a_named_problem(tmp_path, shared_data):
    info = make_dataset(tmp_path / "bids", shared_data, {"01": {"pre1": [[]]}}, seed=2, n_frames=20)
    found = collect_runs(info["fmriprep"], res="2")
    assert not found.runs and len(found.problems) == 1
    assert found.problems[0].line() == ("sub-01_ses-pre1_task-rest_run-1: no BOLD at res-2 in space MNI152NLin6Asym "
                                        "(resolutions found: 3); pick one of them with --space MNI152NLin6Asym:res-N")
    assert len(collect_runs(info["fmriprep"], res="3").runs) == 1
