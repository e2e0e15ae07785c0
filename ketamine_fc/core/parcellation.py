"""Label images on arbitrary grids: nearest-neighbour resampling through affines, spheres from coordinates."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def voxel_centres_mm(shape, affine) -> np.ndarray:
    """World (mm) coordinates of every voxel centre of a grid, in C order, shape (n, 3)."""
    ijk = np.indices(tuple(shape[:3]), dtype=np.float64).reshape(3, -1).T
    return ijk @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]


def resample_labels_nn(labels, src_affine, dst_shape, dst_affine) -> np.ndarray:
    """Nearest-neighbour resampling of a label volume onto another grid, through both affines.

    Target voxel centres are mapped into source voxel space and rounded half up; targets falling outside
    the source get 0. Orientation (LAS/RAS) is handled by the affines.
    """
    labels = np.asarray(labels)
    xyz = voxel_centres_mm(dst_shape, dst_affine)
    ijk = xyz @ np.linalg.inv(src_affine)[:3, :3].T + np.linalg.inv(src_affine)[:3, 3]
    ijk = np.floor(ijk + 0.5).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < np.array(labels.shape[:3])), axis=1)
    out = np.zeros(len(xyz), dtype=labels.dtype)
    out[inside] = labels[ijk[inside, 0], ijk[inside, 1], ijk[inside, 2]]
    return out.reshape(tuple(dst_shape[:3]))


def sphere_labels(centres_mm, radii_mm, values, shape, affine) -> np.ndarray:
    """Label volume of spheres: each voxel within a sphere gets the value of the nearest such centre."""
    centres = np.asarray(centres_mm, dtype=float).reshape(-1, 3)
    radii = np.broadcast_to(np.asarray(radii_mm, dtype=float), (len(centres),))
    out = np.zeros(int(np.prod(shape[:3])), dtype=np.int32)
    if not len(centres):
        return out.reshape(tuple(shape[:3]))
    xyz = voxel_centres_mm(shape, affine)
    box = np.all((xyz >= centres.min(0) - radii.max() - 1) & (xyz <= centres.max(0) + radii.max() + 1), axis=1)
    dist, nearest = cKDTree(centres).query(xyz[box])
    hit = dist <= radii[nearest] + 1e-6
    idx = np.flatnonzero(box)[hit]
    out[idx] = np.asarray(values)[nearest[hit]]
    return out.reshape(tuple(shape[:3]))
