"""Workflow for one participant: the atlas per BOLD grid, every run, FC per session, written as derivatives.

Runs are volumes (NIfTI in MNI space) or, with ``--space fsLR``, CIFTI-2 dense time series on fs_LR 91k
grayordinates, as the plan decided; only the read and the atlas differ, the rest is wired the same.
"""

from __future__ import annotations

from pathlib import Path

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ketamine_fc.interfaces.bids import WriteAtlas
from ketamine_fc.interfaces.reports import ParticipantReport, RunReportlet, SessionReportlet
from ketamine_fc.utils.bids import safe
from ketamine_fc.workflows.bold import estimate_bold_mem_gb, estimate_cifti_mem_gb, init_atlas_wf, init_bold_wf
from ketamine_fc.workflows.outputs import init_run_derivatives_wf, init_session_derivatives_wf
from ketamine_fc.workflows.session import init_session_fc_wf

_SESSION_REPORT, _RUN_REPORT = "{}_session_report", "{}_run_report"  # node names of the report fragments


def init_participant_wf(*, subject: str, sessions: list, settings, name=None):
    """All sessions of one participant, from a checked plan.

    .. workflow::

        from pathlib import Path
        from ketamine_fc.config import Settings
        from ketamine_fc.plan import SessionPlan
        from ketamine_fc.utils.bids import RunInputs
        from ketamine_fc.workflows.participant import init_participant_wf
        run = RunInputs({"subject": "01", "session": "pre1", "task": "rest", "run": "1"}, "bold.nii.gz",
                        "mask.nii.gz", "conf.tsv", tr=2.0, n_frames=200, space="MNI152NLin6Asym")
        settings = Settings(bids_dir=Path("."), output_dir=Path("out"), analysis_level="participant")
        wf = init_participant_wf(subject="01", sessions=[SessionPlan("01", "pre1", [run], 240)], settings=settings)

    Parameters
    ----------
    subject : str
        Participant label without ``sub-``.
    sessions : list of :class:`ketamine_fc.plan.SessionPlan`
        The participant's checked sessions.
    settings : ketamine_fc.config.Settings

    Outputs
    -------
    measures
        One-row network-measure TSVs, one per session.
    """
    workflow = pe.Workflow(name=name or f"sub_{safe(subject)}_wf")
    params = settings.parameters("participant")
    note = {"TemplateMismatch": settings.template_mismatch} if settings.template_mismatch else {}
    outputnode = pe.Node(niu.IdentityInterface(fields=["measures"]), name="outputnode")
    atlas_of = _atlas_per_grid(workflow, sessions, settings)
    merge_measures = pe.Node(niu.Merge(len(sessions)), name="merge_measures", run_without_submitting=True)
    merge_reports = pe.Node(niu.Merge(len(sessions)), name="merge_session_reports", run_without_submitting=True)
    report = pe.Node(ParticipantReport(output_dir=str(settings.output_dir), subject=subject, parameters=params,
                                       session_labels=[session_report_label(ses) for ses in sessions]),
                     name="participant_report")
    workflow.connect([
        (merge_measures, outputnode, [("out", "measures")]),
        (merge_measures, report, [("out", "measures")]),
        (merge_reports, report, [("out", "session_reports")]),
    ])
    for k, ses in enumerate(sessions, start=1):
        runs = ses.runs
        merge_ts = pe.Node(niu.Merge(len(runs)), name=f"{ses.name}_merge_timeseries", run_without_submitting=True)
        merge_qc = pe.Node(niu.Merge(len(runs)), name=f"{ses.name}_merge_qc", run_without_submitting=True)
        fc_wf = init_session_fc_wf(participant_id=f"sub-{subject}", session_id=f"ses-{ses.session}" if ses.session
                                   else None, sgacc=settings.atlas.sgacc, min_frames=ses.min_frames,
                                   min_coverage=settings.inclusion.min_coverage,
                                   run_labels=[r.short_label for r in runs], atlas=settings.atlas.atlas,
                                   atlas_dir=_atlas_dir(settings), name=f"{ses.name}_fc_wf")
        ds_ses = init_session_derivatives_wf(
            output_dir=settings.output_dir, entities=ses.entities, space=runs[0].spatial,
            parameters=params, metadata={"MinimumRetainedFrames": ses.min_frames, **note,
                                         **surface_metadata(runs[0], settings)},
            seg=settings.atlas.atlas, name=f"{ses.name}_derivatives_wf")
        merge_run_reports = pe.Node(niu.Merge(len(runs)), name=f"{ses.name}_merge_run_reports",
                                    run_without_submitting=True)
        ses_report = pe.Node(SessionReportlet(label=session_report_label(ses), min_frames=ses.min_frames,
                                              run_trs={r.short_label: float(r.tr) for r in runs}),
                             name=_SESSION_REPORT.format(ses.name))
        for i, run in enumerate(runs, start=1):
            bold_wf = _run_wf(run, settings)
            atlas_wf = atlas_of[run.grid]
            ds_run = init_run_derivatives_wf(
                output_dir=settings.output_dir, entities=run.entities, space=run.spatial, parameters=params,
                metadata={"RepetitionTime": run.tr, **note, **surface_metadata(run, settings)},
                source_files=_sources(run), seg=settings.atlas.atlas, name=f"{run.name}_derivatives_wf")
            run_report = pe.Node(RunReportlet(label=run.short_label, fd_thresh=settings.denoise.fd_thresh, tr=run.tr,
                                              surfaces=_surface_list(run), atlas_dir=_atlas_dir(settings)),
                                 name=_RUN_REPORT.format(run.name))
            workflow.connect([
                (bold_wf, run_report, [(f"outputnode.{f}", f) for f in
                                       ("signals", "censoring", "frames", "timeseries", "qc", "mean")]),
                (atlas_wf, run_report, [("outputnode.dseg", "dseg"), ("outputnode.table", "table")]),
                (run_report, merge_run_reports, [("out_report", f"in{i}")]),
                (atlas_wf, bold_wf, [("outputnode.dseg", "inputnode.dseg"), ("outputnode.table", "inputnode.table")]),
                (bold_wf, merge_ts, [("outputnode.timeseries", f"in{i}")]),
                (bold_wf, merge_qc, [("outputnode.qc", f"in{i}")]),
                (bold_wf, ds_run, [(f"outputnode.{f}", f"inputnode.{f}") for f in
                                   ("censoring", "design", "timeseries", "regions_qc", "qc")]),
                # a run is written only once its whole session has been computed: no half-written sessions
                (fc_wf, ds_run, [("outputnode.measures", "inputnode.ready")]),
            ])
        workflow.connect([
            (atlas_of[runs[0].grid], fc_wf, [("outputnode.table", "inputnode.table")]),
            (merge_ts, fc_wf, [("out", "inputnode.timeseries")]),
            (merge_qc, fc_wf, [("out", "inputnode.qc")]),
            (fc_wf, merge_measures, [("outputnode.measures", f"in{k}")]),
            (fc_wf, ses_report, [("outputnode.relmat_z", "relmat_z"), ("outputnode.measures", "measures"),
                                 ("outputnode.qc", "qc")]),
            (atlas_of[runs[0].grid], ses_report, [("outputnode.table", "table")]),
            (merge_run_reports, ses_report, [("out", "run_reports")]),
            (ses_report, merge_reports, [("out_report", f"in{k}")]),
            (fc_wf, ds_ses, [(f"outputnode.{f}", f"inputnode.{f}") for f in
                             ("relmat_r", "relmat_z", "relmat_limbic", "measures", "qc")]),
        ])
    return workflow


