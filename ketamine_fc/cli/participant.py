"""Participant level: find the runs, check them, build the workflow, run it, report in words."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from ketamine_fc.cli.run import Progress, plugin_settings, time_since
from ketamine_fc.config import dump_toml
from ketamine_fc.errors import InputError, KetamineFCError
from ketamine_fc.utils.bids import Collection, collect_runs
from ketamine_fc.utils.derivatives import write_dataset_description

LOGGER = logging.getLogger("ketamine_fc")


def preflight(run, denoise) -> str | None:
    """Read the run's confounds and decide its frames before any image is read.

    Returns a warning (the run still goes on, e.g. every frame censored); raises InputError for a run
    that cannot be processed.
    """
    from ketamine_fc.core.censoring import censoring_table
    from ketamine_fc.core.confounds import read_confounds, select_nuisance

    confounds = read_confounds(run.confounds)
    select_nuisance(confounds, denoise.nuisance_regressors, path=run.confounds)
    try:
        table = censoring_table(confounds, run.tr, fd_thresh=denoise.fd_thresh, fd_radius=denoise.fd_radius,
                                motion_filter_type=denoise.motion_filter_type, band_stop_min=denoise.band_stop_min,
                                band_stop_max=denoise.band_stop_max, motion_filter_order=denoise.motion_filter_order,
                                min_contig=denoise.min_contig, dummy_scans=denoise.dummy_scans)
    except ValueError as err:
        raise InputError(str(err), path=run.confounds) from err
    n_kept = int(table["retained"].sum())
    if n_kept == 0:
        return (f"{run.bold}: every frame is censored ({len(table)} frames, FD > {denoise.fd_thresh} mm or in "
                f"segments shorter than {denoise.min_contig}); the run contributes no data and its session is "
                "reported with included = false if nothing else remains")
    return None


def check_collection(collection: Collection, denoise) -> Collection:
    """Drop runs that cannot be processed (recording why); warn about runs with no usable frame."""
    runs, problems = [], list(collection.problems)
    for run in collection.runs:
        try:
            warning = preflight(run, denoise)
        except KetamineFCError as err:
            problems.append((run.subject, run.session, str(err)))
            continue
        if warning:
            LOGGER.warning("WARNING %s", warning)
        runs.append(run)
    return Collection(runs, problems)


def crash_messages(crash_dir: Path) -> list[str]:
    """One line per crashed node: the participant and the last line of the error."""
    out = []
    for crash in sorted(Path(crash_dir).glob("crash-*.txt")):
        text = crash.read_text(errors="replace")
        node = re.search(r"Node: (\S+)", text)
        errors = [ln.strip() for ln in text.splitlines() if re.match(r"\s*(\w+\.)*\w*(Error|Exception)\b", ln)]
        message = errors[-1] if errors else "unknown error (see the crash file)"
        message = re.sub(r"^(\w+\.)*\w*(Error|Exception): ", "", message)
        where = node.group(1) if node else crash.name
        sub = re.search(r"sub_([A-Za-z0-9]+)_wf", where)
        out.append(f"{'sub-' + sub.group(1) if sub else where}: {message}  [crash file: {crash}]")
    return out


def run_participant(settings) -> int:
    """Run the participant level for every selected participant; 0 if all succeeded, 1 otherwise."""
    from ketamine_fc.workflows.base import init_ketamine_fc_wf

    start = time.time()
    LOGGER.info("Indexing fMRIPrep derivatives in %s", settings.derivatives)
    collection = collect_runs(settings.derivatives, participant_label=settings.participant_label,
                              session_label=settings.session_label, task=settings.task, space=settings.space,
                              res=settings.res)
    collection = check_collection(collection, settings.denoise)
    for subject, session, message in collection.problems:
        LOGGER.error("ERROR %s", message)
    if not collection.runs:
        LOGGER.error("No run can be processed; nothing was written.")
        return 1
    sessions = collection.sessions()
    n_runs = len(collection.runs)
    LOGGER.info("Found %d run(s) in %d session(s) of %d participant(s)", n_runs,
                sum(len(s) for s in sessions.values()), len(sessions))
    work_dir = settings.work_dir or (Path.cwd() / "work")
    work_dir.mkdir(parents=True, exist_ok=True)
    settings = type(settings)(**{**settings.__dict__, "work_dir": work_dir})
    dump_toml(settings, work_dir / "config.toml")
    write_dataset_description(settings.output_dir, source_datasets=[settings.derivatives])

    workflow = init_ketamine_fc_wf(settings, collection)
    crash_dir = work_dir / "crash"
    workflow.config["execution"].update({
        "crashdump_dir": str(crash_dir), "crashfile_format": "txt", "stop_on_first_crash": "false",
        "remove_unnecessary_outputs": "false",
    })
    for old in crash_dir.glob("crash-*.txt"):
        old.unlink()
    plugin, plugin_args = plugin_settings(settings)
    if plugin in ("MultiProc", "LegacyMultiProc"):  # Nipype polls every 2 s by default: ages for short steps
        workflow.config["execution"]["poll_sleep_duration"] = 0.05
    n_grids = len({run.grid for run in collection.runs})
    n_steps = n_runs * 3 + sum(len(s) for s in sessions.values()) + n_grids
    if plugin in ("Linear", "MultiProc", "LegacyMultiProc"):
        plugin_args.setdefault("status_callback", Progress(n_steps))
    LOGGER.info("Running %d steps with Nipype's %s plugin (work directory %s)", n_steps, plugin, work_dir)
    try:
        workflow.run(plugin=plugin, plugin_args=plugin_args)
    except RuntimeError as err:
        if "Workflow did not execute cleanly" not in str(err):
            raise
    failures = crash_messages(crash_dir)
    for line in failures:
        LOGGER.error("ERROR %s", line)
    n_failed = len(collection.problems) + len(failures)
    LOGGER.info("Participant level finished in %s: outputs in %s%s", time_since(start), settings.output_dir,
                f" ({n_failed} problem(s) reported above)" if n_failed else "")
    return 1 if n_failed else 0
