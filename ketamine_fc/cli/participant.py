"""Participant level: check the folders, plan, lock, build, run, and report one line per problem."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from ketamine_fc.cli.run import TRACE, Progress, plugin_settings, run_level, time_since
from ketamine_fc.errors import InputError
from ketamine_fc.utils.bids import safe
from ketamine_fc.utils.derivatives import read_tsv, write_dataset_description
from ketamine_fc.utils.provenance import differences, recorded_parameters, write_citation

LOGGER = logging.getLogger("ketamine_fc")
WORKFLOW = "ketamine_fc_wf"


def run_participant(settings, argv=()) -> int:
    """Run the participant level for every selected participant; 0 if all succeeded, 1 otherwise."""
    return run_level(settings, argv, "participant", _run)


def _run(settings, invocation) -> int:
    from ketamine_fc.plan import plan_participants
    from ketamine_fc.reports.methods import citation
    from ketamine_fc.utils.execution import WorkDirLock, prepare_work_dir, run_workflow
    from ketamine_fc.workflows.base import init_ketamine_fc_wf

    start = time.time()
    LOGGER.info("Checking the inputs in %s", settings.fmriprep_dir)
    plan = plan_participants(settings)
    for problem in plan.problems:
        LOGGER.log(logging.WARNING if problem.kind == "skipped" else logging.ERROR, "%s", problem.line())
    if not plan.sessions:
        LOGGER.error("No session can be processed; nothing was written. Log: %s", invocation.log_file)
        return 1
    participants = plan.participants()
    LOGGER.info("Planned %d run(s) in %d session(s) of %d participant(s)", len(plan.runs), len(plan.sessions),
                len(participants))
    with WorkDirLock(settings.work_dir, [f"sub-{s}" for s in participants]):  # nothing is replaced before this
        check_previous_outputs(settings, plan.sessions)
        write_dataset_description(settings.output_dir, source_datasets=[settings.fmriprep_dir])
        write_citation(settings.output_dir, citation(participant=settings.parameters("participant")))
        note = prepare_work_dir(settings.work_dir, [f"{WORKFLOW}/sub_{safe(s)}_wf" for s in participants])
        if note:
            LOGGER.warning("%s", note)
        workflow = init_ketamine_fc_wf(settings, plan, name=WORKFLOW)
        plugin, plugin_args = plugin_settings(settings)
        if plugin in ("MultiProc", "LegacyMultiProc"):  # Nipype polls every 2 s by default: ages for short steps
            workflow.config["execution"]["poll_sleep_duration"] = 0.05
        n_steps = (len(plan.runs) * 4 + len(plan.sessions) * 2 + len(participants)
                   + sum(len({r.grid for s in ses for r in s.runs}) for ses in participants.values()))
        LOGGER.info("Running %d steps with Nipype's %s plugin (work directory %s)", n_steps, plugin,
                    settings.work_dir)
        failures = run_workflow(workflow, plugin, plugin_args, settings.work_dir / "crash" / invocation.ident,
                                Progress(n_steps))
    failed, n_errors = report_failures(plan, failures, invocation)
    report_sessions(plan, failed, settings)
    write_reports_of_failed(plan, failed, settings)
    n_problems = len([p for p in plan.problems if p.kind != "skipped"]) + n_errors
    LOGGER.info("Participant level finished in %s: outputs in %s%s. Log: %s", time_since(start), settings.output_dir,
                f" ({n_problems} problem(s), listed above)" if n_problems else "", invocation.log_file)
    return 1 if n_problems else 0


def check_previous_outputs(settings, sessions) -> None:
    """Stop if ``OUTPUT_DIR`` holds sessions made with other settings.

    With ``--overwrite`` the outputs of the sessions this run recomputes are removed first (a session written
    with other settings and not recomputed stays, and the group level will refuse to pool it).
    """
    new = json.loads(json.dumps(settings.parameters("participant")))
    existing = sorted(Path(settings.output_dir).glob("sub-*/**/*_desc-network_measures.json"))
    conflicting = {key: files for key, files in recorded_parameters(existing).items() if json.loads(key) != new}
    if not conflicting:
        return
    old_key, files = next(iter(conflicting.items()))
    diffs = differences(json.loads(old_key), new)
    n_files = sum(len(f) for f in conflicting.values())
    owners = sorted({p.name.split("_")[0] for f in conflicting.values() for p in f})
    summary = (f"{n_files} session(s) of {', '.join(owners[:6])}{' ...' if len(owners) > 6 else ''} were made with "
               f"other settings ({'; '.join(diffs[:8])}{' ...' if len(diffs) > 8 else ''})")
    if not settings.overwrite:
        raise InputError(f"the output directory already holds outputs of another configuration: {summary}. Use a new "
                         "output directory, or --overwrite to replace them", path=settings.output_dir)
    stale = {p.parent for f in conflicting.values() for p in f}
    replaced = 0
    for ses in sessions:
        folder = Path(settings.output_dir) / f"sub-{ses.subject}" / (f"ses-{ses.session}" if ses.session else "") / "func"
        if folder in stale:
            shutil.rmtree(folder.parent if ses.session else folder)
            replaced += 1
    LOGGER.warning("Replacing the outputs of %d session(s) made with other settings: %s", replaced, summary)


def report_failures(plan, failures, invocation) -> tuple[dict, int]:
    """One line per failed run or session; tracebacks to the log.

    Returns ``{session label: [(run or None, message), ...]}`` of the sessions whose outputs failed (a failed
    report leaves its session's outputs written), and the number of lines printed.
    """
    failed, seen = {}, set()
    for failure in failures:
        subject, ses, run = plan.locate(failure.node)
        # a node of the participant but of no session (its atlas, its report) concerns all its sessions
        sessions = [ses] if ses is not None else plan.participants().get(subject, [])
        TRACE.debug("Node %s failed (crash file %s):\n%s", failure.node, failure.crash_file, failure.traceback)
        step = failure.node.split(".")[-1].replace("_", " ")
        message = failure.message if failure.ours else (
            f"unexpected error while running '{step}' ({failure.message}); the traceback is in {invocation.log_file}")
        where = run.label if run else ses.label if ses else f"sub-{subject}" if subject else "ketamine-fc"
        if (where, message) in seen:
            continue
        seen.add((where, message))
        if not failure.node.endswith("_report"):
            for each in sessions:
                failed.setdefault(each.label, []).append((run, message))
        LOGGER.error("%s: %s", where, message)
    return failed, len(seen)


def write_reports_of_failed(plan, failed: dict, settings) -> None:
    """A participant report despite failed sessions: what was computed, and why the rest was not.

    The workflow writes the report only when every session of the participant computed; for the others it is
    assembled here from the fragments the runs that computed left in the work directory.
    """
    from ketamine_fc.reports.participant import write_participant_report

    for subject, sessions in plan.participants().items():
        if not any(ses.label in failed for ses in sessions):
            continue
        try:
            parts = [_report_part(subject, ses, failed.get(ses.label), settings) for ses in sessions]
            out = write_participant_report(settings.output_dir, subject, [section for section, _ in parts],
                                           [row for _, row in parts], settings.parameters("participant"))
        except Exception as err:  # the report never hides the failure it reports
            TRACE.debug("Report of sub-%s not written", subject, exc_info=True)
            LOGGER.error("sub-%s: the participant report could not be written (%s: %s)", subject,
                         type(err).__name__, err)
            continue
        n_failed = sum(ses.label in failed for ses in sessions)
        LOGGER.warning("sub-%s: report %s shows %d session(s) not computed and why", subject, out.name, n_failed)


def _report_part(subject, ses, problems, settings) -> tuple[str, dict]:
    """The report section and summary line of one session: its own fragment, or why it is missing."""
    from ketamine_fc.reports.participant import failed_session_section, summary_row
    from ketamine_fc.workflows.outputs import session_output
    from ketamine_fc.workflows.participant import report_fragments, session_report_label

    label = session_report_label(ses)
    fragment, run_fragments = report_fragments(settings.work_dir / WORKFLOW, subject, ses)
    measures = session_output(settings.output_dir, ses.entities, ses.runs[0].spatial, "measures", settings.atlas.atlas)
    if not problems and measures.is_file():
        row = summary_row(label, read_tsv(measures).iloc[0])
        if fragment.is_file():
            return fragment.read_text(encoding="utf-8"), row
        why = "computed and written, but its report section could not be drawn (the error is above and in the log)"
        return failed_session_section(label, [why], [], computed=True), row
    problems = problems or [(None, "not computed (the error is above and in the log)")]
    failed_runs = {run.label for run, _ in problems if run is not None}
    errors = [f"{run.short_label}: {message}" if run else message for run, message in problems]
    runs_html = [path.read_text(encoding="utf-8") for run, path in run_fragments.items()
                 if run not in failed_runs and path.is_file()]
    return failed_session_section(label, errors, runs_html), summary_row(label, None, errors[0])


def report_sessions(plan, failed, settings) -> None:
    """A warning line per session excluded from the group analysis, and per session that lost regions."""
    from ketamine_fc.workflows.outputs import session_output

    for ses in plan.sessions:
        if ses.label in failed:
            continue
        measures = session_output(settings.output_dir, ses.entities, ses.runs[0].spatial, "measures",
                                  settings.atlas.atlas)
        qc = session_output(settings.output_dir, ses.entities, ses.runs[0].spatial, "qc", settings.atlas.atlas)
        if not measures.is_file():
            continue
        row = read_tsv(measures).iloc[0]
        if str(row.get("included")).lower() not in ("true", "1"):
            LOGGER.warning("%s: excluded from the group analysis: %s", ses.label, row.get("exclusion_reason"))
        if qc.is_file():
            session = read_tsv(qc).set_index("run").loc["session"]
            lost = {k: [x for x in str(session.get(f"{k}_regions", "n/a")).split(",") if x not in ("n/a", "nan", "")]
                    for k in ("missing", "shrunk")}
            if lost["missing"] or lost["shrunk"]:
                LOGGER.warning("%s: the brain mask misses %d region(s) and covers %d others only partly; they are "
                               "n/a (listed in %s)", ses.label, len(lost["missing"]), len(lost["shrunk"]), qc.name)

