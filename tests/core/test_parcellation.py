"""Label resampling, spheres and region averaging, against nilearn and hand-computed cases."""

from __future__ import annotations

import nibabel as nb
import numpy as np
import pandas as pd
import pytest
from nibabel.affines import apply_affine
from nilearn.image import resample_to_img

from ketamine_fc.core.parcellation import (
    count_voxels,
    region_centroids_mm,
    region_means_matrix,
    resample_labels_nn,
    sphere_labels,
    sphere_mask,
    voxel_centres_mm,
    world_to_voxel,
)


def _load(path):
    img = nb.load(str(path))
    return np.asarray(img.dataobj).squeeze().astype(np.int32), img.affine


def _nilearn_nn(data, src_affine, shape, dst_affine):
    out = resample_to_img(nb.Nifti1Image(data, src_affine), nb.Nifti1Image(np.zeros(shape, np.int8), dst_affine),
                          interpolation="nearest", force_resample=True, copy_header=True)
    return np.asarray(out.dataobj)


@pytest.fixture(scope="module")
def ho_2mm(atlas_dir):
    return _load(atlas_dir / "harvard_oxford_sub" / "HarvardOxford-sub-maxprob-thr25-2mm.nii.gz")


@pytest.fixture(scope="module")
def gordon_3mm(atlas_dir):
    return _load(atlas_dir / "gordon333" / "Parcels_MNI_333.nii")


def test_shared_files_really_differ_in_orientation(ho_2mm, gordon_3mm):
    assert ho_2mm[1][0, 0] < 0 < gordon_3mm[1][0, 0]  # LAS vs RAS: the test below is not trivial


@pytest.mark.parametrize("direction", ["ho_to_gordon", "gordon_to_ho"])
def test_resampling_las_and_ras_atlases_matches_nilearn(direction, ho_2mm, gordon_3mm):
    (src, src_aff), (dst, dst_aff) = (ho_2mm, gordon_3mm) if direction == "ho_to_gordon" else (gordon_3mm, ho_2mm)
    ours = resample_labels_nn(src, src_aff, dst.shape, dst_aff)
    ref = _nilearn_nn(src, src_aff, dst.shape, dst_aff)
    assert ours.shape == ref.shape == dst.shape
    assert np.array_equal(ours, ref)
    # labels are preserved, never blended (a smooth interpolator would create new values)
    assert set(np.unique(ours)) <= set(np.unique(src))
    assert len(np.unique(ours)) >= 0.95 * len(np.unique(src))


def test_exact_ties_round_half_up_where_nilearn_follows_float_noise(shared_data, atlas_dir):
    """The colornest grid puts every x and y voxel centre exactly halfway between two 1 mm HO voxels."""
    src, src_aff = _load(atlas_dir / "harvard_oxford_sub" / "HarvardOxford-sub-maxprob-thr25-1mm.nii.gz")
    ref = nb.load(next((shared_data / "fmri" / "fmriprep_colornest001").glob("*_boldref.nii.gz")))
    shape, dst_aff = ref.shape[:3], ref.affine
    ours = resample_labels_nn(src, src_aff, shape, dst_aff)
    # independent reference of the same rule: nibabel's apply_affine through world space, round half up
    ijk = np.indices(shape).reshape(3, -1).T
    cont = apply_affine(np.linalg.inv(src_aff), apply_affine(dst_aff, ijk))
    frac = cont - np.floor(cont)
    assert np.allclose(frac[:, :2], 0.5, atol=1e-6)  # ties in x and y everywhere
    near = np.floor(cont + 0.5 + 1e-9).astype(int)
    inside = np.all((near >= 0) & (near < src.shape), axis=1)
    expected = np.zeros(len(ijk), dtype=src.dtype)
    expected[inside] = src[tuple(near[inside].T)]
    assert np.array_equal(ours.ravel(), expected)
    # nilearn (scipy order-0) takes the other neighbour on some slabs, decided by rounding noise
    theirs = _nilearn_nn(src, src_aff, shape, dst_aff)
    differ = ours != theirs
    assert 0 < differ.mean() < 0.01
    # ... and only there: each differing voxel holds the label of one of its four tied neighbours
    options = []
    for dx in (0, 1):
        for dy in (0, 1):
            idx = np.column_stack([np.floor(cont[:, 0]) + dx, np.floor(cont[:, 1]) + dy, near[:, 2]]).astype(int)
            ok = np.all((idx >= 0) & (idx < src.shape), axis=1)
            lab = np.zeros(len(ijk), dtype=src.dtype)
            lab[ok] = src[tuple(idx[ok].T)]
            options.append(lab)
    flat = differ.ravel()
    assert np.all(np.any(np.stack(options)[:, flat] == theirs.ravel()[flat], axis=0))


def test_oblique_target_grid_matches_nilearn(gordon_3mm):
    src, src_aff = gordon_3mm
    angle = np.deg2rad(12.0)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    dst_aff = np.eye(4)
    dst_aff[:3, :3] = rot @ np.diag([3.5, 3.5, 4.0])
    dst_aff[:3, 3] = [-80.0, -110.0, -60.0]
    shape = (46, 52, 38)
    ours = resample_labels_nn(src, src_aff, shape, dst_aff)
    ref = _nilearn_nn(src, src_aff, shape, dst_aff)
    assert (ours != ref).mean() < 1e-3  # only exact rounding ties could differ
    assert len(np.unique(ours)) > 300


def test_resampling_to_the_same_grid_is_the_identity(gordon_3mm):
    src, aff = gordon_3mm
    assert np.array_equal(resample_labels_nn(src, aff, src.shape, aff), src)


