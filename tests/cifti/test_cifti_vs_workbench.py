"""Peer check against Connectome Workbench (``wb_command``, Debian package ``connectome-workbench``).

A 91k-shaped dtseries of seeded random data is written with our writer; Workbench parcellates it with the Gordon
fs_LR 32k dlabel (``-cifti-parcellate ... -method MEAN``) and separates its volume part into a NIfTI
(``-cifti-separate``). Our parcel means, parcel order and voxel placement must agree with Workbench's.
"""

from __future__ import annotations

import shutil
import subprocess

import nibabel as nb
import numpy as np
import pytest
from nibabel.cifti2 import cifti2_axes

from ketamine_fc.atlases import seitzman_table
from ketamine_fc.core.cifti import label_grayordinates, parcel_means, parcel_means_matrix
from ketamine_fc.utils.cifti_io import read_dlabel, read_dtseries, read_surface_coords, write_dtseries

WB = shutil.which("wb_command")
pytestmark = pytest.mark.skipif(WB is None, reason="Connectome Workbench's wb_command is not installed "
                                                   "(apt-get install connectome-workbench)")
N_FRAMES = 24


def _wb(*args, cwd):
    out = subprocess.run([WB, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"wb_command {args[0]} failed:\n{out.stdout}\n{out.stderr}"


def _scaled_max_diff(ours, theirs):
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


@pytest.fixture(scope="module")
def written(tmp_path_factory, grays91k):
    """Seeded random data with a per-grayordinate offset (so float32 rounding shows), written by our writer."""
    rng = np.random.default_rng(91282)
    data = (rng.normal(size=(N_FRAMES, grays91k.size)) + rng.uniform(-50, 500, size=grays91k.size))
    folder = tmp_path_factory.mktemp("wb")
    path = write_dtseries(folder / "in.dtseries.nii", data.astype(np.float32), grays91k, tr=0.8)
    return folder, path, data.astype(np.float32)


@pytest.fixture(scope="module")
def regions(grays91k, gordon_dlabel, midthickness, atlas_dir):
    dl = read_dlabel(gordon_dlabel)
    seitzman = seitzman_table(atlas_dir)
    thalamus = seitzman[seitzman["roi"].isin([262, 263])]
    cortex = [(grays91k.model(h).columns, grays91k.model(h).vertices, dl.hemisphere(h),
               read_surface_coords(midthickness[h.split("_")[1][0]])) for h in ("CORTEX_LEFT", "CORTEX_RIGHT")]
    voxels = (grays91k.voxel_columns, grays91k.voxel_structure, grays91k.voxel_ijk, grays91k.affine)
    return label_grayordinates(grays91k.size, cortex, voxels, thalamus), dl


def test_cortex_parcel_means_equal_workbench(written, regions, gordon_dlabel):
    folder, path, _ = written
    _wb("-cifti-parcellate", path, gordon_dlabel, "COLUMN", "out.ptseries.nii", "-method", "MEAN", cwd=folder)
    pt = nb.load(folder / "out.ptseries.nii")
    parcels = pt.header.get_axis(1)
    assert isinstance(parcels, cifti2_axes.ParcelsAxis)
    wb_ids = [int(name.removeprefix("Parcel_")) for name in parcels.name]
    assert all(name == f"Parcel_{i}" for name, i in zip(parcels.name, wb_ids))
    theirs = np.asarray(pt.dataobj, dtype=np.float64)

    labels = regions[0].labels
    present = np.unique(labels[regions[0].is_cortex & (labels > 0)])
    assert wb_ids == present.tolist()  # same parcels, same order (ascending id)
    assert len(wb_ids) == 333
    dts = read_dtseries(path)
    ours = parcel_means(dts.data, parcel_means_matrix(labels, present), chunk_bytes=4 * 2**20)
    assert ours.shape == theirs.shape == (N_FRAMES, 333)
    rel = _scaled_max_diff(ours, theirs)
    print(f"max |ours - wb| / max |wb| over {theirs.size} parcel values: {rel:.2e}")
    assert rel <= 5e-5
    # the parcels' grayordinate sets agree as well: wb's ptseries lists the vertices of each parcel
    for pos in (0, 1, 2, 166, 330, 331, 332):
        pid, vertices = wb_ids[pos], parcels.vertices[pos]
        assert vertices
        for hemi, verts in vertices.items():
            model = dts.grayordinates.model(hemi)
            ours_v = model.vertices[labels[model.columns] == pid]
            assert np.array_equal(np.sort(ours_v), np.sort(verts)), pid


def test_region_means_with_volume_labels_equal_workbench(written, regions, grays91k, tmp_path):
    """Our limbic + Gordon labels written as a full 91k dlabel: Workbench's means over them equal ours."""
    folder, path, data = written
    grays_regions, _ = regions
    labels = grays_regions.labels
    index = np.unique(labels[labels > 0])
    table = {0: ("???", (1.0, 1.0, 1.0, 0.0))}
    table.update({int(i): (f"Region_{i}", (0.5, 0.5, 0.5, 1.0)) for i in index})
    img = nb.Cifti2Image(labels[None].astype(np.float32),
                         header=(cifti2_axes.LabelAxis(["regions"], [table]), grays91k.to_axis()))
    img.nifti_header.set_intent("ConnDenseLabel", name="ConnDenseLabel")
    img.to_filename(tmp_path / "regions.dlabel.nii")
    _wb("-cifti-parcellate", path, tmp_path / "regions.dlabel.nii", "COLUMN", tmp_path / "r.ptseries.nii",
        "-method", "MEAN", cwd=tmp_path)
    pt = nb.load(tmp_path / "r.ptseries.nii")
    wb_ids = [int(name.removeprefix("Region_")) for name in pt.header.get_axis(1).name]
    assert wb_ids == index.tolist()
    assert {1236, 1237, 1238, 1239, 1244, 1245, 1246, 1247, 1262, 1263} <= set(wb_ids)
    ours = parcel_means(data, parcel_means_matrix(labels, index))
    assert _scaled_max_diff(ours, np.asarray(pt.dataobj, dtype=np.float64)) <= 5e-5


def test_volume_part_lands_on_the_voxels_workbench_reads(written, grays91k):
    """``-cifti-separate -volume-all`` puts each voxel grayordinate where our ijk and affine say."""
    folder, path, data = written
    _wb("-cifti-separate", path, "COLUMN", "-volume-all", "vol.nii.gz", cwd=folder)
    vol = nb.load(folder / "vol.nii.gz")
    np.testing.assert_allclose(vol.affine, grays91k.affine)
    arr = np.asarray(vol.dataobj, dtype=np.float32)
    i, j, k = grays91k.voxel_ijk.T
    np.testing.assert_array_equal(arr[i, j, k, :].T, data[:, grays91k.voxel_columns])
