"""The combined atlas on the real 3 x 3 x 3.33 mm colornest BOLD grid (MNI152NLin2009cAsym) and on 2 mm."""

from __future__ import annotations

import time

import nibabel as nb
import numpy as np
import pandas as pd
import pytest
from nilearn.image import resample_to_img

from ketamine_fc.atlases import atlas_for_space, load_atlas, region_table
from ketamine_fc.core.parcellation import region_centroids_mm, resample_labels_nn, voxel_centres_mm
from ketamine_fc.errors import AtlasError, InputError

COLORNEST = "fmri/fmriprep_colornest001/sub-colornest001_ses-1_task-rest_run-1_space-MNI152NLin2009cAsym"
LIMBIC = {1244: 10, 1245: 20, 1247: 11, 1246: 21, 1236: 9, 1238: 9, 1237: 19, 1239: 19}


@pytest.fixture(scope="module")
def grid(shared_data):
    ref = nb.load(shared_data / f"{COLORNEST}_boldref.nii.gz")
    return {"ref": ref, "ref_path": shared_data / f"{COLORNEST}_boldref.nii.gz",
            "mask_path": shared_data / f"{COLORNEST}_desc-brain_mask.nii.gz"}


@pytest.fixture(scope="module")
def atlas(grid, atlas_dir):
    return load_atlas(grid["ref_path"], atlas_dir, mask_img=grid["mask_path"])


@pytest.fixture(scope="module")
def nilearn_layers(grid, atlas_dir):
    """Gordon 1 mm and Harvard-Oxford 1 mm resampled to the grid by nilearn (the independent reference)."""
    out = {}
    for name, rel in (("gordon", "gordon333/tpl-MNI152NLin6Asym_atlas-Gordon_res-01_dseg.nii.gz"),
                      ("ho", "harvard_oxford_sub/HarvardOxford-sub-maxprob-thr25-1mm.nii.gz")):
        img = nb.load(atlas_dir / rel)
        img = nb.Nifti1Image(np.asarray(img.dataobj).astype(np.int32), img.affine)
        out[name] = np.asarray(resample_to_img(img, grid["ref"], interpolation="nearest", force_resample=True,
                                               copy_header=True).dataobj)
    return out


def test_dseg_is_an_int32_image_on_the_reference_grid(atlas, grid):
    assert atlas.dseg.shape == grid["ref"].shape[:3] == (65, 77, 59)
    np.testing.assert_allclose(atlas.dseg.affine, grid["ref"].affine)
    assert atlas.dseg.get_data_dtype() == np.int32 and atlas.data.dtype == np.int32


def test_table_lists_every_region_once(atlas, atlas_dir):
    t = atlas.table
    assert list(t.columns[:9]) == ["index", "label", "network", "structure", "hemisphere", "atlas", "limbic_role",
                                   "definition", "n_voxels"]
    assert t["index"].is_unique and t["label"].is_unique
    gordon = t[t["atlas"] == "Gordon333"]
    assert gordon["index"].tolist() == list(range(1, 334)) and set(gordon["structure"]) == {"cortex"}
    assert gordon["label"].iloc[11] == "Gordon_12"
    seitz = t[t["atlas"] == "Seitzman300"]
    assert len(seitz) == 61  # ROIs 236-239 and 244-300: subcortical and cerebellar
    assert set(seitz["structure"]) == {"hippocampus", "amygdala", "basalGanglia", "thalamus", "cerebellum"}
    assert seitz["label"].iloc[0] == "Seitzman_236" and seitz["index"].iloc[0] == 1236
    assert (seitz["definition"] == "harvard_oxford").sum() == 8
    assert (t["limbic_role"] != "").sum() == 10
    assert t.loc[t["index"] == 1256, "network"].item() == "VentralAttention"
    assert region_table(atlas_dir)["index"].tolist() == t["index"].tolist()


def test_gordon_labels_match_nilearn_and_every_parcel_is_present(atlas, nilearn_layers):
    ours, ref = atlas.data, nilearn_layers["gordon"]
    assert set(np.unique(ref)) == set(range(334))  # every parcel survives the 3 mm resampling
    cortex = (ours >= 1) & (ours <= 333)
    assert np.array_equal(ours[cortex], ref[cortex])  # labels preserved, voxel for voxel
    assert not np.any(ref[ours == 0])  # no parcel voxel lost except to a subcortical region
    taken = (ref > 0) & (ours > 1000)
    assert taken.sum() < 0.01 * (ref > 0).sum()


