"""Group level: check the inputs (tables only: fast, one clear message), then run the statistics workflow."""

from __future__ import annotations

import logging
import time

from ketamine_fc.cli.run import TRACE, plugin_settings, run_level, time_since
from ketamine_fc.utils.provenance import write_citation

LOGGER = logging.getLogger("ketamine_fc")
WORKFLOW = "group_wf"


def run_group_level(settings, argv=()) -> int:
    """Run the group statistics; 0 if the report was written, 1 otherwise."""
    return run_level(settings, argv, "group", _run)


def _run(settings, invocation) -> int:
    from ketamine_fc.group.inputs import load_group_inputs
    from ketamine_fc.reports.methods import citation
    from ketamine_fc.utils.derivatives import write_dataset_description
    from ketamine_fc.utils.execution import WorkDirLock, prepare_work_dir, run_workflow
    from ketamine_fc.workflows.group import init_group_wf

    start = time.time()
    params = settings.group
    inputs = load_group_inputs(settings.bids_dir, settings.output_dir, params, settings.fc_table,
                               settings.fmriprep_dir, quiet=True)  # the statistics node reads them again, aloud
    LOGGER.info("Group inputs: %d participants, %d included sessions, %d excluded", len(inputs.participants),
                len(inputs.fc), len(inputs.excluded_sessions))
    with WorkDirLock(settings.work_dir, ["group"]):
        write_dataset_description(settings.output_dir)
        write_citation(settings.output_dir, citation(participant=inputs.participant_parameters,
                                                     group=params.to_dict()))
        note = prepare_work_dir(settings.work_dir, [WORKFLOW])
        if note:
            LOGGER.warning("%s", note)
        workflow = init_group_wf(bids_dir=settings.bids_dir, output_dir=settings.output_dir, params=params,
                                 fc_table=settings.fc_table, fmriprep_dir=settings.fmriprep_dir, name=WORKFLOW)
        workflow.base_dir = str(settings.work_dir)
        plugin, plugin_args = plugin_settings(settings)
        LOGGER.info("Running the group statistics")
        failures = run_workflow(workflow, plugin, plugin_args, settings.work_dir / "crash" / invocation.ident)
    for failure in failures:
        TRACE.debug("Node %s failed (crash file %s):\n%s", failure.node, failure.crash_file, failure.traceback)
        LOGGER.error("group statistics: %s", failure.message if failure.ours else
                     f"unexpected error ({failure.message}); the traceback is in {invocation.log_file}")
    if failures:
        return 1
    LOGGER.info("Group level finished in %s; report: %s. Log: %s", time_since(start),
                settings.output_dir / "group" / "report.html", invocation.log_file)
    return 0
