"""Regions on CIFTI-2 grayordinates (fs_LR 32k surfaces + subcortical voxels, the "91k" space).

The surface counterpart of the volume atlas (:func:`ketamine_fc.atlases.build.load_atlas`) and of
:func:`ketamine_fc.core.regions.plan_extraction`, on plain arrays (reading the files is
:mod:`ketamine_fc.utils.cifti_io`):

- cortex: the Gordon parcel of each cortical grayordinate, read from the dlabel's per-vertex labels through
  the grayordinate's vertex index (index = parcel id, as in the volume path); the medial wall and
  unlabelled vertices get 0;
- subcortex: CIFTI volume voxels carry their structure, so the 8 limbic ROIs expanded to whole structures
  take the CIFTI structures in place of Harvard-Oxford labels (amygdala, accumbens, hippocampus cut at MNI
  ``y = hippocampus_split_y`` with anterior = ``y > split``, the volume path's cut), and the antero-medial
  thalamus ROIs are their Seitzman spheres restricted to the thalamus of their hemisphere. Index =
  1000 + Seitzman ROI, the volume path's numbering, so networks and FC code take the regions unchanged;
- adjacent cortex: world coordinates of cortical grayordinates (surface vertices, e.g. the midthickness)
  and of voxels (ijk through the affine), fed to :func:`ketamine_fc.core.subcortical.adjacent_cortex_weights`;
  every cortical grayordinate counts as cortex (WashU ``pfm_regress_adjacent_cortex`` uses all of them);
- parcel means: the sparse averaging matrix of :func:`ketamine_fc.core.parcellation.region_means_matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from ketamine_fc.core.parcellation import region_means_matrix

if TYPE_CHECKING:
    from ketamine_fc.core.regions import ExtractionPlan

#: region index of a Seitzman ROI (ketamine_fc.atlases.build.SEITZMAN_OFFSET)
SEITZMAN_OFFSET = 1000
#: the limbic Seitzman ROIs expanded to whole structures, with the CIFTI structure replacing the Harvard-Oxford
#: label of the volume path (ketamine_fc.atlases.tables.HO_STRUCTURE)
WHOLE_STRUCTURE = {
    244: "CIFTI_STRUCTURE_AMYGDALA_LEFT", 245: "CIFTI_STRUCTURE_AMYGDALA_RIGHT",
    247: "CIFTI_STRUCTURE_ACCUMBENS_LEFT", 246: "CIFTI_STRUCTURE_ACCUMBENS_RIGHT",
    236: "CIFTI_STRUCTURE_HIPPOCAMPUS_LEFT", 238: "CIFTI_STRUCTURE_HIPPOCAMPUS_LEFT",
    237: "CIFTI_STRUCTURE_HIPPOCAMPUS_RIGHT", 239: "CIFTI_STRUCTURE_HIPPOCAMPUS_RIGHT",
}
#: hippocampal ROIs: True = anterior part (y > split), False = posterior (y <= split) (atlases.build.ANTERIOR)
ANTERIOR = {236: True, 237: True, 238: False, 239: False}
#: Seitzman spheres kept only inside one CIFTI structure: the antero-medial thalamus pair (left 263, right 262)
SPHERE_WITHIN = {263: "CIFTI_STRUCTURE_THALAMUS_LEFT", 262: "CIFTI_STRUCTURE_THALAMUS_RIGHT"}
CORTEX_STRUCTURES = ("CIFTI_STRUCTURE_CORTEX_LEFT", "CIFTI_STRUCTURE_CORTEX_RIGHT")


def cortex_parcel_labels(vertex_labels, vertices) -> np.ndarray:
    """Parcel id of each cortical grayordinate of one hemisphere.

    Parameters
    ----------
    vertex_labels : (n_vertices,) int array
        Parcel id of every mesh vertex (0 = unlabelled / medial wall), e.g. from a dlabel.
    vertices : (n,) int array
        Mesh vertex of each grayordinate of that hemisphere (the dtseries brain model's vertex indices).

    Returns
    -------
    (n,) int32 array; grayordinates on unlabelled vertices get 0.
    """
    vertex_labels = np.asarray(vertex_labels).ravel()
    vertices = np.asarray(vertices, dtype=np.intp).ravel()
    if vertices.size and (vertices.min() < 0 or vertices.max() >= vertex_labels.size):
        raise ValueError(f"vertex indices run from {vertices.min()} to {vertices.max()}, outside the "
                         f"{vertex_labels.size}-vertex labels (label and data meshes differ)")
    out = vertex_labels[vertices].astype(np.int32)
    out[out < 0] = 0
    return out


def surface_xyz_mm(vertex_xyz_mm, vertices) -> np.ndarray:
    """World (mm) coordinates (n, 3) of the grayordinates on ``vertices`` of a surface with (n_vertices, 3) coords."""
    coords = np.asarray(vertex_xyz_mm, dtype=np.float64).reshape(-1, 3)
    vertices = np.asarray(vertices, dtype=np.intp).ravel()
    if vertices.size and (vertices.min() < 0 or vertices.max() >= len(coords)):
        raise ValueError(f"vertex indices run to {vertices.max()}, beyond the {len(coords)}-vertex surface")
    return coords[vertices]


def voxel_xyz_mm(ijk, affine) -> np.ndarray:
    """World (mm) coordinates (n, 3) of voxel indices (n, 3) through a 4x4 voxel-to-world affine."""
    ijk = np.asarray(ijk, dtype=np.float64).reshape(-1, 3)
    affine = np.asarray(affine, dtype=np.float64)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def _sphere_table(spheres):
    if spheres is None or len(spheres) == 0:
        return np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros(0)
    rois = np.asarray(spheres["roi"], dtype=np.int64)
    centres = np.column_stack([np.asarray(spheres[c], dtype=np.float64) for c in ("x", "y", "z")])
    radii = np.asarray(spheres["radius_mm"], dtype=np.float64)
    return rois, centres, radii


def subcortical_labels(structure, xyz_mm, spheres=None, *, hippocampus_split_y=-21.0) -> np.ndarray:
    """Seitzman region index (1000 + ROI) of each CIFTI voxel grayordinate; 0 where no region lies.

    Parameters
    ----------
    structure : (n,) str array
        CIFTI structure of each voxel (``CIFTI_STRUCTURE_HIPPOCAMPUS_LEFT`` ...).
    xyz_mm : (n, 3) world coordinates of the voxels (MNI mm).
    spheres : table with columns ``roi, x, y, z, radius_mm`` (e.g. rows of ``seitzman_table``), optional
        Seitzman ROIs built as spheres on the voxels (radius inclusive; a voxel in several spheres goes to
        the nearest centre). ROIs in :data:`SPHERE_WITHIN` (the antero-medial thalamus 263/262) only take
        voxels of their thalamus. Pass those two rows for the limbic set, or every subcortical/cerebellar
        ROI for the volume path's full set.
    hippocampus_split_y : MNI y (mm) between anterior (y > split) and posterior hippocampus.

    Whole structures (:data:`WHOLE_STRUCTURE`) are applied after the spheres and win, as in the volume path.

    Returns
    -------
    (n,) int32 array.
    """
    structure = np.asarray(structure).astype(str).ravel()
    xyz = np.asarray(xyz_mm, dtype=np.float64).reshape(-1, 3)
    if len(structure) != len(xyz):
        raise ValueError(f"{len(structure)} structure names for {len(xyz)} voxel coordinates")
    labels = np.zeros(len(xyz), dtype=np.int32)
    best = np.full(len(xyz), np.inf)
    for roi, centre, radius in zip(*_sphere_table(spheres)):
        dist = np.sqrt(((xyz - centre) ** 2).sum(axis=1))
        win = (dist <= radius + 1e-6) & (dist < best)
        if int(roi) in SPHERE_WITHIN:
            win &= structure == SPHERE_WITHIN[int(roi)]
        best[win] = dist[win]
        labels[win] = SEITZMAN_OFFSET + int(roi)
    y = xyz[:, 1]
    for roi, name in WHOLE_STRUCTURE.items():
        voxels = structure == name
        if roi in ANTERIOR:
            voxels &= (y > hippocampus_split_y) if ANTERIOR[roi] else (y <= hippocampus_split_y)
        labels[voxels] = SEITZMAN_OFFSET + roi
    return labels


@dataclass
class GrayordinateRegions:
    """Region index, world coordinates and cortex flag of every grayordinate of a CIFTI file."""

    labels: np.ndarray  # (n,) int32: Gordon parcel id, 1000 + Seitzman ROI, or 0
    xyz_mm: np.ndarray  # (n, 3) float64 world coordinates
    is_cortex: np.ndarray  # (n,) bool: a cortical (surface) grayordinate


def label_grayordinates(n_grayordinates, cortex, voxels=None, spheres=None, *,
                        hippocampus_split_y=-21.0) -> GrayordinateRegions:
    """Regions and coordinates of every grayordinate, from the pieces of a dtseries, a dlabel and surfaces.

    Parameters
    ----------
    n_grayordinates : int
    cortex : sequence of ``(columns, vertices, vertex_labels, vertex_xyz_mm)``, one per hemisphere
        ``columns`` (slice or int array) of the hemisphere's grayordinates, their mesh ``vertices``, the parcel
        id of every mesh vertex and the (n_vertices, 3) surface coordinates.
    voxels : ``(columns, structure, ijk, affine)`` of the voxel grayordinates, optional
    spheres, hippocampus_split_y : see :func:`subcortical_labels`
    """
    n = int(n_grayordinates)
    labels = np.zeros(n, dtype=np.int32)
    xyz = np.full((n, 3), np.nan)
    is_cortex = np.zeros(n, dtype=bool)
    for columns, vertices, vertex_labels, vertex_xyz in cortex:
        labels[columns] = cortex_parcel_labels(vertex_labels, vertices)
        xyz[columns] = surface_xyz_mm(vertex_xyz, vertices)
        is_cortex[columns] = True
    if voxels is not None:
        columns, structure, ijk, affine = voxels
        xyz[columns] = voxel_xyz_mm(ijk, affine)
        labels[columns] = subcortical_labels(structure, xyz[columns], spheres,
                                             hippocampus_split_y=hippocampus_split_y)
    return GrayordinateRegions(labels, xyz, is_cortex)


def parcel_means_matrix(labels, region_index) -> sparse.csr_matrix:
    """Sparse (n_regions, n_grayordinates) averaging matrix: row r holds 1/n_r at the grayordinates of region r.

    The same matrix as the volume path's :func:`~ketamine_fc.core.parcellation.region_means_matrix`; a region
    without grayordinates has an empty row.
    """
    return region_means_matrix(labels, region_index)


def parcel_means(data, weights, *, chunk_bytes=32 * 2**20) -> np.ndarray:
    """Region time series ``data @ weights.T`` as float64 (T, n_regions), for (T, n) data such as float32.

    The grayordinates are taken a range at a time and summed in float64, so memory stays near ``chunk_bytes``
    beyond the input; a memory-mapped dtseries (:func:`ketamine_fc.utils.cifti_io.read_dtseries`) is thereby read
    once, in contiguous pieces.
    """
    weights = sparse.csc_matrix(weights, dtype=np.float64)
    if getattr(data, "ndim", None) != 2 or data.shape[1] != weights.shape[1]:
        raise ValueError(f"data of shape {getattr(data, 'shape', None)} do not match weights over "
                         f"{weights.shape[1]} grayordinates")
    n_frames, n = data.shape
    out = np.zeros((weights.shape[0], n_frames), dtype=np.float64)
    step = max(1, int(chunk_bytes // max(1, 8 * n_frames)))
    for c0 in range(0, n, step):
        part = weights[:, c0: c0 + step]
        if part.nnz:
            out += part @ np.asarray(data[:, c0: c0 + step], dtype=np.float64).T
    return out.T


def plan_cifti_extraction(labels, region_index, cortical, xyz_mm, is_cortex, *, adjacent_cortex_mm=20.0,
                          subcortical_cleanup=True, n_sample=None, seed=0) -> ExtractionPlan:
    """The volume path's :class:`~ketamine_fc.core.regions.ExtractionPlan` for grayordinates.

    Every grayordinate is "in the mask" (``mask_index`` = 0..n-1: the dtseries columns). The weights hold the
    region means, then one adjacent-cortex mean per subcortical grayordinate (the grayordinates of the
    non-cortical regions), averaging every cortical grayordinate within ``adjacent_cortex_mm`` (inclusive).

    Parameters
    ----------
    labels : (n,) region index of each grayordinate (:func:`label_grayordinates`)
    region_index : (R,) region indices in output column order
    cortical : (R,) bool, True for cortical regions
    xyz_mm : (n, 3) world coordinates of the grayordinates
    is_cortex : (n,) bool, the cortical grayordinates (the cortex of the adjacent-cortex regression)
    n_sample : grayordinates sampled for DVARS (default :data:`ketamine_fc.core.regions.DVARS_SAMPLE`)
    """
    # imported here: pandas (regions) and scipy.spatial (subcortical) are not needed for labels and parcel means
    from ketamine_fc.core.regions import DVARS_SAMPLE, ExtractionPlan
    from ketamine_fc.core.subcortical import adjacent_cortex_weights

    labels = np.asarray(labels).ravel()
    n = labels.size
    region_index = np.asarray(region_index, dtype=np.int64)
    cortical = np.asarray(cortical, dtype=bool)
    is_cortex = np.asarray(is_cortex, dtype=bool)
    w_regions = region_means_matrix(labels, region_index)
    counts = np.diff(w_regions.indptr)
    member = w_regions.tocoo()
    row = np.full(n, -1)
    row[member.col] = member.row
    sub_positions = np.zeros(0, dtype=np.intp)
    sub_region = np.zeros(0, dtype=np.intp)
    has_cortex = np.zeros(0, dtype=bool)
    blocks = [w_regions]
    if subcortical_cleanup:
        in_sub_region = np.zeros(n, dtype=bool)
        in_sub_region[row >= 0] = ~cortical[row[row >= 0]]
        sub_positions = np.flatnonzero(in_sub_region & ~is_cortex)
        sub_region = row[sub_positions]
        ctx_positions = np.flatnonzero(is_cortex)
        xyz = np.asarray(xyz_mm, dtype=np.float64)
        adj = adjacent_cortex_weights(xyz[sub_positions], xyz[ctx_positions], adjacent_cortex_mm)
        has_cortex = np.diff(adj.indptr) > 0
        adj = adj.tocoo()
        blocks.append(sparse.csr_matrix((adj.data, (adj.row, ctx_positions[adj.col])), shape=(sub_positions.size, n)))
    rng = np.random.default_rng(seed)
    n_sample = min(DVARS_SAMPLE if n_sample is None else n_sample, n)
    sample = np.sort(rng.choice(n, n_sample, replace=False)) if n_sample else np.zeros(0, dtype=np.intp)
    return ExtractionPlan(mask_index=np.arange(n), weights=sparse.vstack(blocks, format="csr"),
                          n_regions=region_index.size, region_voxels=counts, sub_positions=sub_positions,
                          sub_region=sub_region, sub_has_cortex=has_cortex, sample_positions=sample)
