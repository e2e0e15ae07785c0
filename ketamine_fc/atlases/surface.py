"""The combined atlas on CIFTI-2 grayordinates (fs_LR 91k), the surface counterpart of :func:`load_atlas`.

- Gordon 333 (index = parcel id 1-333) on the cortical vertices, from the registered fs_LR 32k dlabel
  (``gordon333_fslr32k``), through each grayordinate's vertex index.
- Seitzman 300 subcortical and cerebellar ROIs (index = 1000 + ROI) on the voxel grayordinates: the 8 limbic
  ROIs expanded to whole structures take the file's own CIFTI structures (amygdala, accumbens, hippocampus cut
  at MNI y = ``hippocampus_split_y``), the others are their spheres on the voxels, the antero-medial thalamus
  pair only inside its thalamus (:func:`ketamine_fc.core.cifti.subcortical_labels`).

The region table is the volume path's (:func:`~ketamine_fc.atlases.build.region_table`), so FC, network
measures and outputs take the regions unchanged; ``n_voxels`` counts grayordinates. The labels travel between
nodes as a dlabel on the run's grayordinates (:func:`write_cifti_atlas`, :func:`read_cifti_atlas`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc.atlases.build import build_files, region_table
from ketamine_fc.atlases.descriptions import DEFAULT_ATLAS, components, resolve_file
from ketamine_fc.atlases.registry import resolve, sha256
from ketamine_fc.atlases.tables import seitzman_table
from ketamine_fc.core.cifti import cortex_parcel_labels, subcortical_labels, voxel_xyz_mm
from ketamine_fc.core.parcellation import count_voxels
from ketamine_fc.errors import AtlasError, InputError
from ketamine_fc.utils.cifti_io import (CORTEX, Grayordinates, read_dense_labels, read_dlabel, read_grayordinates,
                                        read_surface_coords, write_dense_labels)

#: registered files the default atlas on grayordinates is built from
CIFTI_BUILD_FILES = tuple(ref for _, ref in build_files(surface=True))
#: the fs_LR 32k group-average midthickness surfaces (registry keys), used when a participant has none
GROUP_SURFACES = {"L": "fslr32k_midthickness_L", "R": "fslr32k_midthickness_R"}
GROUP_SURFACES_NAME = "fs_LR 32k S1200 group average"


@dataclass
class CiftiAtlas:
    """Region index of every grayordinate (0 = none) and the region table (``n_voxels`` = grayordinates)."""

    labels: np.ndarray
    table: pd.DataFrame
    grayordinates: Grayordinates
    name: str = DEFAULT_ATLAS


def cifti_region_table(atlas_dir=None, atlas=DEFAULT_ATLAS) -> pd.DataFrame:
    """The volume path's region table, with the definitions of the surface path."""
    table = region_table(atlas_dir, atlas)
    renames = {c.whole_structures()["definition"]: c.whole_structures().get("cifti_definition", "cifti_structure")
               for c in components(atlas, atlas_dir) if c.whole_structures()}
    return table.assign(definition=table["definition"].replace(renames))


def label_cifti(grays: Grayordinates, atlas_dir=None, *, hippocampus_split_y=-21.0, table=None,
                atlas=DEFAULT_ATLAS) -> np.ndarray:
    """Region index (int32) of every grayordinate of ``grays``: Gordon on the cortex, Seitzman on the voxels (or
    the components of another described atlas: label images on fs_LR 32k on the cortex)."""
    table = cifti_region_table(atlas_dir, atlas) if table is None else table
    labels = np.zeros(grays.size, dtype=np.int32)
    for comp in components(atlas, atlas_dir):
        rows = table[table["atlas"] == comp.name]
        if comp.get("definition", "parcel") == "parcel":
            ref = comp.files("fsLR").get("32k")
            if ref is None:
                raise AtlasError(f"atlas {comp.key!r} describes no fs_LR 32k label file (files.fsLR.32k)")
            dlabel = read_dlabel(resolve_file(comp, ref, atlas_dir))
            own = rows["index"].to_numpy() - comp.offset
            for hemi in CORTEX:
                model = grays.model(hemi)
                values = cortex_parcel_labels(dlabel.hemisphere(hemi), model.vertices)
                keep = np.isin(values, own) if comp.offset else values > 0
                labels[np.arange(model.columns.start, model.columns.stop)[keep]] = values[keep] + comp.offset
        elif comp.key == "seitzman300":
            if not grays.volume_models:
                continue
            is_sphere = rows["definition"] != comp.whole_structures().get("cifti_definition", "cifti_structure")
            rois = (rows.loc[is_sphere, "index"].to_numpy() - comp.offset).astype(int)
            seitz = seitzman_table(atlas_dir)
            spheres = seitz[seitz["roi"].isin(rois)]
            labels[grays.voxel_columns] = subcortical_labels(grays.voxel_structure,
                                                             voxel_xyz_mm(grays.voxel_ijk, grays.affine), spheres,
                                                             hippocampus_split_y=hippocampus_split_y)
        else:
            raise AtlasError(f"atlas {comp.key!r}: on grayordinates only label images (parcels) and the Seitzman "
                             "ROIs can be built")
    return labels


