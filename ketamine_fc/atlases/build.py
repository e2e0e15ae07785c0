"""The combined atlas on a BOLD grid: Gordon 333 cortex + Seitzman 300 subcortical/cerebellar ROIs.

Precedence where definitions overlap: Gordon parcels < Seitzman spheres < whole limbic structures
(subcortical definitions win over the surface-derived cortical parcels; a voxel inside two spheres goes
to the nearer centre).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd

from ketamine_fc.atlases.registry import resolve
from ketamine_fc.atlases.tables import HO_STRUCTURE, gordon_table, seitzman_table
from ketamine_fc.core.parcellation import resample_labels_nn, sphere_labels, voxel_centres_mm

SUBCORTICAL = ("hippocampus", "amygdala", "basalGanglia", "thalamus", "cerebellum")
SEITZMAN_OFFSET = 1000
ANTERIOR = {236: True, 237: True, 238: False, 239: False}


@dataclass
class Atlas:
    """Region labels on a grid and the table describing them."""

    dseg: nb.Nifti1Image
    table: pd.DataFrame


@lru_cache(maxsize=4)
def _volume(path: str):
    img = nb.load(path)
    return np.asarray(img.dataobj).astype(np.int32), img.affine


def region_table(atlas_dir=None) -> pd.DataFrame:
    """Every region of the combined atlas: index, label, network, structure, hemisphere, atlas, limbic_role."""
    g = gordon_table(atlas_dir)
    s = seitzman_table(atlas_dir)
    s = s[s["anatomy"].isin(SUBCORTICAL)]
    hemi = np.where(s["x"] < 0, "L", np.where(s["x"] > 0, "R", "M"))
    return pd.concat([
        pd.DataFrame({"index": g["parcel_id"], "label": [f"Gordon_{i}" for i in g["parcel_id"]],
                      "network": g["community"], "structure": "cortex", "hemisphere": g["hemisphere"],
                      "atlas": "Gordon333", "limbic_role": ""}),
        pd.DataFrame({"index": SEITZMAN_OFFSET + s["roi"], "label": [f"Seitzman_{i}" for i in s["roi"]],
                      "network": s["network"], "structure": s["anatomy"], "hemisphere": hemi,
                      "atlas": "Seitzman300", "limbic_role": s["limbic_role"]}),
    ], ignore_index=True)


def load_atlas(ref_img, atlas_dir=None, *, hippocampus_split_y=-21.0, mask_img=None, min_voxels=3) -> Atlas:
    """Build the combined atlas on the grid of ``ref_img`` (path or image, MNI space).

    The table's ``n_voxels`` counts each region's voxels inside ``mask_img`` (or the whole grid) and
    ``missing`` flags those with fewer than ``min_voxels``; such regions stay in the table.
    """
    ref = nb.load(ref_img) if isinstance(ref_img, (str, Path)) else ref_img
    shape, affine = ref.shape[:3], ref.affine
    table = region_table(atlas_dir)
    gordon, g_aff = _volume(str(resolve("gordon333_1mm", atlas_dir)))
    dseg = resample_labels_nn(gordon, g_aff, shape, affine).astype(np.int32)
    dseg[(dseg < 1) | (dseg > 333)] = 0
    seitz = seitzman_table(atlas_dir).set_index("roi")
    spheres = [r for r in table.loc[table["atlas"] == "Seitzman300", "index"] - SEITZMAN_OFFSET
               if r not in HO_STRUCTURE]
    sph = sphere_labels(seitz.loc[spheres, ["x", "y", "z"]].to_numpy(), seitz.loc[spheres, "radius"].to_numpy(),
                        np.array(spheres) + SEITZMAN_OFFSET, shape, affine)
    dseg[sph > 0] = sph[sph > 0]
    ho, h_aff = _volume(str(resolve("harvard_oxford_sub_1mm", atlas_dir)))
    ho = resample_labels_nn(ho, h_aff, shape, affine)
    y = voxel_centres_mm(shape, affine)[:, 1].reshape(shape)
    for roi, label in HO_STRUCTURE.items():
        voxels = ho == label
        if roi in ANTERIOR:
            voxels &= (y > hippocampus_split_y) if ANTERIOR[roi] else (y <= hippocampus_split_y)
        dseg[voxels] = SEITZMAN_OFFSET + roi
    inside = dseg if mask_img is None else np.where(_mask(mask_img, shape), dseg, 0)
    counts = np.bincount(inside.ravel(), minlength=int(table["index"].max()) + 1)
    table["n_voxels"] = counts[table["index"].to_numpy()]
    table["missing"] = table["n_voxels"] < min_voxels
    img = nb.Nifti1Image(dseg, affine)
    img.header.set_data_dtype(np.int32)
    img.header.set_xyzt_units("mm")
    return Atlas(img, table)


def _mask(mask_img, shape):
    mask = nb.load(mask_img) if isinstance(mask_img, (str, Path)) else mask_img
    data = np.asarray(mask.dataobj) > 0
    if data.shape[:3] != tuple(shape):
        raise ValueError(f"mask shape {data.shape} differs from the reference grid {shape}")
    return data
