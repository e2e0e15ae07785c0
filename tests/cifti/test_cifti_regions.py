"""Regions on grayordinates: cortex parcels, limbic structures, adjacent cortex, parcel means, the extraction plan."""

from __future__ import annotations

import nibabel as nb
import numpy as np
import pandas as pd
import pytest
from cifti_builder import volume_parts
from scipy.spatial.distance import cdist

from ketamine_fc.atlases import load_atlas, seitzman_table
from ketamine_fc.atlases import tables as atlas_tables
from ketamine_fc.atlases.build import ANTERIOR as VOLUME_ANTERIOR
from ketamine_fc.atlases.build import SEITZMAN_OFFSET as VOLUME_OFFSET
from ketamine_fc.atlases.build import SUBCORTICAL
from ketamine_fc.core import cifti
from ketamine_fc.core.parcellation import resample_labels_nn
from ketamine_fc.core.subcortical import adjacent_cortex_weights
from ketamine_fc.utils.cifti_io import read_dlabel, read_surface_coords, structure_name


LEFT_THAL, RIGHT_THAL = "CIFTI_STRUCTURE_THALAMUS_LEFT", "CIFTI_STRUCTURE_THALAMUS_RIGHT"


def test_same_regions_and_numbering_as_the_volume_path():
    assert cifti.SEITZMAN_OFFSET == VOLUME_OFFSET
    assert cifti.ANTERIOR == VOLUME_ANTERIOR
    # each whole structure is the CIFTI name of the Harvard-Oxford structure the volume path uses
    for roi, ho in atlas_tables.HO_STRUCTURE.items():
        side, part = atlas_tables.HO_NAMES[ho - 1].split("_", 1)
        assert cifti.WHOLE_STRUCTURE[roi] == structure_name(f"{part}_{side}"), roi
    assert set(cifti.WHOLE_STRUCTURE) | set(cifti.SPHERE_WITHIN) == set(atlas_tables.LIMBIC_ROIS)
    for roi, name in cifti.SPHERE_WITHIN.items():
        assert atlas_tables.LIMBIC_ROIS[roi].startswith("limbic_thalamus") and name.endswith(
            atlas_tables.LIMBIC_ROIS[roi][-1].replace("L", "LEFT").replace("R", "RIGHT"))


def test_cortex_labels_follow_the_vertex_index():
    vertex_labels = np.array([0, 7, 7, 3, 0, 12])
    assert cifti.cortex_parcel_labels(vertex_labels, [5, 1, 0, 3, 4]).tolist() == [12, 7, 0, 3, 0]
    assert cifti.cortex_parcel_labels(vertex_labels, []).tolist() == []
    with pytest.raises(ValueError, match="outside the 6-vertex labels"):
        cifti.cortex_parcel_labels(vertex_labels, [1, 6])


def test_gordon_on_the_91k_cortex(gordon_dlabel, vertex_info):
    dl = read_dlabel(gordon_dlabel)
    left = cifti.cortex_parcel_labels(dl.left, vertex_info["grayl"])
    right = cifti.cortex_parcel_labels(dl.right, vertex_info["grayr"])
    assert left.shape == (29696,) and right.shape == (29716,)
    assert set(np.unique(np.r_[left, right])) == set(range(334))  # every parcel keeps grayordinates
    assert 0.65 < np.mean(np.r_[left, right] > 0) < 0.8  # Gordon leaves about 29% of the cortex unassigned


