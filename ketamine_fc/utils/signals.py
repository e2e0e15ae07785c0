"""The two readers of a run: one pass over the data into :class:`~ketamine_fc.core.extraction.ExtractedSignals`.

- :func:`extract_volume`: a NIfTI BOLD in MNI space, its brain mask and the atlas on its grid; the BOLD is
  streamed frame by frame (:func:`ketamine_fc.utils.bold_stream.stream_bold`).
- :func:`extract_cifti`: a CIFTI-2 dtseries on fs_LR 91k grayordinates and the atlas on them; the file is read a
  range of grayordinates at a time (:func:`ketamine_fc.utils.bold_stream.stream_dtseries`). The cortical
  grayordinates are placed by midthickness surfaces (the participant's, else the fs_LR 32k group average) for
  the adjacent-cortex regression of the subcortical grayordinates, as the WashU ``pfm_regress_adjacent_cortex``
  step does on CIFTI.

Both hand on the same fields, so cleaning, FC, QC and the report never ask which reader ran.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd
from scipy import sparse

from ketamine_fc.core import regions
from ketamine_fc.core.cifti import plan_cifti_extraction, surface_xyz_mm, voxel_xyz_mm
from ketamine_fc.core.extraction import ExtractedSignals
from ketamine_fc.core.parcellation import count_voxels
from ketamine_fc.core.qc import tsnr
from ketamine_fc.errors import InputError
from ketamine_fc.utils.bids import parse_name
from ketamine_fc.utils.bold_stream import stream_bold, stream_dtseries


def read_region_table(path) -> pd.DataFrame:
    """An atlas region table (``index, label, network, structure, ...``) as written by the atlas nodes."""
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["n/a"])


def _tsnr_summary(weights, n_regions, mean, std):
    voxel_tsnr = tsnr(mean, std)
    region_tsnr = np.asarray(weights[:n_regions] @ np.nan_to_num(voxel_tsnr)).ravel()
    brain = float(np.nanmedian(voxel_tsnr)) if np.isfinite(voxel_tsnr).any() else float("nan")
    return region_tsnr, brain


def _space_of(path) -> str:
    return parse_name(Path(path).name)[0].get("space", "")


def extract_volume(bold, mask, dseg, table: pd.DataFrame, *, tr: float, subcortical_cleanup=True,
                   adjacent_cortex_mm=20.0) -> ExtractedSignals:
    """Region means, subcortical voxels with their adjacent cortex and a DVARS sample from one read of a BOLD.

    Raises :class:`InputError` when the mask or atlas is not on the BOLD grid, when the atlas barely overlaps
    the brain mask (the BOLD is not in MNI space), or when the BOLD does not change over time.
    """
    bold_img, mask_img, dseg_img = (nb.load(str(f)) for f in (bold, mask, dseg))
    for name, img in (("brain mask", mask_img), ("atlas", dseg_img)):
        if img.shape[:3] != bold_img.shape[:3] or not np.allclose(img.affine, bold_img.affine, atol=1e-3):
            raise InputError(f"the {name} is not on the BOLD grid ({img.shape[:3]} vs {bold_img.shape[:3]})",
                             path=bold)
    labels = np.asarray(dseg_img.dataobj)
    index = table["index"].to_numpy()
    cortical = (table["structure"] == "cortex").to_numpy()
    plan = regions.plan_extraction(labels, np.asarray(mask_img.dataobj) > 0, bold_img.affine, index, cortical,
                                   adjacent_cortex_mm=adjacent_cortex_mm, subcortical_cleanup=subcortical_cleanup)
    covered = np.mean(plan.region_voxels[cortical] > 0) if cortical.any() else 1.0
    if covered < 0.5:
        raise InputError(f"only {covered:.0%} of the cortical parcels fall inside this BOLD's brain mask: the "
                         "image does not look like it is in MNI space (check --space)", path=bold)
    res = stream_bold(bold, plan.mask_index, plan.weights, plan.gather)
    if res.voxel_std.size and not np.any(res.voxel_std > 0):
        raise InputError("the BOLD series does not change over time anywhere inside the brain mask", path=bold)
    n_sub = plan.sub_positions.size
    region_tsnr, brain_tsnr = _tsnr_summary(plan.weights, plan.n_regions, res.voxel_mean, res.voxel_std)
    return ExtractedSignals(
        kind="volume", space=_space_of(bold), tr=tr, region_index=index,
        region_means=res.weighted[:, : plan.n_regions], region_voxels=plan.region_voxels,
        atlas_voxels=count_voxels(labels, index), region_tsnr=region_tsnr, brain_tsnr=brain_tsnr,
        sub_region=plan.sub_region, sub_has_cortex=plan.sub_has_cortex, sub_voxels=res.gathered[:, :n_sub],
        sub_adjacent=res.weighted[:, plan.n_regions:], sample=res.gathered[:, n_sub:], mean=res.voxel_mean,
        positions=plan.mask_index, grid_shape=bold_img.shape[:3], affine=bold_img.affine, source=str(bold))


def write_mean_volume(signals: ExtractedSignals, path) -> Path:
    """The temporal mean of the BOLD as a 3-D float32 NIfTI on its grid (0 outside the mask): the report's
    background."""
    nb.Nifti1Image(signals.mean_volume(), signals.affine).to_filename(str(path))
    return Path(path)


def grayordinate_coords(grays, surfaces: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """World (mm) coordinates of every grayordinate and the cortex flag.

    ``surfaces`` maps ``"L"``/``"R"`` to (n_vertices, 3) coordinates of the hemispheres' midthickness (None
    leaves the cortical coordinates NaN: they are only needed for the adjacent-cortex regression).
    """
    from ketamine_fc.utils.cifti_io import CORTEX

    xyz = np.full((grays.size, 3), np.nan)
    is_cortex = np.zeros(grays.size, dtype=bool)
    for hemi, name in zip("LR", CORTEX):
        model = grays.model(name)
        is_cortex[model.columns] = True
        if surfaces is not None:
            try:
                xyz[model.columns] = surface_xyz_mm(surfaces[hemi], model.vertices)
            except ValueError as err:
                raise InputError(f"the {hemi} midthickness surface does not fit the dtseries' mesh: {err}") from None
    if grays.volume_models:
        xyz[grays.voxel_columns] = voxel_xyz_mm(grays.voxel_ijk, grays.affine)
    return xyz, is_cortex


def extract_cifti(dtseries, atlas, table: pd.DataFrame, *, tr: float, surfaces=None, atlas_dir=None,
                  subcortical_cleanup=True, adjacent_cortex_mm=20.0) -> ExtractedSignals:
    """The :func:`extract_volume` of a CIFTI-2 dense time series on fs_LR 91k grayordinates.

    Parameters
    ----------
    dtseries : path of the ``*_space-fsLR_den-91k_bold.dtseries.nii``
    atlas : path of the region dlabel on the same grayordinates (:func:`ketamine_fc.atlases.surface.write_cifti_atlas`)
    table : the atlas region table
    tr : repetition time (s), as checked by the plan
    surfaces : ``{"L": path, "R": path}`` of the participant's fs_LR 32k midthickness surfaces, or None for the
        group average of the registry (only read with ``subcortical_cleanup``)

    Every grayordinate is read (a CIFTI file has no brain mask); a grayordinate whose series is constant counts
    as outside the mask for the coverage of its region, as a voxel outside the brain mask does.
    """
    from ketamine_fc.atlases.surface import read_cifti_atlas, surface_coords
    from ketamine_fc.utils.cifti_io import read_grayordinates

    grays, _, _ = read_grayordinates(dtseries)
    labels, atlas_grays = read_cifti_atlas(atlas)
    if not grays.same_as(atlas_grays):
        raise InputError(f"its grayordinates ({grays.describe()}) are not those the atlas was built on "
                         f"({atlas_grays.describe()})", path=dtseries)
    coords = surface_coords(surfaces, atlas_dir) if subcortical_cleanup else None
    xyz, is_cortex = grayordinate_coords(grays, coords)
    index = table["index"].to_numpy()
    plan = plan_cifti_extraction(labels, index, (table["structure"] == "cortex").to_numpy(), xyz, is_cortex,
                                 adjacent_cortex_mm=adjacent_cortex_mm, subcortical_cleanup=subcortical_cleanup)
    res = stream_dtseries(dtseries, plan.weights, plan.gather)
    varies = res.voxel_std > 0
    if not varies.any():
        raise InputError("the time series does not change over time at any grayordinate", path=dtseries)
    members = sparse.csr_matrix(plan.weights[: plan.n_regions])
    members.data[:] = 1.0
    n_sub = plan.sub_positions.size
    region_tsnr, brain_tsnr = _tsnr_summary(plan.weights, plan.n_regions, res.voxel_mean, res.voxel_std)
    return ExtractedSignals(
        kind="cifti", space="fsLR", tr=tr, region_index=index, region_means=res.weighted[:, : plan.n_regions],
        region_voxels=np.rint(members @ varies.astype(np.float64)).astype(np.int64),
        atlas_voxels=plan.region_voxels, region_tsnr=region_tsnr, brain_tsnr=brain_tsnr,
        sub_region=plan.sub_region, sub_has_cortex=plan.sub_has_cortex, sub_voxels=res.gathered[:, :n_sub],
        sub_adjacent=res.weighted[:, plan.n_regions:], sample=res.gathered[:, n_sub:], mean=res.voxel_mean,
        positions=np.arange(grays.size), grid_shape=(grays.size,), affine=grays.affine, source=str(dtseries))


def write_mean_cifti(signals: ExtractedSignals, dtseries, path) -> Path:
    """The temporal mean of every grayordinate as a dense scalar file (one map, ``mean``) on the dtseries' models."""
    from ketamine_fc.utils.cifti_io import read_grayordinates, write_dscalar

    grays, _, _ = read_grayordinates(dtseries)
    means = np.zeros(grays.size, dtype=np.float32)
    means[signals.positions] = signals.mean
    return write_dscalar(path, means[None], ["mean"], grays)
