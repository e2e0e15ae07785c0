"""The combined atlas on a BOLD grid: Gordon 333 cortex + Seitzman 300 subcortical and cerebellar ROIs.

- Gordon 333 (index = parcel id 1-333): the 1 mm MNI152NLin6Asym image resampled to the grid with
  nearest neighbour through the affines.
- Seitzman 300 subcortical/cerebellar ROIs (index = 1000 + ROI number): 4 mm spheres built from their
  coordinates directly on the grid, except the 8 limbic ROIs that become whole Harvard-Oxford structures
  (amygdala 10/20, accumbens 11/21, hippocampus 9/19 cut at MNI y = ``hippocampus_split_y``, anterior
  = y > split). The antero-medial thalamus pair (263/262) stays as spheres.

Where definitions overlap, later ones win: Gordon parcels < spheres < whole structures. Subcortical
definitions thus take the voxels the (surface-derived) cortical parcels spill into; a voxel inside two
spheres goes to the nearer centre. A consequence: Gordon parcel 314 (right medial temporal, community
None) lies almost wholly inside Harvard-Oxford right hippocampus (7 of its 388 voxels remain at 1 mm,
1 at 2 mm, none on the 3 mm colornest grid); like every region with fewer than ``min_voxels`` voxels it
stays in the table, flagged ``missing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd

from ketamine_fc.atlases.tables import HO_STRUCTURE, gordon_table, label_volume, seitzman_table
from ketamine_fc.config import TEMPLATES as SUPPORTED_SPACES
from ketamine_fc.core.parcellation import count_voxels, resample_labels_nn, sphere_labels, voxel_centres_mm
from ketamine_fc.errors import AtlasError, InputError

SUBCORTICAL = ("hippocampus", "amygdala", "basalGanglia", "thalamus", "cerebellum")
SEITZMAN_OFFSET = 1000
N_GORDON = 333
ANTERIOR = {236: True, 237: True, 238: False, 239: False}
#: The atlas images are on the FSL MNI152 grid (MNI152NLin6Asym). BOLD in MNI152NLin2009cAsym (another template
#: in the same coordinate convention) is refused unless --allow-template-mismatch accepts using the images as they
#: are (no TemplateFlow transform is applied; regions can sit a few millimetres off): ketamine_fc.plan.
#: registered files that :func:`load_atlas` reads
BUILD_FILES = ("gordon333_1mm", "gordon333_labels", "seitzman300_rois", "seitzman300_anatomy",
               "harvard_oxford_sub_1mm")


def resolve_build_files(atlas_dir=None, *, surface=False) -> dict:
    """Verified local paths of every file the combined atlas is built from (downloading what is missing).

    With ``surface`` the files of the atlas on fs_LR grayordinates, with the group-average midthickness surfaces
    (:mod:`ketamine_fc.atlases.surface`). Raises :class:`AtlasError` naming the first file that can be neither found
    nor downloaded.
    """
    from ketamine_fc.atlases.registry import resolve

    if surface:
        from ketamine_fc.atlases.surface import CIFTI_BUILD_FILES, GROUP_SURFACES

        return {key: resolve(key, atlas_dir) for key in (*CIFTI_BUILD_FILES, *GROUP_SURFACES.values())}
    return {key: resolve(key, atlas_dir) for key in BUILD_FILES}


def atlas_for_space(space: str) -> str:
    """The template of the atlas images to use for BOLD data in ``space`` (``res-*`` suffixes ignored).

    Raises :class:`AtlasError` naming the space for anything but the supported MNI templates.
    """
    name = str(space).split(":")[0].split("_res-")[0]
    if name.startswith("space-"):
        name = name[len("space-"):]
    if name not in SUPPORTED_SPACES:
        raise AtlasError(f"BOLD data in space {space!r} cannot be parcellated: the atlases are defined in MNI "
                         f"space ({' or '.join(SUPPORTED_SPACES)}); use fMRIPrep outputs in one of these")
    return "MNI152NLin6Asym"


@dataclass
class Atlas:
    """Region labels on a grid (``dseg``, int32) and the table describing every region.

    Table columns: ``index, label, network, structure, hemisphere, atlas, limbic_role, definition,
    n_voxels`` (in the mask, or the whole grid) and ``missing`` (fewer than ``min_voxels``: report n/a).
    """

    dseg: nb.Nifti1Image
    table: pd.DataFrame

    @property
    def data(self) -> np.ndarray:
        """Label array on the grid."""
        return np.asarray(self.dseg.dataobj, dtype=np.int32)

    @property
    def indices(self) -> np.ndarray:
        return self.table["index"].to_numpy(dtype=np.int64)

    @property
    def labels(self) -> list:
        return self.table["label"].tolist()

    @property
    def cortical(self) -> np.ndarray:
        """True for Gordon cortical parcels (the cortex of the adjacent-cortex regression)."""
        return (self.table["structure"] == "cortex").to_numpy()

    @property
    def missing(self) -> np.ndarray:
        return self.table["missing"].to_numpy(dtype=bool)

    def region_mask(self, index: int) -> np.ndarray:
        """Boolean volume of one region."""
        return self.data == int(index)


def region_table(atlas_dir=None) -> pd.DataFrame:
    """Every region of the combined atlas (without voxel counts), Gordon parcels first."""
    g = gordon_table(atlas_dir)
    s = seitzman_table(atlas_dir)
    s = s[s["anatomical_label"].isin(SUBCORTICAL)]
    hemi = np.where(s["x"] < 0, "L", np.where(s["x"] > 0, "R", "M"))
    definition = np.where(s["roi"].isin(list(HO_STRUCTURE)), "harvard_oxford",
                          [f"sphere_{r:g}mm" for r in s["radius_mm"]])
    return pd.concat([
        pd.DataFrame({"index": g["parcel_id"], "label": [f"Gordon_{i}" for i in g["parcel_id"]],
                      "network": g["community"], "structure": "cortex", "hemisphere": g["hemisphere"],
                      "atlas": "Gordon333", "limbic_role": "", "definition": "parcel"}),
        pd.DataFrame({"index": SEITZMAN_OFFSET + s["roi"], "label": [f"Seitzman_{i}" for i in s["roi"]],
                      "network": s["network"], "structure": s["anatomical_label"], "hemisphere": hemi,
                      "atlas": "Seitzman300", "limbic_role": s["limbic_role"], "definition": definition}),
    ], ignore_index=True)


def _image(img, what):
    if isinstance(img, (str, Path)):
        if not Path(img).is_file():
            raise InputError(f"the {what} image does not exist", path=img)
        return nb.load(str(img))
    return img


def _mask(mask_img, shape, affine):
    mask = _image(mask_img, "brain mask")
    path = mask_img if isinstance(mask_img, (str, Path)) else None
    if tuple(mask.shape[:3]) != tuple(shape) or not np.allclose(mask.affine, affine, atol=1e-3):
        raise InputError(f"the brain mask grid {tuple(mask.shape[:3])} differs from the reference grid "
                         f"{tuple(shape)} (shape or affine)", path=path)
    data = np.asarray(mask.dataobj)
    return (data[..., 0] if data.ndim == 4 else data) > 0


def load_atlas(ref_img, atlas_dir=None, *, hippocampus_split_y=-21.0, mask_img=None, min_voxels=3) -> Atlas:
    """Build the combined atlas on the grid of ``ref_img`` (a path or image in MNI space).

    Parameters
    ----------
    ref_img : BOLD, boldref or mask (only its shape and affine are used)
    atlas_dir : directory with the atlas files (see :func:`ketamine_fc.atlases.registry.resolve`)
    hippocampus_split_y : MNI y (mm) dividing anterior (y > split) from posterior hippocampus
    mask_img : optional brain mask on the same grid; voxel counts are taken inside it
    min_voxels : regions with fewer voxels are kept in the table and flagged ``missing``

    Returns
    -------
    Atlas
    """
    ref = _image(ref_img, "reference")
    shape, affine = tuple(int(n) for n in ref.shape[:3]), np.asarray(ref.affine, dtype=np.float64)
    table = region_table(atlas_dir)

    gordon, g_aff = label_volume("gordon333_1mm", atlas_dir)
    dseg = resample_labels_nn(gordon, g_aff, shape, affine).astype(np.int32)
    dseg[(dseg < 1) | (dseg > N_GORDON)] = 0

    seitz = seitzman_table(atlas_dir).set_index("roi")
    is_sphere = (table["atlas"] == "Seitzman300") & (table["definition"] != "harvard_oxford")
    rois = (table.loc[is_sphere, "index"] - SEITZMAN_OFFSET).to_numpy()
    spheres = sphere_labels(seitz.loc[rois, ["x", "y", "z"]].to_numpy(), seitz.loc[rois, "radius_mm"].to_numpy(),
                            rois + SEITZMAN_OFFSET, shape, affine)
    dseg = np.where(spheres > 0, spheres, dseg)

    ho, h_aff = label_volume("harvard_oxford_sub_1mm", atlas_dir)
    ho = resample_labels_nn(ho, h_aff, shape, affine)
    y = voxel_centres_mm(shape, affine)[:, 1].reshape(shape)
    for roi, label in HO_STRUCTURE.items():
        voxels = ho == label
        if roi in ANTERIOR:
            voxels &= (y > hippocampus_split_y) if ANTERIOR[roi] else (y <= hippocampus_split_y)
        dseg[voxels] = SEITZMAN_OFFSET + roi

    mask = None if mask_img is None else _mask(mask_img, shape, affine)
    table["n_voxels"] = count_voxels(dseg, table["index"].to_numpy(), mask)
    table["missing"] = table["n_voxels"] < int(min_voxels)
    img = nb.Nifti1Image(dseg.astype(np.int32), affine)
    img.header.set_data_dtype(np.int32)
    img.header.set_xyzt_units("mm")
    img.set_sform(affine, code=4)  # MNI152 (aligned to a standard space)
    img.set_qform(affine, code=4)
    return Atlas(img, table)