def _voxels():
    """Voxels on a 2 mm RAS grid: a hippocampus strip along y, a thalamus block on each side, an amygdala."""
    rows = []
    rows += [("HIPPOCAMPUS_LEFT", (-26, y, -12)) for y in range(-40, -4, 2)]
    rows += [("HIPPOCAMPUS_RIGHT", (26, y, -12)) for y in (-24, -22, -21, -20, -18)]
    rows += [("THALAMUS_LEFT", (x, y, z)) for x in (-6, -4, -2, 0) for y in (-14, -10, -6) for z in (6, 8, 10)]
    rows += [("THALAMUS_RIGHT", (x, y, z)) for x in (2, 4, 6) for y in (-14, -10, -6) for z in (6, 8, 10)]
    rows += [("AMYGDALA_LEFT", (-20, -2, -22)), ("AMYGDALA_RIGHT", (20, -2, -22)), ("ACCUMBENS_LEFT", (-12, 16, -6)),
             ("ACCUMBENS_RIGHT", (12, 16, -6)), ("PUTAMEN_LEFT", (-3, -8, 8)), ("CAUDATE_RIGHT", (3, -8, 8))]
    structure = np.array([structure_name(s) for s, _ in rows])
    return structure, np.array([xyz for _, xyz in rows], dtype=float)


def _thalamus_spheres(atlas_dir):
    s = seitzman_table(atlas_dir)
    return s[s["roi"].isin(list(cifti.SPHERE_WITHIN))]


def test_limbic_labels_whole_structures_split_and_thalamus_spheres(atlas_dir):
    structure, xyz = _voxels()
    labels = cifti.subcortical_labels(structure, xyz, _thalamus_spheres(atlas_dir))
    by = pd.DataFrame({"structure": structure, "y": xyz[:, 1], "label": labels})
    hip_l = by[by["structure"] == "CIFTI_STRUCTURE_HIPPOCAMPUS_LEFT"]
    assert set(hip_l.loc[hip_l["y"] > -21, "label"]) == {1236} and set(hip_l.loc[hip_l["y"] <= -21, "label"]) == {1238}
    hip_r = by[by["structure"] == "CIFTI_STRUCTURE_HIPPOCAMPUS_RIGHT"]
    assert hip_r["label"].tolist() == [1239, 1239, 1239, 1237, 1237]  # y = -21 itself is posterior
    assert labels[by["structure"] == "CIFTI_STRUCTURE_AMYGDALA_LEFT"].tolist() == [1244]
    assert labels[by["structure"] == "CIFTI_STRUCTURE_AMYGDALA_RIGHT"].tolist() == [1245]
    assert labels[by["structure"] == "CIFTI_STRUCTURE_ACCUMBENS_LEFT"].tolist() == [1247]
    assert labels[by["structure"] == "CIFTI_STRUCTURE_ACCUMBENS_RIGHT"].tolist() == [1246]
    # thalamus: inside the 4 mm sphere of its own side and inside that thalamus, nothing else
    spheres = _thalamus_spheres(atlas_dir).set_index("roi")
    for roi, name in cifti.SPHERE_WITHIN.items():
        dist = np.linalg.norm(xyz - spheres.loc[roi, ["x", "y", "z"]].to_numpy(float), axis=1)
        expected = (dist <= spheres.loc[roi, "radius_mm"]) & (structure == name)
        assert expected.sum() >= 2, roi
        np.testing.assert_array_equal(labels == 1000 + roi, expected)
        # voxels of other structures inside the sphere stay out (the putamen/caudate voxels sit at its centre)
        assert np.any((dist <= spheres.loc[roi, "radius_mm"]) & (structure != name) & (labels == 0)), roi
    # a left-thalamus voxel inside the right sphere's reach is not given to the right ROI
    assert not np.any((labels == 1262) & (structure == LEFT_THAL))
    assert set(labels[np.isin(structure, [LEFT_THAL, RIGHT_THAL])]) == {0, 1262, 1263}
    # without spheres only the whole structures are labelled; the split can move
    plain = cifti.subcortical_labels(structure, xyz, hippocampus_split_y=-30)
    assert not np.isin(plain, [1262, 1263]).any()
    assert set(plain[(structure == "CIFTI_STRUCTURE_HIPPOCAMPUS_LEFT") & (xyz[:, 1] > -30)]) == {1236}
    with pytest.raises(ValueError, match="3 structure names for 2 voxel coordinates"):
        cifti.subcortical_labels(structure[:3], xyz[:2])