def _atlas_per_grid(workflow, sessions, settings) -> dict:
    """One atlas sub-workflow (and its copy under ``OUTPUT_DIR/atlases``) per BOLD grid of the participant."""
    atlas_of = {}
    for ses in sessions:
        for run in ses.runs:
            if run.grid in atlas_of:
                continue
            k = len(atlas_of)
            atlas_wf = init_atlas_wf(atlas=settings.atlas, cifti=run.cifti, name=f"atlas_{k}_wf")
            atlas_wf.inputs.inputnode.reference = run.bold if run.cifti else run.mask
            ds_atlas = pe.Node(WriteAtlas(output_dir=str(settings.output_dir), space=run.space, res=run.res,
                                          den=run.den, grid=_grid_tag(run.grid), atlas=settings.atlas.atlas,
                                          atlas_dir=_atlas_dir(settings),
                                          parameters=settings.parameters("participant")),
                               name=f"ds_atlas_{k}", run_without_submitting=True)
            workflow.connect([(atlas_wf, ds_atlas, [("outputnode.dseg", "dseg"), ("outputnode.table", "table")])])
            atlas_of[run.grid] = atlas_wf
    return atlas_of


def _run_wf(run, settings):
    """The run's sub-workflow, its inputs set from the plan: a volume read, or a CIFTI read for fs_LR runs."""
    mem_gb = (estimate_cifti_mem_gb(run.n_frames, run.grid[1]) if run.cifti else
              estimate_bold_mem_gb(run.n_frames, run.grid[:3]))
    bold_wf = init_bold_wf(denoise=settings.denoise, atlas=settings.atlas, build_atlas=False, cifti=run.cifti,
                           mem_gb=mem_gb, name=f"{run.name}_bold_wf")
    values = {"bold": run.bold, "confounds": run.confounds, "tr": run.tr}
    values.update({"surfaces": _surface_list(run)} if run.cifti else {"mask": run.mask})
    for field, value in values.items():
        setattr(bold_wf.inputs.inputnode, field, value)
    return bold_wf