def test_final_labels_and_the_one_parcel_inside_the_hippocampus(atlas, nilearn_layers):
    """Subcortical regions win overlaps; Gordon 314 lies wholly inside Harvard-Oxford right hippocampus."""
    present = set(np.unique(atlas.data)) - {0}
    subcortical = set(atlas.table.loc[atlas.table["atlas"] == "Seitzman300", "index"])
    assert present == (set(range(1, 334)) - {314}) | subcortical
    in_314 = nilearn_layers["gordon"] == 314
    assert in_314.sum() > 5 and np.all(nilearn_layers["ho"][in_314] == 19)
    row = atlas.table.set_index("index").loc[314]
    assert row["n_voxels"] == 0 and row["missing"]  # kept in the table, flagged, not dropped


def test_orientation_parcel_centroids(atlas, atlas_dir):
    ref = pd.read_csv(atlas_dir / "gordon333" / "gordon333_parcels.tsv", sep="\t", keep_default_na=False)
    ids = ref["parcel_id"].to_numpy()
    cent = region_centroids_mm(atlas.data, atlas.dseg.affine, ids)
    expected = ref[["centroid_vol1mm_x", "centroid_vol1mm_y", "centroid_vol1mm_z"]].to_numpy(float)
    dist = np.linalg.norm(cent - expected, axis=1)
    ok = ids != 314
    assert np.all(dist[ok] < 4.0), ids[ok][dist[ok] >= 4.0]
    assert np.median(dist[ok]) < 1.5
    left = (ref["hemisphere"] == "L").to_numpy()
    assert np.all(cent[left & ok, 0] < 0) and np.all(cent[~left & ok, 0] > 0)


def test_limbic_structures_are_whole_harvard_oxford_structures_on_the_right_side(atlas, atlas_dir,
                                                                                nilearn_layers):
    data = atlas.data
    table = atlas.table.set_index("index")
    img = nb.load(atlas_dir / "harvard_oxford_sub" / "HarvardOxford-sub-maxprob-thr25-1mm.nii.gz")
    ho = resample_labels_nn(np.asarray(img.dataobj).astype(np.int32), img.affine, data.shape, atlas.dseg.affine)
    for ho_label, parts in ((10, [1244]), (20, [1245]), (11, [1247]), (21, [1246]), (9, [1236, 1238]),
                            (19, [1237, 1239])):
        # whole structures win every overlap: each is exactly its HO label (hippocampus: split in two)
        assert np.array_equal(ho == ho_label, np.isin(data, parts)), ho_label
        # nilearn agrees up to ties: every x and y voxel centre of this grid falls exactly halfway between
        # two 1 mm voxels, and nilearn breaks those ties by floating-point noise (whole slabs go the other
        # way; see tests/core/test_parcellation.py)
        ref = nilearn_layers["ho"] == ho_label
        dice = 2 * (ref & np.isin(data, parts)).sum() / (ref.sum() + np.isin(data, parts).sum())
        assert dice > 0.9, ho_label
    cent = region_centroids_mm(data, atlas.dseg.affine, list(LIMBIC) + [1263, 1262])
    for (index, xyz) in zip(list(LIMBIC) + [1263, 1262], cent):
        side = table.loc[index, "limbic_role"][-1]
        assert side == table.loc[index, "hemisphere"]
        assert (xyz[0] < 0) if side == "L" else (xyz[0] > 0), index
    # amygdala and accumbens centroids lie near the Seitzman ROIs they replace
    seitz = {1244: (-20.3, -2.3, -22.2), 1245: (19.5, -1.9, -23.1), 1247: (-12.5, 17.1, -4.5),
             1246: (12.7, 17.3, -5.1)}
    for (index, xyz) in zip(list(LIMBIC), cent):
        if index in seitz:
            assert np.linalg.norm(xyz - seitz[index]) < 8.0, index


def test_hippocampus_split_at_y(atlas, grid, atlas_dir, nilearn_layers):
    y = voxel_centres_mm(atlas.data.shape, atlas.dseg.affine)[:, 1].reshape(atlas.data.shape)
    for anterior, posterior in ((1236, 1238), (1237, 1239)):
        assert y[atlas.data == anterior].min() > -21.0
        assert y[atlas.data == posterior].max() <= -21.0
    moved = load_atlas(grid["ref_path"], atlas_dir, hippocampus_split_y=-27.0)
    assert y[moved.data == 1236].min() > -27.0 and y[moved.data == 1238].max() <= -27.0
    grown = (moved.data == 1236).sum() - (atlas.data == 1236).sum()
    expected = ((nilearn_layers["ho"] == 9) & (y > -27.0) & (y <= -21.0)).sum()
    assert grown == expected > 0


