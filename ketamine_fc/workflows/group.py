"""The group-level statistics workflow."""

from __future__ import annotations

import logging
from pathlib import Path

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ketamine_fc.interfaces.group import GatherNetworkMeasures, GroupStatistics

LOGGER = logging.getLogger("ketamine_fc")


def init_group_wf(*, bids_dir, output_dir, params, fc_table=None, fmriprep_dir=None, name="group_wf"):
    """Clinical and imaging statistics of the study, tables, figures and report.

    .. workflow::

        from ketamine_fc.config import GroupParams
        from ketamine_fc.workflows.group import init_group_wf
        wf = init_group_wf(bids_dir=".", output_dir="out", params=GroupParams())

    Parameters
    ----------
    bids_dir : path
        Raw dataset with ``participants.tsv`` and ``phenotype/``.
    output_dir : path
        Participant-level outputs; the group outputs go to ``output_dir/group``.
    params : GroupParams
    fc_table : path, optional
        Network-measure table to use instead of gathering the participant-level outputs.

    Outputs
    -------
    report, tables
    """
    workflow = pe.Workflow(name=name)
    outputnode = pe.Node(niu.IdentityInterface(fields=["report", "tables"]), name="outputnode")
    stats = pe.Node(GroupStatistics(bids_dir=str(bids_dir), output_dir=str(output_dir),
                                    fmriprep_dir=str(fmriprep_dir) if fmriprep_dir else None,
                                    params=params.to_dict()), name="group_statistics")
    if fc_table:
        stats.inputs.fc_table = str(fc_table)
    else:
        gather = pe.Node(GatherNetworkMeasures(output_dir=str(output_dir)), name="gather_network_measures")
        workflow.connect(gather, "fc_table", stats, "fc_table")
    workflow.connect([(stats, outputnode, [("report", "report"), ("tables", "tables")])])
    return workflow


def run_group(bids_dir, output_dir, params, fc_table=None, fmriprep_dir=None, work_dir=None, plugin="Linear",
              plugin_args=None) -> Path:
    """Build and run the group workflow from Python; return the report path.

    Raises :class:`~ketamine_fc.errors.KetamineFCError` with the node's message if the statistics fail.
    """
    from ketamine_fc.errors import KetamineFCError
    from ketamine_fc.utils.derivatives import write_dataset_description
    from ketamine_fc.utils.execution import run_workflow

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_dataset_description(output_dir)
    wf = init_group_wf(bids_dir=bids_dir, output_dir=output_dir, params=params, fc_table=fc_table,
                       fmriprep_dir=fmriprep_dir)
    wf.base_dir = str(work_dir or Path.cwd() / "work")
    LOGGER.info("Running the group statistics")
    failures = run_workflow(wf, plugin, plugin_args or {}, Path(wf.base_dir) / "crash" / "run_group")
    if failures:
        raise KetamineFCError(failures[0].message)
    return output_dir / "group" / "report.html"
