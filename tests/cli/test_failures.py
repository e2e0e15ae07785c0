"""After a run: one line per failure, and which sessions lost their outputs (a failed figure loses none)."""

import logging
from types import SimpleNamespace

from ketamine_fc.cli.participant import report_failures
from ketamine_fc.plan import ParticipantPlan, SessionPlan
from ketamine_fc.utils.bids import RunInputs
from ketamine_fc.utils.execution import NodeFailure


def _plan():
    sessions = []
    for ses in ("pre1", "post"):
        runs = [RunInputs({"subject": "01", "session": ses, "task": "rest", "run": str(r)}, f"{ses}{r}.nii.gz",
                          "mask.nii.gz", "conf.tsv", tr=2.0, n_frames=100, space="MNI152NLin6Asym") for r in (1, 2)]
        sessions.append(SessionPlan("01", ses, runs, 50))
    return ParticipantPlan(sessions)


def test_failed_outputs_and_failed_reports_are_told_apart(caplog):
    wf = "ketamine_fc_wf.sub_01_wf"
    failures = [
        NodeFailure(f"{wf}.ses_post_run_2_bold_wf.extract_signals", "post2.nii.gz: the BOLD image is not 4-D", ours=True),
        NodeFailure(f"{wf}.ses_post_run_2_bold_wf.denoise_signals", "post2.nii.gz: the BOLD image is not 4-D", ours=True),
        NodeFailure(f"{wf}.ses_pre1_run_1_run_report", "ValueError: bad figure"),
        NodeFailure(f"{wf}.participant_report", "KeyError: 'x'"),
    ]
    with caplog.at_level(logging.ERROR, logger="ketamine_fc"):
        failed, n_lines = report_failures(_plan(), failures, SimpleNamespace(log_file="LOG"))
    # the post session lost its outputs through run 2; pre1 kept its outputs, only its figure failed
    assert list(failed) == ["sub-01_ses-post"]
    assert [(run.label, msg) for run, msg in failed["sub-01_ses-post"]] == [
        ("sub-01_ses-post_task-rest_run-2", "post2.nii.gz: the BOLD image is not 4-D")]
    assert n_lines == 3  # the same message of the same run is printed once
    lines = [r.getMessage() for r in caplog.records]
    assert "sub-01_ses-pre1_task-rest_run-1: unexpected error while running 'ses pre1 run 1 run report' " \
           "(ValueError: bad figure); the traceback is in LOG" in lines
    assert any(line.startswith("sub-01: unexpected error while running 'participant report'") for line in lines)


def test_a_failed_atlas_fails_every_session_of_the_participant():
    failure = NodeFailure("ketamine_fc_wf.sub_01_wf.atlas_0_wf.build_atlas", "atlas.nii.gz: damaged", ours=True)
    failed, n_lines = report_failures(_plan(), [failure], SimpleNamespace(log_file="LOG"))
    assert sorted(failed) == ["sub-01_ses-post", "sub-01_ses-pre1"] and n_lines == 1
    assert failed["sub-01_ses-post"] == [(None, "atlas.nii.gz: damaged")]


def test_the_report_of_a_participant_with_a_failed_session(tmp_path):
    import re

    import pandas as pd

    from ketamine_fc.cli.parser import parse_args
    from ketamine_fc.cli.participant import WORKFLOW, write_reports_of_failed
    from ketamine_fc.workflows.outputs import session_output
    from ketamine_fc.workflows.participant import report_fragments

    settings = parse_args([str(tmp_path), str(tmp_path / "out"), "participant", "-w", str(tmp_path / "work")])
    plan = _plan()
    pre1, post = plan.sessions
    # pre1 computed and written, but its report fragment is missing (a figure failed); post failed in run 2
    measures = session_output(settings.output_dir, pre1.entities, "MNI152NLin6Asym", "measures", settings.atlas.atlas)
    measures.parent.mkdir(parents=True)
    pd.DataFrame([{"n_frames": 180, "mean_fd": 0.1, "included": True, "exclusion_reason": "n/a"}]).to_csv(
        measures, sep="\t", index=False)
    _, runs = report_fragments(settings.work_dir / WORKFLOW, "01", post)
    for i, path in enumerate(runs.values(), start=1):
        path.parent.mkdir(parents=True)
        path.write_text(f"<h4>Run run-{i} fragment</h4>")
    failed = {post.label: [(post.runs[1], "post2.nii.gz: the BOLD image is not 4-D")]}
    write_reports_of_failed(plan, failed, settings)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (settings.output_dir / "sub-01.html").read_text()))
    assert "Session ses-pre1 Report missing: computed and written, but its report section could not be drawn" in text
    assert "ses-pre1 180 0.1 yes" in text  # its summary line from the written measures
    assert ("Session ses-post Not computed, so not written and not in the group analyses: run-2: post2.nii.gz: the "
            "BOLD image is not 4-D Runs processed Run run-1 fragment") in text
    assert "run-2 fragment" not in text  # the failed run's earlier fragment is not shown