def test_flipped_grid_gives_the_same_world_labels(gordon_3mm):
    src, aff = gordon_3mm
    # LAS version of the same grid: voxel i of the flipped grid is voxel (n-1-i) of the RAS one
    las = aff.copy()
    las[0, 0] = -aff[0, 0]
    las[0, 3] = aff[0, 3] + aff[0, 0] * (src.shape[0] - 1)
    out = resample_labels_nn(src, aff, src.shape, las)
    assert np.array_equal(out, src[::-1])


def test_targets_outside_the_source_get_zero():
    src = np.ones((4, 4, 4), dtype=np.int16)
    dst_aff = np.diag([1.0, 1.0, 1.0, 1.0])
    dst_aff[:3, 3] = [-3, 0, 0]
    out = resample_labels_nn(src, np.eye(4), (10, 4, 4), dst_aff)
    # target i maps to source x = i - 3: inside for i = 3..6
    assert out[:, 0, 0].tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]
    assert out.dtype == np.int16


def test_voxel_centres_and_world_to_voxel_invert_each_other():
    aff = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
    xyz = voxel_centres_mm((3, 2, 2), aff)
    assert xyz[0].tolist() == [90, -126, -72]
    assert xyz[-1].tolist() == [86, -124, -70]  # C order: last index fastest
    np.testing.assert_allclose(world_to_voxel(xyz, aff), np.indices((3, 2, 2)).reshape(3, -1).T, atol=1e-12)


@pytest.mark.parametrize("radius, n", [(0.5, 1), (1.0, 7), (np.sqrt(2), 19), (np.sqrt(3), 27), (2.0, 33)])
def test_sphere_voxel_counts_by_hand(radius, n):
    # voxels of a 1 mm lattice within r of a voxel centre: 1, 7, 19, 27, 33 (shells 0, 1, sqrt2, sqrt3, 2)
    aff = np.eye(4)
    aff[:3, 3] = -5
    mask = sphere_mask([0, 0, 0], radius, (11, 11, 11), aff)
    assert mask.sum() == n
    assert mask[5, 5, 5]


def test_sphere_on_las_and_ras_grids_covers_the_same_points():
    ras = np.diag([2.0, 2.0, 2.0, 1.0])
    ras[:3, 3] = [-20, -20, -20]
    las = ras.copy()
    las[0, 0], las[0, 3] = -2.0, 20.0
    centre, shape = [5.3, -3.1, 2.0], (21, 21, 21)
    a = sphere_mask(centre, 5.0, shape, ras)
    b = sphere_mask(centre, 5.0, shape, las)
    assert a.sum() > 50 and np.array_equal(a, b[::-1])
    # brute force over all voxel centres
    dist = np.linalg.norm(voxel_centres_mm(shape, ras) - centre, axis=1).reshape(shape)
    assert np.array_equal(a, dist <= 5.0)


def test_overlapping_spheres_go_to_the_nearest_centre():
    aff = np.eye(4)
    aff[:3, 3] = -10
    shape = (21, 21, 21)
    centres = np.array([[-2.0, 0, 0], [2.5, 0, 0]])
    out = sphere_labels(centres, [4.0, 4.0], [7, 9], shape, aff)
    xyz = voxel_centres_mm(shape, aff)
    dist = np.linalg.norm(xyz[:, None, :] - centres[None], axis=2)
    expected = np.where(dist.min(axis=1) <= 4.0, np.array([7, 9])[dist.argmin(axis=1)], 0).reshape(shape)
    assert np.array_equal(out, expected)
    assert (out == 7).sum() > (out == 9).sum()  # the nearer centre takes the shared voxels
    # spheres off the grid are simply empty
    assert not sphere_labels([[500.0, 0, 0]], 4.0, [3], shape, aff).any()


def test_region_means_matrix_matches_pandas_groupby(rng):
    labels = rng.choice([0, 3, 5, 8, 12], size=500)
    data = rng.normal(size=(500, 7))
    indices = np.array([12, 3, 5, 8, 40])  # 40 absent: empty row
    w = region_means_matrix(labels, indices)
    assert w.shape == (5, 500) and w.format == "csr"
    means = w @ data
    ref = pd.DataFrame(data).groupby(labels).mean()
    np.testing.assert_allclose(means[:4], ref.loc[indices[:4]].to_numpy(), rtol=1e-12)
    assert w[4].nnz == 0 and np.all(means[4] == 0)
    np.testing.assert_allclose(np.asarray(w.sum(axis=1)).ravel(), [1, 1, 1, 1, 0])


def test_count_voxels_and_centroids_by_hand():
    dseg = np.zeros((4, 3, 2), dtype=np.int32)
    dseg[0, 0, 0] = dseg[2, 0, 0] = 5
    dseg[1, 2, 1] = 2
    mask = np.ones_like(dseg, dtype=bool)
    mask[2, 0, 0] = False
    assert count_voxels(dseg, [5, 2, 9]).tolist() == [2, 1, 0]
    assert count_voxels(dseg, [5, 2, 9], mask).tolist() == [1, 1, 0]
    aff = np.diag([-2.0, 3.0, 4.0, 1.0])
    aff[:3, 3] = [10, 0, 0]
    cent = region_centroids_mm(dseg, aff, [5, 2, 9])
    np.testing.assert_allclose(cent[0], [10 - 2 * 1, 0, 0])  # mean of voxels i = 0 and 2
    np.testing.assert_allclose(cent[1], [8, 6, 4])
    assert np.isnan(cent[2]).all()
