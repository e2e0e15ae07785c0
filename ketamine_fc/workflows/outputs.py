"""Workflows that write results as BIDS derivatives (one sink per output kind)."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ketamine_fc.interfaces.bids import WriteDerivatives
from ketamine_fc.utils.derivatives import SEG, bids_path

RUN_OUTPUTS = {
    # inputnode field: (extra entities, suffix, description)
    "censoring": ({}, "outliers", "Per-frame censoring: framewise displacement used, dummy scans, FD outliers, "
                  "frames dropped by the short-segment rule, and retained (1) frames."),
    "design": ({"desc": "design"}, "timeseries", "The regression design as fit on the retained frames: with "
               "denoise_order filter-regress the confounds interpolated, detrended and band-passed like the data; "
               "with regress-filter the intercept, linear trend and raw confounds."),
    "timeseries": ({"stat": "mean"}, "timeseries", "Cleaned region mean time series, retained frames only; one "
                   "column per region label; n/a marks a region with too few voxels."),
    "regions_qc": ({"desc": "regions"}, "qc", "Per region: voxels inside the brain mask (n_voxels) and on the grid "
                   "(n_voxels_atlas), their ratio (coverage), status (ok; shrunk: coverage below "
                   "min_region_coverage; outside_mask: fewer than min_region_voxels inside the mask; too_small: "
                   "fewer on the grid itself; all but ok are n/a in the time series) and temporal SNR."),
}

SESSION_OUTPUTS = {
    "relmat_r": ({"stat": "pearsoncorrelation"}, "relmat", "Pearson correlation between region time series "
                 "over the concatenated retained frames of every run of the session."),
    "relmat_z": ({"stat": "pearsoncorrelation", "desc": "fisherz"}, "relmat", "Fisher z (arctanh) of the Pearson "
                 "correlation matrix; |r| clipped to 1 - 1e-7; diagonal n/a."),
    "relmat_limbic": ({"stat": "pearsoncorrelation", "desc": "limbicfisherz"}, "relmat", "Fisher z (arctanh) of "
                      "the Pearson correlation among the 10 limbic regions (amygdala, anterior and posterior "
                      "hippocampus, accumbens, antero-medial thalamus): a sub-block of the whole Fisher-z matrix; "
                      "diagonal n/a."),
    "measures": ({"desc": "network"}, "measures", "Network measures (mean Fisher-z FC): within-DMN, sgACC-DMN, "
                 "within-limbic, within-visual; retained frames, mean FD, inclusion in group analysis and why not; "
                 "n_pairs_* = region pairs averaged in each measure; coverage_* = fraction of each network set's "
                 "regions covered by the brain mask."),
    "qc": ({}, "qc", "Quality control per run and for the session: frames, censoring, FD, DVARS before and after "
           "cleaning, temporal SNR, regions missing or shrunk by the brain mask, flags and inclusion."),
}


def _entities(field, entities, extra, space, seg=SEG):
    ents = dict(entities, **extra)
    if field not in ("censoring", "design", "qc"):
        ents.update(spatial_entities(space), segmentation=seg)
    return ents


def spatial_entities(space) -> dict:
    """``"MNI152NLin6Asym"`` -> ``{"space": "MNI152NLin6Asym"}``; a mapping (``RunInputs.spatial``, e.g.
    ``{"space": "fsLR", "den": "91k"}``) is taken as it is."""
    return {"space": space} if isinstance(space, str) else dict(space)


def session_output(output_dir, entities: dict, space, field: str, seg: str = SEG):
    """Path of one session output (``measures``, ``qc``, ``relmat_z`` ...) under ``output_dir``.

    ``space`` is the space name or the spatial entities of the session's runs (``RunInputs.spatial``); ``seg`` the
    atlas name (``--atlas``).
    """
    extra, suffix, _ = SESSION_OUTPUTS[field]
    return bids_path(output_dir, _entities(field, entities, extra, space, seg), suffix, ".tsv")


def _sink(workflow, inputnode, outputs, *, output_dir, entities, parameters, space, sources=(), meta_fields=(),
          metadata=None, seg=SEG):
    specs = {}
    for field, (extra, suffix, description) in outputs.items():
        specs[field] = {"entities": _entities(field, entities, extra, space, seg), "suffix": suffix,
                        "description": description}
    node = pe.Node(WriteDerivatives(output_dir=str(output_dir), specs=specs, parameters=parameters,
                                    sources=[str(s) for s in sources], meta_fields=list(meta_fields),
                                    metadata=dict(metadata or {})),
                   name="ds_outputs")
    workflow.connect([(inputnode, node, [(f, f) for f in outputs])])
    return node


def init_run_derivatives_wf(*, output_dir, entities: dict, space, parameters: dict, source_files=(),
                            metadata=None, seg=SEG, name="run_derivatives_wf"):
    """Write one run's censoring table, design, region time series and region QC.

    .. workflow::

        from ketamine_fc.workflows.outputs import init_run_derivatives_wf
        wf = init_run_derivatives_wf(output_dir="out", entities={"subject": "01", "session": "pre1", "task": "rest",
                                     "run": "1"}, space="MNI152NLin6Asym", parameters={"fd_thresh": 0.2})

    ``space`` is the space name, or the spatial entities of the run (``{"space": "fsLR", "den": "91k"}`` for
    grayordinates). The run QC (``inputnode.qc``) goes into the sidecar of the time series; ``metadata`` (for
    example the ``RepetitionTime``) into every sidecar; ``seg`` is the atlas name (``--atlas``). Nothing is written before ``inputnode.ready`` is set (connect the
    session's result to it, so that a session is written whole or not at all).
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=list(RUN_OUTPUTS) + ["qc", "ready"]), name="inputnode")
    node = _sink(workflow, inputnode, RUN_OUTPUTS, output_dir=output_dir, entities=entities, parameters=parameters,
                 space=space, sources=source_files, meta_fields=["timeseries"], metadata=metadata, seg=seg)
    workflow.connect([(inputnode, node, [("qc", "metadata_file"), ("ready", "ready")])])
    return workflow


def init_session_derivatives_wf(*, output_dir, entities: dict, space, parameters: dict, metadata=None, seg=SEG,
                                name="session_derivatives_wf"):
    """Write one session's FC matrices, network measures and QC.

    .. workflow::

        from ketamine_fc.workflows.outputs import init_session_derivatives_wf
        wf = init_session_derivatives_wf(output_dir="out", entities={"subject": "01", "session": "pre1",
                                         "task": "rest"}, space="MNI152NLin6Asym", parameters={"fd_thresh": 0.2})
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=list(SESSION_OUTPUTS)), name="inputnode")
    _sink(workflow, inputnode, SESSION_OUTPUTS, output_dir=output_dir, entities=entities, parameters=parameters,
          space=space, metadata=metadata, seg=seg)
    return workflow
