"""Workflow for one BOLD run: censoring, atlas on the run's grid, one read of the BOLD, cleaning.

The read is the only step that knows the input's kind: a NIfTI volume (:class:`ExtractSignals`) or a CIFTI-2
dense time series on fs_LR 91k grayordinates (:class:`ExtractCiftiSignals`). Both hand on the same
:class:`~ketamine_fc.core.extraction.ExtractedSignals`, so censoring, cleaning and everything after are shared.
"""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ketamine_fc.config import AtlasParams, DenoiseParams
from ketamine_fc.interfaces.atlas import BuildAtlas, BuildCiftiAtlas
from ketamine_fc.interfaces.censoring import CensorFrames
from ketamine_fc.interfaces.signals import DenoiseSignals, ExtractCiftiSignals, ExtractSignals


def init_bold_wf(*, denoise: DenoiseParams = DenoiseParams(), atlas: AtlasParams = AtlasParams(),
                 mem_gb: float = 1.0, build_atlas: bool = True, cifti: bool = False, name: str = "bold_wf"):
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
    cifti : bool
        The run is a CIFTI-2 dense time series on fs_LR 91k grayordinates (``--space fsLR``), not a volume.

    Inputs
    ------
    bold, mask, confounds : str
        Preprocessed BOLD in MNI space, its brain mask, fMRIPrep confounds TSV. With ``cifti`` ``bold`` is the
        ``*_space-fsLR_den-91k_bold.dtseries.nii`` and ``mask`` is not used.
    surfaces : list of str
        Only with ``cifti``: the participant's fs_LR 32k midthickness surfaces (left, right) placing the cortical
        vertices for the subcortical cleanup; empty (the default) uses the fs_LR 32k group average.
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
    inputnode = pe.Node(niu.IdentityInterface(fields=["bold", "mask", "confounds", "tr", "dseg", "table", "surfaces"]),
                        name="inputnode")
    inputnode.inputs.surfaces = []
    outputnode = pe.Node(niu.IdentityInterface(
        fields=["timeseries", "censoring", "nuisance", "design", "qc", "regions_qc", "dseg", "table", "signals",
                "mean", "frames"]),
        name="outputnode")
    params = denoise.to_dict()
    censor = pe.Node(CensorFrames(params=params), name="censor_frames")
    if cifti:
        extract = pe.Node(ExtractCiftiSignals(subcortical_cleanup=denoise.subcortical_cleanup,
                                              adjacent_cortex_mm=denoise.adjacent_cortex_mm,
                                              atlas_dir=str(atlas.atlas_dir) if atlas.atlas_dir else None),
                          name="extract_signals", mem_gb=mem_gb)
        workflow.connect([(inputnode, extract, [("surfaces", "surfaces")])])
    else:
        extract = pe.Node(ExtractSignals(subcortical_cleanup=denoise.subcortical_cleanup,
                                         adjacent_cortex_mm=denoise.adjacent_cortex_mm),
                          name="extract_signals", mem_gb=mem_gb)
        workflow.connect([(inputnode, extract, [("mask", "mask")])])
    clean = pe.Node(DenoiseSignals(params=params, min_region_voxels=atlas.min_region_voxels,
                                   min_region_coverage=atlas.min_region_coverage), name="denoise_signals")
    if build_atlas:
        atlas_wf = init_atlas_wf(atlas=atlas, cifti=cifti)
        workflow.connect([
            (inputnode, atlas_wf, [("bold" if cifti else "mask", "inputnode.reference")]),
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
        (inputnode, extract, [("bold", "bold"), ("tr", "tr")]),
        (extract, clean, [("signals", "signals")]),
        (censor, clean, [("censoring", "censoring"), ("nuisance", "nuisance")]),
        (inputnode, clean, [("tr", "tr")]),
        (censor, outputnode, [("censoring", "censoring"), ("nuisance", "nuisance")]),
        (clean, outputnode, [("timeseries", "timeseries"), ("design", "design"), ("qc", "qc"),
                             ("regions_qc", "regions_qc"), ("frames", "frames")]),
        (extract, outputnode, [("signals", "signals"), ("mean", "mean")]),
    ])
    return workflow


def init_atlas_wf(*, atlas: AtlasParams = AtlasParams(), cifti: bool = False, name: str = "atlas_wf"):
    """The atlas of ``atlas.atlas`` (default the combined Gordon 333 + Seitzman subcortical atlas) on a reference
    grid (or on CIFTI grayordinates).

    .. workflow::

        from ketamine_fc.workflows.bold import init_atlas_wf
        wf = init_atlas_wf()

    Parameters
    ----------
    cifti : bool
        Build it on the grayordinates of a dtseries: Gordon on the fs_LR 32k cortical vertices, the Seitzman
        ROIs on the voxels (:func:`ketamine_fc.atlases.surface.load_cifti_atlas`).

    Inputs
    ------
    reference : str
        An image on the BOLD grid (the atlas does not depend on any brain mask: coverage is judged per run); with
        ``cifti`` a dtseries.

    Outputs
    -------
    dseg, table
        Region labels on the grid (a ``.dlabel.nii`` on the grayordinates with ``cifti``) and the region table.
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["reference"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["dseg", "table"]), name="outputnode")
    builder = BuildCiftiAtlas if cifti else BuildAtlas
    build = pe.Node(builder(atlas_dir=str(atlas.atlas_dir) if atlas.atlas_dir else None, atlas=atlas.atlas,
                            hippocampus_split_y=atlas.hippocampus_split_y, min_region_voxels=atlas.min_region_voxels),
                    name="build_atlas", mem_gb=0.5)
    workflow.connect([
        (inputnode, build, [("reference", "reference")]),
        (build, outputnode, [("dseg", "dseg"), ("table", "table")]),
    ])
    return workflow


def estimate_cifti_mem_gb(n_frames: int, n_grayordinates: int = 91282) -> float:
    """Peak memory of the CIFTI read: one 32 MB range of grayordinates (and its float64 copy) plus the kept
    signals and the adjacent-cortex matrix, with a margin."""
    chunk = 32 * 2**20 * 3
    kept = n_frames * 20000 * 8
    return round(0.3 + (chunk + kept + int(n_grayordinates) * 200) / 2**30, 2)


def estimate_bold_mem_gb(n_frames: int, shape=(91, 109, 91)) -> float:
    """Peak memory of the streamed read: one chunk of frames plus the kept signals, with a margin."""
    shape = tuple(shape) if len(shape) >= 3 else (91, 109, 91)
    n_vox = int(shape[0]) * int(shape[1]) * int(shape[2])
    chunk = 32 * 2**20 * 3  # decompressed chunk, gathered copy, float32 conversion
    kept = n_frames * 20000 * 8  # region means, subcortical voxels, adjacent cortex, QC sample
    return round(0.3 + (chunk + kept + n_vox * 40) / 2**30, 2)