def _surface_list(run) -> list:
    return [run.surfaces["L"], run.surfaces["R"]] if run.cifti and run.surfaces else []


def _sources(run) -> list:
    return [run.bold, run.confounds, *_surface_list(run)] if run.cifti else [run.bold, run.mask, run.confounds]


def _atlas_dir(settings):
    return str(settings.atlas.atlas_dir) if settings.atlas.atlas_dir else None


def surface_metadata(run, settings) -> dict:
    """The sidecar entry naming the surfaces that placed a CIFTI run's cortical vertices (nothing for volumes)."""
    if not run.cifti:
        return {}
    if not settings.denoise.subcortical_cleanup:
        return {"Surfaces": "none used: the subcortical cleanup, the only step needing vertex coordinates, was off"}
    from ketamine_fc.atlases.surface import surface_source

    entry = {"UsedFor": f"world coordinates of the cortical grayordinates in the adjacent-cortex regression "
                        f"(cortex within {settings.denoise.adjacent_cortex_mm:g} mm of each subcortical grayordinate)",
             **surface_source(run.surfaces, settings.atlas.atlas_dir)}
    if run.surface_note:
        entry["Note"] = run.surface_note
    return {"Surfaces": entry}


def report_fragments(workflow_dir, subject: str, ses) -> tuple[Path, dict]:
    """Where a run of the workflow under ``workflow_dir`` leaves the report fragment of session ``ses`` and those
    of its runs (``{run label: path}``), for a report of what was computed when a session failed."""
    folder = Path(workflow_dir) / f"sub_{safe(subject)}_wf"
    name = _SESSION_REPORT.format(ses.name)
    runs = {run.label: folder / _RUN_REPORT.format(run.name) / "run_report.html" for run in ses.runs}
    return folder / name / "session_report.html", runs


def session_report_label(ses) -> str:
    """The session's name in the participant report."""
    return f"ses-{ses.session}" if ses.session else "session"


def _grid_tag(grid) -> str:
    """A short name for a voxel grid (``grid1a2b3c4d``): atlases of native-resolution grids get distinct names."""
    import hashlib

    return "grid" + hashlib.sha1(repr(tuple(grid)).encode()).hexdigest()[:8]
