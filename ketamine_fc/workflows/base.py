"""The top-level participant-level workflow: one sub-workflow per participant, the atlas written once."""

from __future__ import annotations

from nipype.pipeline import engine as pe

from ketamine_fc.interfaces.bids import WriteAtlas
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
    written = set()
    for subject, sessions in sorted(collection.sessions().items()):
        sub_wf = init_participant_wf(subject=subject, sessions=sessions, settings=settings,
                                     name=f"sub_{_safe(subject)}_wf")
        workflow.add_nodes([sub_wf])
        first = next(iter(sessions.values()))[0]
        grid = (first.space, first.res)
        if grid not in written:
            written.add(grid)
            ds_atlas = pe.Node(WriteAtlas(output_dir=str(settings.output_dir), space=first.space, res=first.res,
                                          parameters=settings.atlas.to_dict()),
                               name=f"ds_atlas_{_safe(first.space)}_{_safe(first.res or 'native')}",
                               run_without_submitting=True)
            workflow.connect([(sub_wf, ds_atlas, [("outputnode.dseg", "dseg"), ("outputnode.table", "table")])])
    return workflow
