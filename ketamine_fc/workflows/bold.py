"""Workflow for one BOLD run: censoring, atlas on the run's grid, one read of the BOLD, cleaning."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ketamine_fc.config import AtlasParams, DenoiseParams
from ketamine_fc.interfaces.atlas import BuildAtlas
from ketamine_fc.interfaces.censoring import CensorFrames
from ketamine_fc.interfaces.signals import DenoiseSignals, ExtractSignals


def init_bold_wf(*, denoise: DenoiseParams = DenoiseParams(), atlas: AtlasParams = AtlasParams(),
                 mem_gb: float = 1.0, build_atlas: bool = True, name: str = "bold_wf"):
    """Region time series of one run.

    .. workflow::

        from ketamine_fc.workflows.bold import init_bold_wf
        wf = init_bold_wf()

    Parameters
    ----------
    denoise : DenoiseParams
        Censoring and cleaning options.
    atlas : AtlasParams
        Region definitions.
    mem_gb : float
        Memory estimate of the read (see ``estimate_bold_mem_gb``).
    build_atlas : bool
        Build the atlas on this run's grid (default). With False, ``inputnode.dseg`` and ``inputnode.table``
        take an atlas built once for many runs on the same grid (see ``init_atlas_wf``).

    Inputs
    ------
    bold, mask, confounds : str
        Preprocessed BOLD in MNI space, its brain mask, fMRIPrep confounds TSV.
    tr : float
        Repetition time in seconds.
    dseg, table : str
        Only with ``build_atlas=False``: the atlas on the BOLD grid and its region table.

    Outputs
    -------
    timeseries
        Cleaned region means of the retained frames (TSV, one column per region label).
    censoring, design, qc, regions_qc, dseg, table
        Per-frame censoring table, regression design, run QC (JSON), per-region QC, atlas image and table.
    signals, mean, frames
        For the report: the raw region signals, the temporal mean of the BOLD, per-frame DVARS.
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["bold", "mask", "confounds", "tr", "dseg", "table"]),
                        name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(
        fields=["timeseries", "censoring", "nuisance", "design", "qc", "regions_qc", "dseg", "table", "signals",
                "mean", "frames"]),
        name="outputnode")
    params = denoise.to_dict()
    censor = pe.Node(CensorFrames(params=params), name="censor_frames")
    extract = pe.Node(ExtractSignals(subcortical_cleanup=denoise.subcortical_cleanup,
                                     adjacent_cortex_mm=denoise.adjacent_cortex_mm),
                      name="extract_signals", mem_gb=mem_gb)
    clean = pe.Node(DenoiseSignals(params=params, min_region_voxels=atlas.min_region_voxels,
                                   min_region_coverage=atlas.min_region_coverage), name="denoise_signals")
    if build_atlas:
        atlas_wf = init_atlas_wf(atlas=atlas)
        workflow.connect([
            (inputnode, atlas_wf, [("mask", "inputnode.reference")]),
            (atlas_wf, extract, [("outputnode.dseg", "dseg"), ("outputnode.table", "table")]),
            (atlas_wf, clean, [("outputnode.table", "table")]),
            (atlas_wf, outputnode, [("outputnode.dseg", "dseg"), ("outputnode.table", "table")]),
        ])
    else:
        workflow.connect([
            (inputnode, extract, [("dseg", "dseg"), ("table", "table")]),
            (inputnode, clean, [("table", "table")]),
            (inputnode, outputnode, [("dseg", "dseg"), ("table", "table")]),
        ])
    workflow.connect([
        (inputnode, censor, [("confounds", "confounds"), ("tr", "tr")]),
        (inputnode, extract, [("bold", "bold"), ("mask", "mask")]),
        (extract, clean, [("signals", "signals")]),
        (censor, clean, [("censoring", "censoring"), ("nuisance", "nuisance")]),
        (inputnode, clean, [("tr", "tr")]),
        (censor, outputnode, [("censoring", "censoring"), ("nuisance", "nuisance")]),
        (clean, outputnode, [("timeseries", "timeseries"), ("design", "design"), ("qc", "qc"),
                             ("regions_qc", "regions_qc"), ("frames", "frames")]),
        (extract, outputnode, [("signals", "signals"), ("mean", "mean")]),
    ])
    return workflow


def init_atlas_wf(*, atlas: AtlasParams = AtlasParams(), name: str = "atlas_wf"):
    """The combined Gordon 333 + Seitzman subcortical atlas on a reference grid.

    .. workflow::

        from ketamine_fc.workflows.bold import init_atlas_wf
        wf = init_atlas_wf()

    Inputs
    ------
    reference : str
        An image on the BOLD grid (the atlas does not depend on any brain mask: coverage is judged per run).

    Outputs
    -------
    dseg, table
        Region labels on the grid and the region table.
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["reference"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["dseg", "table"]), name="outputnode")
    build = pe.Node(BuildAtlas(atlas_dir=str(atlas.atlas_dir) if atlas.atlas_dir else None,
                               hippocampus_split_y=atlas.hippocampus_split_y, min_region_voxels=atlas.min_region_voxels),
                    name="build_atlas", mem_gb=0.5)
    workflow.connect([
        (inputnode, build, [("reference", "reference")]),
        (build, outputnode, [("dseg", "dseg"), ("table", "table")]),
    ])
    return workflow


def estimate_bold_mem_gb(n_frames: int, shape=(91, 109, 91)) -> float:
    """Peak memory of the streamed read: one chunk of frames plus the kept signals, with a margin."""
    shape = tuple(shape) if len(shape) >= 3 else (91, 109, 91)
    n_vox = int(shape[0]) * int(shape[1]) * int(shape[2])
    chunk = 32 * 2**20 * 3  # decompressed chunk, gathered copy, float32 conversion
    kept = n_frames * 20000 * 8  # region means, subcortical voxels, adjacent cortex, QC sample
    return round(0.3 + (chunk + kept + n_vox * 40) / 2**30, 2)
