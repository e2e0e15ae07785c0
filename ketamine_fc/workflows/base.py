"""The top-level participant-level workflow: one sub-workflow per participant, the atlas written once."""

from __future__ import annotations

from nipype.pipeline import engine as pe

from ketamine_fc.interfaces.bids import WriteAtlas
from ketamine_fc.workflows.bold import init_atlas_wf
from ketamine_fc.workflows.participant import _safe, init_participant_wf


def init_ketamine_fc_wf(settings, collection, name="ketamine_fc_wf"):
    """Build the participant-level workflow for every participant in ``collection``.

    .. workflow::

        from pathlib import Path
        from ketamine_fc.config import Settings
        from ketamine_fc.utils.bids import Collection
        from ketamine_fc.workflows.base import init_ketamine_fc_wf
        wf = init_ketamine_fc_wf(Settings(bids_dir=Path("."), output_dir=Path("out")), Collection([], []))

    Parameters
    ----------
    settings : ketamine_fc.config.Settings
    collection : ketamine_fc.utils.bids.Collection
        The runs found by ``collect_runs`` (layout queried once).
    """
    workflow = pe.Workflow(name=name)
    if settings.work_dir:
        workflow.base_dir = str(settings.work_dir)
    grid_ids, atlases = {}, []
    for run in collection.runs:
        if run.grid not in grid_ids:
            k = grid_ids[run.grid] = len(grid_ids)
            atlas_wf = init_atlas_wf(atlas=settings.atlas, name=f"atlas_{k}_wf")
            atlas_wf.inputs.inputnode.reference = run.mask
            ds_atlas = pe.Node(WriteAtlas(output_dir=str(settings.output_dir), space=run.space, res=run.res,
                                          parameters=settings.atlas.to_dict()),
                               name=f"ds_atlas_{k}", run_without_submitting=True)
            workflow.connect([(atlas_wf, ds_atlas, [("outputnode.dseg", "dseg"), ("outputnode.table", "table")])])
            atlases.append(atlas_wf)
    for subject, sessions in sorted(collection.sessions().items()):
        sub_wf = init_participant_wf(subject=subject, sessions=sessions, settings=settings, grid_ids=grid_ids,
                                     name=f"sub_{_safe(subject)}_wf")
        used = {run.grid for runs in sessions.values() for run in runs}
        for grid in used:
            k = grid_ids[grid]
            workflow.connect([(atlases[k], sub_wf, [("outputnode.dseg", f"inputnode.dseg_{k}"),
                                                    ("outputnode.table", f"inputnode.table_{k}")])])
    return workflow
