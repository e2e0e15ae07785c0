"""The group level places the regions of a surface (fs_LR 91k) run: centroids from the dlabel atlas."""

import nibabel as nb
import numpy as np
import pytest

from ketamine_fc.atlases.surface import load_cifti_atlas, write_cifti_atlas
from ketamine_fc.core.parcellation import label_centroids_mm, region_centroids_mm
from ketamine_fc.group.qc import atlas_centroids, atlas_table_path
from ketamine_fc.simulate.cifti import grayordinates


def test_label_centroids_equal_the_volume_centroids(rng):
    dseg = rng.integers(0, 6, size=(7, 8, 9))
    affine = np.diag([2.0, -2.0, 2.0, 1.0])
    affine[:3, 3] = [-10, 20, -30]
    ijk = np.indices(dseg.shape).reshape(3, -1).T
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    ids = [1, 3, 5, 9]  # 9 absent
    by_hand = np.array([xyz[dseg.ravel() == k].mean(axis=0) if (dseg == k).any() else [np.nan] * 3 for k in ids])
    np.testing.assert_allclose(label_centroids_mm(dseg.ravel(), xyz, ids), by_hand, rtol=1e-12)
    np.testing.assert_allclose(region_centroids_mm(dseg, affine, ids), by_hand, rtol=1e-12)


@pytest.fixture(scope="module")
def surface_outputs(tmp_path_factory, atlas_dir):
    out = tmp_path_factory.mktemp("surface_out")
    atlas = load_cifti_atlas(grayordinates(atlas_dir), atlas_dir)
    stem = out / "atlases" / "atlas-GordonSeitzman_space-fsLR_den-91k_dseg"
    stem.parent.mkdir(parents=True)
    write_cifti_atlas(atlas, stem.with_name(stem.name + ".dlabel.nii"))
    atlas.table.to_csv(stem.with_name(stem.name + ".tsv"), sep="\t", index=False)
    return out, atlas


def test_surface_run_regions_get_centroids_from_the_dlabel(surface_outputs, shared_data):
    out, atlas = surface_outputs
    labels = ["Gordon_1", "Gordon_200", "Seitzman_236", "Seitzman_262", "nowhere"]
    cent, indices, name, n = atlas_centroids(out, labels, "fsLR")
    assert name == "atlas-GordonSeitzman_space-fsLR_den-91k_dseg.dlabel.nii" and n == 1
    assert np.isnan(indices[-1]) and np.isnan(cent[-1]).all()
    assert atlas_table_path(out / "atlases" / name).name == "atlas-GordonSeitzman_space-fsLR_den-91k_dseg.tsv"
    # by hand: parcel 1 (left) and 200 (right) at the S1200 midthickness vertices the dlabel gives them
    img = nb.load(shared_data / "atlases" / "gordon333" / "tpl-fsLR_atlas-Gordon_den-32k_dseg.dlabel.nii")
    names = {k: v[0] for k, v in img.header.get_axis(0).label[0].items()}
    keys = np.asarray(img.dataobj[0]).astype(int)
    grays = grayordinates()
    for pos, (parcel, hemi) in enumerate([(1, "L"), (200, "R")]):
        structure = f"CIFTI_STRUCTURE_CORTEX_{'LEFT' if hemi == 'L' else 'RIGHT'}"
        (sl, bm), = [(s, b) for nm, s, b in img.header.get_axis(1).iter_structures() if nm == structure]
        vertices = bm.vertex[np.array([names[k] == f"Parcel_{parcel}" for k in keys[sl]])]
        vertices = np.intersect1d(vertices, grays.model(structure).vertices)  # the 91k cortex (no medial wall)
        surf = nb.load(shared_data / "surfaces" / "fslr32k" / f"S1200.{hemi}.midthickness_MSMAll.32k_fs_LR.surf.gii")
        np.testing.assert_allclose(cent[pos], surf.agg_data("pointset")[vertices].mean(axis=0), atol=1e-4)
    assert cent[0, 0] < 0 < cent[1, 0]  # left and right hemisphere
    assert np.isfinite(cent[2:4]).all() and cent[2, 2] < 0  # the limbic voxels: amygdala below the AC plane
