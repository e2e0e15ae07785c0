"""Workflow for one BOLD run: censoring, atlas on the run's grid, one read of the BOLD, cleaning."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ketamine_fc.config import AtlasParams, DenoiseParams
from ketamine_fc.interfaces.atlas import BuildAtlas
from ketamine_fc.interfaces.censoring import CensorFrames
from ketamine_fc.interfaces.signals import DenoiseSignals, ExtractSignals


def init_bold_wf(*, denoise: DenoiseParams = DenoiseParams(), atlas: AtlasParams = AtlasParams(),
                 mem_gb: float = 1.0, name: str = "bold_wf"):
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

    Inputs
    ------
    bold, mask, confounds : str
        Preprocessed BOLD in MNI space, its brain mask, fMRIPrep confounds TSV.
    tr : float
        Repetition time in seconds.

    Outputs
    -------
    timeseries
        Cleaned region means of the retained frames (TSV, one column per region label).
    censoring, design, qc, regions_qc, dseg, table
        Per-frame censoring table, regression design, run QC (JSON), per-region QC, atlas image and table.
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["bold", "mask", "confounds", "tr"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(
        fields=["timeseries", "censoring", "nuisance", "design", "qc", "regions_qc", "dseg", "table"]),
        name="outputnode")
    params = denoise.to_dict()
    censor = pe.Node(CensorFrames(params=params), name="censor_frames")
    build_atlas = pe.Node(BuildAtlas(atlas_dir=atlas.atlas_dir, hippocampus_split_y=atlas.hippocampus_split_y,
                                     min_region_voxels=atlas.min_region_voxels), name="build_atlas", mem_gb=0.5)
    extract = pe.Node(ExtractSignals(subcortical_cleanup=denoise.subcortical_cleanup,
                                     adjacent_cortex_mm=denoise.adjacent_cortex_mm),
                      name="extract_signals", mem_gb=mem_gb)
    clean = pe.Node(DenoiseSignals(params=params, min_region_voxels=atlas.min_region_voxels),
                    name="denoise_signals")
    workflow.connect([
        (inputnode, censor, [("confounds", "confounds"), ("tr", "tr")]),
        (inputnode, build_atlas, [("mask", "reference"), ("mask", "mask")]),
        (inputnode, extract, [("bold", "bold"), ("mask", "mask")]),
        (build_atlas, extract, [("dseg", "dseg"), ("table", "table")]),
        (extract, clean, [("signals", "signals")]),
        (censor, clean, [("censoring", "censoring"), ("nuisance", "nuisance")]),
        (build_atlas, clean, [("table", "table")]),
        (inputnode, clean, [("tr", "tr")]),
        (censor, outputnode, [("censoring", "censoring"), ("nuisance", "nuisance")]),
        (clean, outputnode, [("timeseries", "timeseries"), ("design", "design"), ("qc", "qc"),
                             ("regions_qc", "regions_qc")]),
        (build_atlas, outputnode, [("dseg", "dseg"), ("table", "table")]),
    ])
    return workflow


def estimate_bold_mem_gb(n_frames: int, shape=(91, 109, 91)) -> float:
    """Peak memory of the streamed read: one chunk of frames plus the kept signals, with a margin."""
    n_vox = int(shape[0]) * int(shape[1]) * int(shape[2])
    chunk = 32 * 2**20 * 3  # decompressed chunk, gathered copy, float32 conversion
    kept = n_frames * 20000 * 8  # region means, subcortical voxels, adjacent cortex, QC sample
    return round(0.3 + (chunk + kept + n_vox * 40) / 2**30, 2)