def test_subcortical_labels_agree_with_the_volume_atlas(atlas_dir, ho2mm):
    """CIFTI structures made from the volume path's own Harvard-Oxford labels get the volume atlas's regions."""
    _, affine = ho2mm
    shape = (91, 109, 91)
    ho1, ho1_aff = atlas_tables.label_volume("harvard_oxford_sub_1mm", atlas_dir)
    ho = resample_labels_nn(ho1, ho1_aff, shape, affine)
    atlas = load_atlas(nb.Nifti1Image(np.zeros(shape, np.uint8), affine), atlas_dir)
    parts = volume_parts(ho)
    structure = np.concatenate([np.full(len(ijk), structure_name(n)) for n, ijk in parts])
    ijk = np.concatenate([ijk for _, ijk in parts])
    xyz = cifti.voxel_xyz_mm(ijk, affine)
    seitz = seitzman_table(atlas_dir)
    spheres = seitz[seitz["anatomical_label"].isin(SUBCORTICAL) & ~seitz["roi"].isin(list(cifti.WHOLE_STRUCTURE))]
    ours = cifti.subcortical_labels(structure, xyz, spheres)
    theirs = atlas.data[tuple(ijk.T)]
    theirs = np.where(theirs >= 1000, theirs, 0)  # Gordon parcels spill into the volume; CIFTI has them on the surface
    # by design a thalamus sphere keeps only voxels of its own side's thalamus (the volume path's sphere crosses
    # the midline and the thalamus border); what it leaves goes to another sphere or to no region
    free = ((theirs == 1262) & (structure != RIGHT_THAL)) | ((theirs == 1263) & (structure != LEFT_THAL))
    assert 0 < free.sum() < 10
    np.testing.assert_array_equal(ours[~free], theirs[~free])
    for roi in cifti.WHOLE_STRUCTURE:
        assert np.sum(ours == 1000 + roi) > 50, roi
    assert np.sum(ours == 1262) > 3 and np.sum(ours == 1263) > 3


def test_voxel_and_surface_coordinates():
    affine = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
    np.testing.assert_allclose(cifti.voxel_xyz_mm([[45, 63, 36], [0, 0, 0]], affine), [[0, 0, 0], [90, -126, -72]])
    coords = np.arange(30.0).reshape(10, 3)
    np.testing.assert_array_equal(cifti.surface_xyz_mm(coords, [9, 0]), coords[[9, 0]])
    with pytest.raises(ValueError, match="beyond the 10-vertex surface"):
        cifti.surface_xyz_mm(coords, [10])


@pytest.fixture(scope="module")
def regions91k(grays91k, gordon_dlabel, midthickness, atlas_dir):
    dl = read_dlabel(gordon_dlabel)
    cortex = [(grays91k.model(h).columns, grays91k.model(h).vertices, dl.hemisphere(h),
               read_surface_coords(midthickness[h.split("_")[1][0]])) for h in ("CORTEX_LEFT", "CORTEX_RIGHT")]
    voxels = (grays91k.voxel_columns, grays91k.voxel_structure, grays91k.voxel_ijk, grays91k.affine)
    return cifti.label_grayordinates(grays91k.size, cortex, voxels, _thalamus_spheres(atlas_dir))


def test_label_grayordinates_assembles_cortex_and_voxels(regions91k, grays91k):
    reg = regions91k
    assert reg.labels.shape == (grays91k.size,) and np.isfinite(reg.xyz_mm).all()
    assert reg.is_cortex.sum() == 59412 and reg.is_cortex[:59412].all()
    assert set(np.unique(reg.labels[reg.is_cortex])) == set(range(334))
    sub = set(np.unique(reg.labels[~reg.is_cortex]))
    assert sub == {0, 1236, 1237, 1238, 1239, 1244, 1245, 1246, 1247, 1262, 1263}
    left = grays91k.model("CORTEX_LEFT").columns
    assert np.mean(reg.xyz_mm[left, 0] < 0) > 0.99


