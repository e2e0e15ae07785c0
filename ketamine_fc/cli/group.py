"""Group level: the statistics workflow on the participant-level outputs (or an FC table)."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from ketamine_fc.cli.run import plugin_settings, time_since

LOGGER = logging.getLogger("ketamine_fc")


def group_params(settings):
    """GroupParams from the settings' group options (None values keep the defaults)."""
    from ketamine_fc.group.params import GroupParams

    names = {f.name for f in dataclasses.fields(GroupParams)}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in settings.group.items()
              if k in names and v is not None}
    return GroupParams(**values)


def run_group_level(settings) -> int:
    """Check the group inputs (tables only: fast, one clear message), then run the statistics workflow."""
    from ketamine_fc.cli.participant import crash_messages
    from ketamine_fc.group.inputs import load_group_inputs
    from ketamine_fc.workflows.group import run_group

    start = time.time()
    params = group_params(settings)
    inputs = load_group_inputs(settings.bids_dir, settings.output_dir, params, settings.fc_table,
                               settings.derivatives)
    LOGGER.info("Group inputs: %d participants, %d included sessions, %d excluded", len(inputs.participants),
                len(inputs.fc), len(inputs.excluded_sessions))
    for name, reason in inputs.skipped.items():
        LOGGER.info("Skipping %s: %s", name, reason)
    plugin, plugin_args = plugin_settings(settings)
    work_dir = settings.work_dir or (Path.cwd() / "work")
    try:
        report = run_group(settings.bids_dir, settings.output_dir, params, fc_table=settings.fc_table,
                           fmriprep_dir=settings.derivatives, work_dir=work_dir, plugin=plugin, plugin_args=plugin_args)
    except RuntimeError as err:
        if "Workflow did not execute cleanly" not in str(err):
            raise
        for line in crash_messages(work_dir / "crash"):
            LOGGER.error("ERROR %s", line)
        return 1
    LOGGER.info("Group level finished in %s; report: %s", time_since(start), report)
    return 0
