"""The top-level participant-level workflow: one independent sub-workflow per participant of the plan."""

from __future__ import annotations

from nipype.pipeline import engine as pe

from ketamine_fc.utils.bids import safe
from ketamine_fc.workflows.participant import init_participant_wf


def init_ketamine_fc_wf(settings, plan, name="ketamine_fc_wf"):
    """Build the participant-level workflow for every participant of ``plan``.

    Participants share nothing (each builds the atlas of its own grids), so two invocations working on
    different participants can share a work directory.

    .. workflow::

        from pathlib import Path
        from ketamine_fc.config import Settings
        from ketamine_fc.plan import ParticipantPlan
        from ketamine_fc.workflows.base import init_ketamine_fc_wf
        settings = Settings(bids_dir=Path("."), output_dir=Path("out"), analysis_level="participant")
        wf = init_ketamine_fc_wf(settings, ParticipantPlan(sessions=[]))

    Parameters
    ----------
    settings : ketamine_fc.config.Settings
    plan : ketamine_fc.plan.ParticipantPlan
        The checked sessions (:func:`ketamine_fc.plan.plan_participants`).
    """
    workflow = pe.Workflow(name=name)
    if settings.work_dir:
        workflow.base_dir = str(settings.work_dir)
    for subject, sessions in sorted(plan.participants().items()):
        workflow.add_nodes([init_participant_wf(subject=subject, sessions=sessions, settings=settings,
                                                name=f"sub_{safe(subject)}_wf")])
    return workflow