def test_adjacent_cortex_on_grayordinates_matches_brute_force(regions91k, rng):
    """The 20 mm adjacent-cortex average over midthickness vertices, against every pairwise distance."""
    reg = regions91k
    sub = rng.choice(np.flatnonzero(~reg.is_cortex), 120, replace=False)
    ctx = np.flatnonzero(reg.is_cortex)
    w = adjacent_cortex_weights(reg.xyz_mm[sub], reg.xyz_mm[ctx], 20.0)
    near = cdist(reg.xyz_mm[sub], reg.xyz_mm[ctx]) <= 20.0
    assert 0 < near.any(axis=1).mean() < 1  # some voxels have cortex within 20 mm, some do not
    expected = near / np.maximum(near.sum(axis=1, keepdims=True), 1)
    np.testing.assert_allclose(w.toarray(), expected, rtol=1e-12)


def test_plan_on_grayordinates(regions91k, grays91k, rng):
    reg = regions91k
    table_index = np.r_[np.arange(1, 334), [1236, 1237, 1238, 1239, 1244, 1245, 1246, 1247, 1262, 1263, 1300]]
    cortical = table_index < 1000
    plan = cifti.plan_cifti_extraction(reg.labels, table_index, cortical, reg.xyz_mm, reg.is_cortex, n_sample=500)
    n = grays91k.size
    assert plan.weights.shape == (table_index.size + plan.sub_positions.size, n)
    np.testing.assert_array_equal(plan.mask_index, np.arange(n))
    assert plan.region_voxels[-1] == 0 and np.all(plan.region_voxels[:-1] > 0)  # 1300 has no grayordinate
    in_sub = np.isin(reg.labels, table_index[~cortical]) & ~reg.is_cortex
    np.testing.assert_array_equal(plan.sub_positions, np.flatnonzero(in_sub))
    np.testing.assert_array_equal(table_index[plan.sub_region], reg.labels[plan.sub_positions])
    # adjacent-cortex rows: brute force on a sample of the subcortical voxels
    pick = rng.choice(plan.sub_positions.size, 60, replace=False)
    ctx = np.flatnonzero(reg.is_cortex)
    near = cdist(reg.xyz_mm[plan.sub_positions[pick]], reg.xyz_mm[ctx]) <= 20.0
    rows = plan.weights[table_index.size + pick].toarray()
    expected = np.zeros_like(rows)
    expected[:, ctx] = near / np.maximum(near.sum(axis=1, keepdims=True), 1)
    np.testing.assert_allclose(rows, expected, rtol=1e-12)
    np.testing.assert_array_equal(plan.sub_has_cortex[pick], near.any(axis=1))
    # region rows are the parcel-means matrix; a product with data gives the means of each region
    data = rng.normal(size=(5, n)).astype(np.float32)
    means = cifti.parcel_means(data, plan.weights[: plan.n_regions])
    for r in (0, 200, 333, 341):
        np.testing.assert_allclose(means[:, r], data[:, reg.labels == table_index[r]].astype(float).mean(axis=1),
                                   rtol=1e-10)
    off = cifti.plan_cifti_extraction(reg.labels, table_index, cortical, reg.xyz_mm, reg.is_cortex,
                                      subcortical_cleanup=False, n_sample=0)
    assert off.weights.shape == (table_index.size, n) and off.sub_positions.size == 0 and off.gather.size == 0


def test_parcel_means_chunks_and_checks(rng):
    labels = rng.integers(0, 6, size=500)
    data = rng.normal(size=(37, 500)).astype(np.float32) + 100
    w = cifti.parcel_means_matrix(labels, [5, 1, 3, 9])
    ref = np.column_stack([data[:, labels == p].astype(np.float64).mean(axis=1) for p in (5, 1, 3)])
    for chunk in (1, 8 * 500 * 3, 2**30):
        out = cifti.parcel_means(data, w, chunk_bytes=chunk)
        assert out.dtype == np.float64 and out.shape == (37, 4)
        np.testing.assert_allclose(out[:, :3], ref, rtol=1e-12)
        assert np.all(out[:, 3] == 0)  # a parcel without grayordinates has an empty row
    with pytest.raises(ValueError, match="do not match weights over 500 grayordinates"):
        cifti.parcel_means(data[:, :400], w)
