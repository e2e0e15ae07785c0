"""Workflow for one participant: every run of every session, then FC per session, written as derivatives."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ketamine_fc.workflows.bold import estimate_bold_mem_gb, init_atlas_wf, init_bold_wf
from ketamine_fc.workflows.outputs import init_run_derivatives_wf, init_session_derivatives_wf
from ketamine_fc.workflows.session import init_session_fc_wf


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label)


def init_participant_wf(*, subject: str, sessions: dict, settings, grid_ids: dict | None = None, name=None):
    """All sessions of one participant.

    .. workflow::

        from pathlib import Path
        from ketamine_fc.config import Settings
        from ketamine_fc.utils.bids import RunInputs
        from ketamine_fc.workflows.participant import init_participant_wf
        run = RunInputs("01", "pre1", "rest", "1", "bold.nii.gz", "mask.nii.gz", "conf.tsv", None, 2.0, 200,
                        "MNI152NLin6Asym")
        wf = init_participant_wf(subject="01", sessions={"pre1": [run]},
                                 settings=Settings(bids_dir=Path("."), output_dir=Path("out")))

    Parameters
    ----------
    subject : str
        Participant label without ``sub-``.
    sessions : dict
        Session label (or None) -> list of :class:`ketamine_fc.utils.bids.RunInputs`.
    settings : ketamine_fc.config.Settings
    grid_ids : dict, optional
        Grid signature -> number, when the caller builds one atlas per grid for many participants: the atlas
        of grid ``k`` then comes in through ``inputnode.dseg_k`` and ``inputnode.table_k``. By default the
        participant builds its own atlas for each grid its runs use.

    Outputs
    -------
    dseg, table
        The atlas on the grid of the first run.
    measures
        One-row network-measure TSVs, one per session.
    """
    workflow = pe.Workflow(name=name or f"sub_{_safe(subject)}_wf")
    params = {"denoise": settings.denoise.to_dict(), "atlas": settings.atlas.to_dict()}
    outputnode = pe.Node(niu.IdentityInterface(fields=["dseg", "table", "measures"]), name="outputnode")
    grids = sorted({run.grid for runs in sessions.values() for run in runs}, key=str)
    atlas_source = {}
    if grid_ids is None:
        for k, grid in enumerate(grids):
            first = next(r for runs in sessions.values() for r in runs if r.grid == grid)
            atlas_wf = init_atlas_wf(atlas=settings.atlas, name=f"atlas_{k}_wf")
            atlas_wf.inputs.inputnode.reference = first.mask
            atlas_source[grid] = (atlas_wf, "outputnode.dseg", "outputnode.table")
    else:
        fields = [f"{kind}_{grid_ids[g]}" for g in grids for kind in ("dseg", "table")]
        inputnode = pe.Node(niu.IdentityInterface(fields=fields), name="inputnode")
        atlas_source = {g: (inputnode, f"dseg_{grid_ids[g]}", f"table_{grid_ids[g]}") for g in grids}
    n_sessions = len(sessions)
    merge_measures = pe.Node(niu.Merge(n_sessions), name="merge_measures", run_without_submitting=True)
    workflow.connect(merge_measures, "out", outputnode, "measures")
    for k, (session, runs) in enumerate(sorted(sessions.items(), key=lambda kv: str(kv[0])), start=1):
        ses_tag = f"ses_{_safe(session)}" if session else "nosession"
        merge_ts = pe.Node(niu.Merge(len(runs)), name=f"{ses_tag}_merge_timeseries", run_without_submitting=True)
        merge_qc = pe.Node(niu.Merge(len(runs)), name=f"{ses_tag}_merge_qc", run_without_submitting=True)
        min_frames = settings.min_frames_for(runs[0].tr)
        fc_wf = init_session_fc_wf(participant_id=f"sub-{subject}", session_id=f"ses-{session}" if session else None,
                                   sgacc=settings.atlas.sgacc, min_frames=min_frames,
                                   run_labels=[r.run or str(i) for i, r in enumerate(runs, 1)], name=f"{ses_tag}_fc_wf")
        ses_ents = {"subject": subject, "session": session, "task": runs[0].task}
        ds_ses = init_session_derivatives_wf(
            output_dir=settings.output_dir, entities=ses_ents, space=runs[0].space,
            parameters=dict(params, min_frames=min_frames), name=f"{ses_tag}_derivatives_wf")
        for i, run in enumerate(runs, start=1):
            tag = f"{ses_tag}_run_{_safe(run.run or str(i))}"
            bold_wf = init_bold_wf(denoise=settings.denoise, atlas=settings.atlas, build_atlas=False,
                                   mem_gb=estimate_bold_mem_gb(run.n_frames), name=f"{tag}_bold_wf")
            source, dseg_field, table_field = atlas_source[run.grid]
            workflow.connect([(source, bold_wf, [(dseg_field, "inputnode.dseg"), (table_field, "inputnode.table")])])
            for field, value in (("bold", run.bold), ("mask", run.mask), ("confounds", run.confounds),
                                 ("tr", run.tr)):
                setattr(bold_wf.inputs.inputnode, field, value)
            ds_run = init_run_derivatives_wf(
                output_dir=settings.output_dir, entities=run.entities, space=run.space,
                parameters=dict(params, repetition_time=run.tr), source_files=[run.bold, run.confounds],
                name=f"{tag}_derivatives_wf")
            workflow.connect([
                (bold_wf, merge_ts, [("outputnode.timeseries", f"in{i}")]),
                (bold_wf, merge_qc, [("outputnode.qc", f"in{i}")]),
                (bold_wf, ds_run, [(f"outputnode.{f}", f"inputnode.{f}") for f in
                                   ("censoring", "design", "timeseries", "regions_qc", "qc")]),
            ])
            if i == 1:
                workflow.connect(bold_wf, "outputnode.table", fc_wf, "inputnode.table")
            if i == 1 and k == 1:
                workflow.connect([(bold_wf, outputnode, [("outputnode.dseg", "dseg"), ("outputnode.table", "table")])])
        workflow.connect([
            (merge_ts, fc_wf, [("out", "inputnode.timeseries")]),
            (merge_qc, fc_wf, [("out", "inputnode.qc")]),
            (fc_wf, merge_measures, [("outputnode.measures", f"in{k}")]),
            (fc_wf, ds_ses, [(f"outputnode.{f}", f"inputnode.{f}") for f in
                             ("relmat_r", "relmat_z", "relmat_limbic", "measures", "qc")]),
        ])
    return workflow