def load_cifti_atlas(reference, atlas_dir=None, *, hippocampus_split_y=-21.0, min_voxels=3,
                     atlas=DEFAULT_ATLAS) -> CiftiAtlas:
    """The combined atlas on the grayordinates of ``reference`` (a dtseries path or :class:`Grayordinates`).

    Raises :class:`InputError` when the reference is not a dtseries on fs_LR 32k, :class:`AtlasError` when an
    atlas file cannot be found.
    """
    grays = reference if isinstance(reference, Grayordinates) else read_grayordinates(reference)[0]
    table = cifti_region_table(atlas_dir, atlas)
    labels = label_cifti(grays, atlas_dir, hippocampus_split_y=hippocampus_split_y, table=table, atlas=atlas)
    table["n_voxels"] = count_voxels(labels, table["index"].to_numpy())
    table["missing"] = table["n_voxels"] < int(min_voxels)
    return CiftiAtlas(labels, table, grays, str(atlas))


def _colors(index) -> dict:
    """Distinct, stable colours per region (golden-ratio hues), for viewing the dlabel in Workbench."""
    import colorsys

    return {int(i): (*colorsys.hsv_to_rgb((int(i) * 0.618034) % 1.0, 0.65, 0.95), 1.0) for i in index}


def write_cifti_atlas(atlas: CiftiAtlas, path) -> Path:
    """The labels as a dlabel on the atlas's grayordinates (keys = region index, names = region labels)."""
    names = dict(zip(atlas.table["index"].astype(int), atlas.table["label"].astype(str)))
    return write_dense_labels(path, atlas.labels, names, atlas.grayordinates, colors=_colors(names),
                              map_name=atlas.name)


def read_cifti_atlas(path) -> tuple[np.ndarray, Grayordinates]:
    """Region index per grayordinate and the grayordinates of a dlabel written by :func:`write_cifti_atlas`."""
    keys, _, grays = read_dense_labels(path, error=AtlasError)
    return keys, grays


def surface_source(surfaces=None, atlas_dir=None) -> dict:
    """Which midthickness surfaces place the cortical grayordinates, as recorded in the sidecars.

    ``surfaces`` is ``{"L": path, "R": path}`` of the participant's own fs_LR 32k surfaces, or empty for the
    group average of the registry.
    """
    if surfaces:
        return {"Source": "participant", **{h: {"Path": str(p), "Sha256": sha256(p)} for h, p in
                                           sorted(surfaces.items())}}
    from ketamine_fc.atlases.registry import registry

    entries = registry()
    return {"Source": GROUP_SURFACES_NAME,
            **{h: {"Path": entries[k]["path"], "Sha256": entries[k]["sha256"], "URL": entries[k]["url"]}
               for h, k in GROUP_SURFACES.items()}}


def _surface_paths(surfaces=None, atlas_dir=None) -> dict:
    """``{"L": path, "R": path}``: the given midthickness surfaces (both needed), else the group average's."""
    if surfaces:
        missing = {"L", "R"} - set(surfaces)
        if missing:
            raise InputError(f"the {' and '.join(sorted(missing))} midthickness surface is missing")
        return {h: surfaces[h] for h in ("L", "R")}
    return {h: resolve(k, atlas_dir) for h, k in GROUP_SURFACES.items()}


def surface_meshes(surfaces=None, atlas_dir=None) -> dict:
    """``{"L": (coords, faces), "R": ...}`` of the midthickness surfaces: the given ones, else the group's."""
    import nibabel as nb

    meshes = {}
    for hemi, path in _surface_paths(surfaces, atlas_dir).items():
        gii = nb.load(str(path))
        meshes[hemi] = (gii.agg_data("pointset"), gii.agg_data("triangle"))
    return meshes


def surface_coords(surfaces=None, atlas_dir=None) -> dict:
    """World (mm) vertex coordinates per hemisphere (``"L"``, ``"R"``): the given surfaces, else the group's."""
    return {h: read_surface_coords(path) for h, path in _surface_paths(surfaces, atlas_dir).items()}
