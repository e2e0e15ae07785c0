"""Label images on arbitrary grids: nearest-neighbour resampling through affines, spheres, region averaging.

Every function works on plain arrays plus 4x4 voxel-to-world (mm) affines, so LAS and RAS files (or
oblique grids) are handled by the affines alone; nothing assumes a voxel order.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def voxel_centres_mm(shape, affine) -> np.ndarray:
    """World (mm) coordinates of every voxel centre of a grid, in C order, shape (n, 3)."""
    ijk = np.indices(tuple(shape[:3]), dtype=np.float64).reshape(3, -1).T
    affine = np.asarray(affine, dtype=np.float64)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def world_to_voxel(xyz_mm, affine) -> np.ndarray:
    """Continuous voxel coordinates (n, 3) of world points (n, 3) on the grid of ``affine``."""
    inv = np.linalg.inv(np.asarray(affine, dtype=np.float64))
    return np.asarray(xyz_mm, dtype=np.float64).reshape(-1, 3) @ inv[:3, :3].T + inv[:3, 3]


def _round_half_up(x):
    return np.floor(np.asarray(x) + 0.5).astype(np.int64)


def resample_labels_nn(labels, src_affine, dst_shape, dst_affine) -> np.ndarray:
    """Nearest-neighbour resampling of a label volume onto another grid, through both affines.

    Each target voxel centre is mapped into source voxel space (``inv(src_affine) @ dst_affine``) and
    rounded half up; targets whose nearest source voxel lies outside the source volume get 0.

    Parameters
    ----------
    labels : (I, J, K) array (a trailing singleton 4th axis is accepted)
    src_affine, dst_affine : (4, 4) voxel-to-world affines
    dst_shape : target grid shape (first three entries used)

    Returns
    -------
    (dst_shape[:3]) array of the source dtype.
    """
    labels = np.asarray(labels)
    if labels.ndim == 4 and labels.shape[3] == 1:
        labels = labels[..., 0]
    dst_shape = tuple(int(n) for n in dst_shape[:3])
    xform = np.linalg.inv(np.asarray(src_affine, dtype=np.float64)) @ np.asarray(dst_affine, dtype=np.float64)
    lin, off = xform[:3, :3], xform[:3, 3]
    src_shape = np.array(labels.shape[:3])
    if np.count_nonzero(lin - np.diag(np.diag(lin))) == 0:
        # axis-aligned grids (the usual case): one index vector per axis, no per-voxel coordinates
        axes = [_round_half_up(np.arange(n) * lin[d, d] + off[d]) for d, n in enumerate(dst_shape)]
        ok = [(a >= 0) & (a < src_shape[d]) for d, a in enumerate(axes)]
        out = np.zeros(dst_shape, dtype=labels.dtype)
        sub = labels[np.ix_(*(a[m] for a, m in zip(axes, ok)))]
        out[np.ix_(*(np.flatnonzero(m) for m in ok))] = sub
        return out
    out = np.zeros(dst_shape, dtype=labels.dtype)
    jk = np.indices(dst_shape[1:], dtype=np.float64).reshape(2, -1).T
    for i in range(dst_shape[0]):  # one slab at a time keeps memory flat on fine grids
        ijk = np.column_stack([np.full(len(jk), float(i)), jk])
        src = _round_half_up(ijk @ lin.T + off)
        inside = np.all((src >= 0) & (src < src_shape), axis=1)
        slab = np.zeros(len(jk), dtype=labels.dtype)
        slab[inside] = labels[src[inside, 0], src[inside, 1], src[inside, 2]]
        out[i] = slab.reshape(dst_shape[1:])
    return out


def _sphere_box(center, radius, shape, affine):
    """Index ranges of the grid that can hold voxels within ``radius`` of ``center``."""
    corners = np.array([[dx, dy, dz] for dx in (-1, 1) for dy in (-1, 1) for dz in (-1, 1)], dtype=float)
    ijk = world_to_voxel(np.asarray(center, dtype=float) + radius * corners, affine)
    lo = np.maximum(np.floor(ijk.min(axis=0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 2, np.array(shape[:3]))
    return lo, hi


def sphere_mask(center_mm, radius_mm, shape, affine) -> np.ndarray:
    """Boolean volume of the voxels whose centre lies within ``radius_mm`` (inclusive) of ``center_mm``."""
    return sphere_labels([center_mm], [radius_mm], [1], shape, affine) > 0


def sphere_labels(centres_mm, radii_mm, values, shape, affine) -> np.ndarray:
    """Label volume of spheres built on the grid; a voxel inside several spheres takes the nearest centre.

    Parameters
    ----------
    centres_mm : (n, 3) world coordinates
    radii_mm : scalar or (n,)
    values : (n,) int label of each sphere
    shape, affine : target grid

    Returns
    -------
    (shape[:3]) int32 array, 0 outside every sphere.
    """
    shape = tuple(int(n) for n in shape[:3])
    centres = np.asarray(centres_mm, dtype=float).reshape(-1, 3)
    radii = np.broadcast_to(np.asarray(radii_mm, dtype=float), (len(centres),))
    values = np.asarray(values, dtype=np.int32).reshape(-1)
    out = np.zeros(shape, dtype=np.int32)
    best = np.full(shape, np.inf)
    affine = np.asarray(affine, dtype=float)
    for centre, radius, value in zip(centres, radii, values):
        lo, hi = _sphere_box(centre, radius, shape, affine)
        if np.any(hi <= lo):
            continue
        grid = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi)), indexing="ij"), axis=-1)
        xyz = grid @ affine[:3, :3].T + affine[:3, 3]
        dist = np.sqrt(((xyz - centre) ** 2).sum(axis=-1))
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        win = (dist <= radius + 1e-6) & (dist < best[box])
        best[box][win] = dist[win]
        out[box][win] = value
    return out


def count_voxels(dseg, indices, mask=None) -> np.ndarray:
    """Number of voxels of each label in ``indices`` (inside ``mask`` when given)."""
    dseg = np.asarray(dseg)
    labels = dseg[np.asarray(mask, dtype=bool)] if mask is not None else dseg.ravel()
    indices = np.asarray(indices, dtype=np.int64)
    counts = np.bincount(labels.astype(np.int64).ravel(), minlength=int(indices.max(initial=0)) + 1)
    return counts[indices]


def region_means_matrix(dseg_flat_in_mask, indices) -> sparse.csr_matrix:
    """Sparse (n_regions, n_voxels) matrix whose product with voxel data gives region means.

    Row ``r`` holds ``1 / n_r`` at the voxels labelled ``indices[r]``; a region without voxels has an
    empty row (its mean is then 0 and must be reported as missing by the caller).
    """
    labels = np.asarray(dseg_flat_in_mask).astype(np.int64).ravel()
    indices = np.asarray(indices, dtype=np.int64).ravel()
    lut = np.full(max(int(labels.max(initial=0)), int(indices.max(initial=0))) + 1, -1, dtype=np.int64)
    lut[indices] = np.arange(indices.size)
    row = lut[np.clip(labels, 0, None)]
    row[labels <= 0] = -1
    cols = np.flatnonzero(row >= 0)
    rows = row[cols]
    counts = np.bincount(rows, minlength=indices.size)
    return sparse.csr_matrix((1.0 / counts[rows], (rows, cols)), shape=(indices.size, labels.size))


def region_centroids_mm(dseg, affine, indices) -> np.ndarray:
    """World (mm) centroid of the voxel centres of each label in ``indices`` (NaN where a label is absent)."""
    dseg = np.asarray(dseg).astype(np.int64)
    flat = dseg.ravel()
    nz = np.flatnonzero(flat > 0)
    ijk = np.column_stack(np.unravel_index(nz, dseg.shape)).astype(float)
    xyz = ijk @ np.asarray(affine, dtype=float)[:3, :3].T + np.asarray(affine, dtype=float)[:3, 3]
    return label_centroids_mm(flat[nz], xyz, indices)


def label_centroids_mm(keys, xyz_mm, indices) -> np.ndarray:
    """Mean of the points ``xyz_mm`` (n, 3) of each label in ``indices``, given the label ``keys`` (n,) of the
    points (voxels or grayordinates; keys <= 0 and non-finite points ignored); NaN where a label is absent."""
    keys = np.asarray(keys).astype(np.int64)
    xyz = np.asarray(xyz_mm, dtype=float).reshape(-1, 3)
    indices = np.asarray(indices, dtype=np.int64)
    keep = (keys > 0) & np.isfinite(xyz).all(axis=1)
    keys, xyz = keys[keep], xyz[keep]
    size = max(int(keys.max(initial=0)), int(indices.max(initial=0))) + 1
    n = np.bincount(keys, minlength=size).astype(float)
    sums = np.column_stack([np.bincount(keys, weights=xyz[:, d], minlength=size) for d in range(3)])
    with np.errstate(invalid="ignore", divide="ignore"):
        cent = sums / n[:, None]
    return cent[indices]
