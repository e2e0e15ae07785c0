"""Group level: the statistics workflow on the participant-level outputs (or an FC table)."""

from __future__ import annotations

import dataclasses
import logging
import time

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
    from ketamine_fc.workflows.group import run_group

    start = time.time()
    plugin, plugin_args = plugin_settings(settings)
    report = run_group(settings.bids_dir, settings.output_dir, group_params(settings), fc_table=settings.fc_table,
                       fmriprep_dir=settings.derivatives, work_dir=settings.work_dir, plugin=plugin,
                       plugin_args=plugin_args)
    LOGGER.info("Group level finished in %s; report: %s", time_since(start), report)
    return 0