def test_spheres_and_the_thalamus_pair(atlas, atlas_dir):
    from ketamine_fc.atlases.tables import seitzman_table

    seitz = seitzman_table(atlas_dir).set_index("roi")
    xyz = voxel_centres_mm(atlas.data.shape, atlas.dseg.affine).reshape(atlas.data.shape + (3,))
    spheres = atlas.table[atlas.table["definition"] == "sphere_4mm"]
    assert {1262, 1263} <= set(spheres["index"])
    for index in spheres["index"]:
        voxels = xyz[atlas.data == index]
        centre = seitz.loc[index - 1000, ["x", "y", "z"]].to_numpy(float)
        if len(voxels):
            assert np.linalg.norm(voxels - centre, axis=1).max() <= 4.0 + 1e-6, index
    # a 4 mm sphere holds about 268 mm3 / 30 mm3 = 9 voxels of this grid
    n = spheres.set_index("index")["n_voxels"]
    assert 4 <= n.loc[1263] <= 14 and 4 <= n.loc[1262] <= 14


def test_voxel_counts_inside_the_mask_and_missing_flags(atlas, grid, atlas_dir):
    mask = np.asarray(nb.load(grid["mask_path"]).dataobj) > 0
    counts = pd.Series(atlas.data[mask]).value_counts()
    table = atlas.table.set_index("index")
    assert all(table.loc[i, "n_voxels"] == counts.get(i, 0) for i in table.index)
    assert table["missing"].equals(table["n_voxels"] < 3)
    # the BOLD field of view cuts the inferior cerebellum: those ROIs are flagged, not dropped
    assert table.loc[[1274, 1275, 1276], "missing"].all()
    assert np.array_equal(atlas.missing, atlas.table["missing"].to_numpy())
    strict = load_atlas(grid["ref_path"], atlas_dir, mask_img=grid["mask_path"], min_voxels=20)
    assert strict.table["missing"].sum() > atlas.table["missing"].sum()
    unmasked = load_atlas(grid["ref"], atlas_dir).table.set_index("index")
    assert (unmasked["n_voxels"] >= table["n_voxels"]).all() and unmasked.loc[1274, "n_voxels"] > 0


def test_orientation_las_grid_gives_the_mirror_array(grid, atlas_dir):
    ref = grid["ref"]
    n = ref.shape[0]
    las = ref.affine.copy()
    las[0, 0] = -ref.affine[0, 0]
    las[0, 3] = ref.affine[0, 3] + ref.affine[0, 0] * (n - 1)
    a = load_atlas(ref, atlas_dir).data
    b = load_atlas(nb.Nifti1Image(np.zeros(ref.shape[:3], np.uint8), las), atlas_dir).data
    assert np.array_equal(a, b[::-1])


def test_2mm_grid_builds_fast(atlas_dir):
    aff = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
    ref = nb.Nifti1Image(np.zeros((91, 109, 91), np.uint8), aff)
    load_atlas(ref, atlas_dir)  # the 1 mm images are cached after the first build in a process
    start = time.perf_counter()
    atlas = load_atlas(ref, atlas_dir)
    assert time.perf_counter() - start < 1.0
    assert set(np.unique(atlas.data)) >= set(range(1, 314))


def test_atlas_for_space():
    assert atlas_for_space("MNI152NLin6Asym") == "MNI152NLin6Asym"
    assert atlas_for_space("MNI152NLin2009cAsym:res-2") == "MNI152NLin6Asym"
    assert atlas_for_space("MNI152NLin6Asym_res-2") == "MNI152NLin6Asym"
    for space in ("T1w", "fsnative", "MNIPediatricAsym"):
        with pytest.raises(AtlasError, match=space):
            atlas_for_space(space)


def test_bad_inputs_name_the_file(grid, atlas_dir, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_atlas(tmp_path / "missing_boldref.nii.gz", atlas_dir)
    other = tmp_path / "mask_2mm.nii.gz"
    nb.Nifti1Image(np.ones((91, 109, 91), np.uint8), np.diag([2.0, 2, 2, 1])).to_filename(other)
    with pytest.raises(InputError) as err:
        load_atlas(grid["ref_path"], atlas_dir, mask_img=other)
    assert str(other) in str(err.value) and "grid" in str(err.value)
