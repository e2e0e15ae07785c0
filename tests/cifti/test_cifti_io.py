"""Reading and writing CIFTI-2 / GIFTI: round trips, the real Gordon dlabel and surfaces, and clear errors."""

from __future__ import annotations

import nibabel as nb
import numpy as np
import pytest
from nibabel.cifti2 import cifti2_axes

from ketamine_fc.atlases import gordon_table
from ketamine_fc.errors import AtlasError, InputError
from ketamine_fc.utils.cifti_io import (
    FSLR32K_VERTICES,
    iter_dtseries,
    make_grayordinates,
    read_dlabel,
    read_dtseries,
    read_grayordinates,
    read_surface_coords,
    write_dtseries,
)


def _small(n_mesh=FSLR32K_VERTICES, hemis=("CORTEX_LEFT", "CORTEX_RIGHT")):
    """A small grayordinate set: 7/5 vertices per hemisphere and 6 voxels in two structures on an LAS 2 mm grid."""
    surfaces = [(h, np.array(v) * (n_mesh // 10)) for h, v in zip(hemis, ([0, 1, 2, 3, 5, 8, 9], [1, 2, 4, 6, 7]))]
    affine = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
    volumes = [("THALAMUS_LEFT", [[50, 50, 40], [50, 51, 40], [51, 50, 40]]),
               ("HIPPOCAMPUS_RIGHT", [[30, 50, 30], [30, 51, 30], [31, 52, 29]])]
    return make_grayordinates([(h, v, n_mesh) for h, v in surfaces], volumes, affine=affine,
                              volume_shape=(91, 109, 91))


def test_write_then_read_round_trips(tmp_path, rng):
    grays = _small()
    data = rng.normal(size=(9, grays.size)).astype(np.float32)
    path = write_dtseries(tmp_path / "x.dtseries.nii", data, grays, tr=1.5, start=3.0)
    assert nb.load(path).nifti_header.get_intent()[0] == "ConnDenseSeries"
    dts = read_dtseries(path)
    assert dts.tr == 1.5 and dts.start == 3.0 and dts.n_frames == 9 and dts.data.dtype == np.float32
    np.testing.assert_array_equal(dts.data, data)
    got = dts.grayordinates
    assert got.names == ["CIFTI_STRUCTURE_CORTEX_LEFT", "CIFTI_STRUCTURE_CORTEX_RIGHT",
                         "CIFTI_STRUCTURE_THALAMUS_LEFT", "CIFTI_STRUCTURE_HIPPOCAMPUS_RIGHT"]
    for a, b in zip(got.models, grays.models):
        assert a.name == b.name and a.columns == b.columns and a.n_vertices == b.n_vertices
        for attr in ("vertices", "ijk"):
            assert (getattr(a, attr) is None) == (getattr(b, attr) is None)
            if getattr(a, attr) is not None:
                np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    np.testing.assert_allclose(got.affine, grays.affine)
    assert got.to_axis() == nb.load(path).header.get_axis(1)  # the same brain models as nibabel's own reading
    assert got.volume_shape == (91, 109, 91) and got.size == 18
    assert got.voxel_columns.tolist() == list(range(12, 18))
    assert got.voxel_structure.tolist() == ["CIFTI_STRUCTURE_THALAMUS_LEFT"] * 3 + [
        "CIFTI_STRUCTURE_HIPPOCAMPUS_RIGHT"] * 3
    assert got.model("thalamus_left").size == 3 and got.has("CORTEX_RIGHT") and not got.has("CEREBELLUM")
    header_only = read_grayordinates(path)
    assert header_only[1:] == (1.5, 9) and header_only[0].names == got.names


def test_iter_dtseries_reads_grayordinate_ranges(tmp_path, rng):
    grays = _small()
    data = rng.normal(size=(23, grays.size)).astype(np.float32)
    path = write_dtseries(tmp_path / "x.dtseries.nii", data, grays, tr=2.0)
    chunks = list(iter_dtseries(path, chunk_bytes=5 * 4 * 23))
    assert [c for c, _ in chunks] == [slice(0, 5), slice(5, 10), slice(10, 15), slice(15, 18)]
    np.testing.assert_array_equal(np.hstack([b for _, b in chunks]), data)
    assert all(b.dtype == np.float32 for _, b in chunks)


def test_an_uncompressed_dtseries_is_memory_mapped(tmp_path, rng):
    grays = _small()
    data = rng.normal(size=(4, grays.size)).astype(np.float32)
    dts = read_dtseries(write_dtseries(tmp_path / "x.dtseries.nii", data, grays, tr=2.0))
    assert isinstance(dts.data, np.memmap) and dts.data.mode == "c"  # copy-on-write: the file never changes
    np.testing.assert_array_equal(dts.data, data)


def test_iter_dtseries_refuses_nan(tmp_path, rng):
    grays = _small()
    data = rng.normal(size=(6, grays.size)).astype(np.float32)
    data[4, 13] = np.nan
    path = write_dtseries(tmp_path / "x.dtseries.nii", data, grays, tr=2.0)
    with pytest.raises(InputError, match="first at grayordinate 13"):
        list(iter_dtseries(path, chunk_bytes=5 * 4 * 6))


def test_writer_checks_the_shape(tmp_path):
    with pytest.raises(ValueError, match="do not match 18 grayordinates"):
        write_dtseries(tmp_path / "x.dtseries.nii", np.zeros((3, 17)), _small(), tr=1.0)


def test_gordon_dlabel_maps_vertices_to_parcel_ids(gordon_dlabel, vertex_info, atlas_dir):
    dl = read_dlabel(gordon_dlabel)
    assert dl.left.shape == dl.right.shape == (FSLR32K_VERTICES,)
    assert dl.parcel_ids.tolist() == list(range(1, 334)) and dl.names[12] == "Parcel_12"
    hemi = gordon_table(atlas_dir).set_index("parcel_id")["hemisphere"]
    left, right = set(np.unique(dl.left)) - {0}, set(np.unique(dl.right)) - {0}
    assert left | right == set(range(1, 334)) and not left & right
    assert set(hemi[sorted(left)]) == {"L"} and set(hemi[sorted(right)]) == {"R"}
    # unlabelled vertices are 0, and every labelled vertex lies off the medial wall of the 91k grayordinates
    for labels, gray in ((dl.left, vertex_info["grayl"]), (dl.right, vertex_info["grayr"])):
        medial = np.setdiff1d(np.arange(FSLR32K_VERTICES), gray)
        assert np.all(labels[medial] == 0) and np.any(labels[gray] == 0)
    assert dl.hemisphere("CORTEX_LEFT") is dl.left


def _dlabel(path, table, values, n_mesh=FSLR32K_VERTICES):
    axis = cifti2_axes.BrainModelAxis.from_surface(np.arange(n_mesh), n_mesh, "CORTEX_LEFT") + \
        cifti2_axes.BrainModelAxis.from_surface(np.arange(n_mesh), n_mesh, "CORTEX_RIGHT")
    img = nb.Cifti2Image(np.asarray(values, dtype=np.float32)[None], header=(
        cifti2_axes.LabelAxis(["x"], [table]), axis))
    img.nifti_header.set_intent("ConnDenseLabel")
    img.to_filename(path)
    return path


def test_dlabel_keys_are_mapped_through_their_names(tmp_path):
    n = 40
    values = np.zeros(2 * n)
    values[3], values[n + 7] = 5, 2
    table = {0: ("???", (1, 1, 1, 0)), 2: ("Parcel_30", (1, 0, 0, 1)), 5: ("Parcel_17", (0, 1, 0, 1))}
    dl = read_dlabel(_dlabel(tmp_path / "k.dlabel.nii", table, values, n), n_vertices=n)
    assert dl.left[3] == 17 and dl.right[7] == 30 and dl.left.sum() == 17 and dl.right.sum() == 30
    assert dl.names == {17: "Parcel_17", 30: "Parcel_30"}


def test_dlabel_errors_name_the_file_and_the_problem(tmp_path, gordon_dlabel, shared_data):
    n = 40
    bad_names = _dlabel(tmp_path / "b.dlabel.nii", {0: ("???", (1, 1, 1, 0)), 1: ("Visual", (1, 0, 0, 1))},
                        np.ones(2 * n), n)
    with pytest.raises(AtlasError, match=r"label names must be 'Parcel_\(\\d\+\)'.*1='Visual'") as err:
        read_dlabel(bad_names, n_vertices=n)
    assert str(bad_names) in str(err.value)
    with pytest.raises(AtlasError, match="CORTEX_LEFT mesh has 40 vertices, not the 32492 of fs_LR 32k"):
        read_dlabel(bad_names)
    grays = _small()
    series = write_dtseries(tmp_path / "s.dtseries.nii", np.zeros((2, grays.size)), grays, tr=1.0)
    with pytest.raises(AtlasError, match=r"is a dense time series \(.dtseries.nii\), not a dense label file"):
        read_dlabel(series)
    with pytest.raises(AtlasError, match="is not a CIFTI-2 file"):
        read_dlabel(shared_data / "atlases/gordon333/Parcels_MNI_333.nii")
    with pytest.raises(AtlasError, match="does not exist"):
        read_dlabel(tmp_path / "nothing.dlabel.nii")
    with pytest.raises(AtlasError, match="map 3 was asked for"):
        read_dlabel(gordon_dlabel, map_index=3)


def test_dtseries_errors_name_the_file_and_the_problem(tmp_path, gordon_dlabel, shared_data):
    with pytest.raises(InputError, match=r"is a dense label file \(.dlabel.nii\), not a dense time series") as err:
        read_dtseries(gordon_dlabel)
    assert str(gordon_dlabel) in str(err.value)
    nifti = shared_data / "fmri/nipy_testing/functional.nii.gz"
    with pytest.raises(InputError, match="is not a CIFTI-2 file .nibabel reads it as Nifti1Image"):
        read_dtseries(nifti)
    with pytest.raises(InputError, match="does not exist"):
        read_grayordinates(tmp_path / "none.dtseries.nii")
    junk = tmp_path / "junk.dtseries.nii"
    junk.write_bytes(b"not a nifti at all" * 30)
    with pytest.raises(InputError, match="cannot be read"):
        read_dtseries(junk)

    left_only = _small(hemis=("CORTEX_LEFT", "CEREBELLUM_LEFT"))
    path = write_dtseries(tmp_path / "l.dtseries.nii", np.zeros((2, left_only.size)), left_only, tr=1.0)
    with pytest.raises(InputError, match="has no CIFTI_STRUCTURE_CORTEX_RIGHT brain model") as err:
        read_dtseries(path)
    assert str(path) in str(err.value)
    assert read_dtseries(path, require_cortex=False).grayordinates.has("CEREBELLUM_LEFT")

    fsaverage = _small(n_mesh=10242)
    path = write_dtseries(tmp_path / "f.dtseries.nii", np.zeros((2, fsaverage.size)), fsaverage, tr=1.0)
    with pytest.raises(InputError, match="CORTEX_LEFT mesh has 10242 vertices, not the 32492 of fs_LR 32k"):
        read_grayordinates(path)
    assert read_grayordinates(path, n_vertices=None)[0].model("CORTEX_LEFT").n_vertices == 10242

    scalar = nb.Cifti2Image(np.zeros((1, _small().size), np.float32),
                            header=(cifti2_axes.ScalarAxis(["x"]), _small().to_axis()))
    scalar.nifti_header.set_intent("ConnDenseScalar")
    scalar.to_filename(tmp_path / "s.dscalar.nii")
    with pytest.raises(InputError, match=r"is a dense scalar file \(.dscalar.nii\), not a dense time series"):
        read_dtseries(tmp_path / "s.dscalar.nii")

    hertz = nb.Cifti2Image(np.zeros((3, _small().size), np.float32),
                           header=(cifti2_axes.SeriesAxis(0, 1.0, 3, unit="HERTZ"), _small().to_axis()))
    hertz.nifti_header.set_intent("ConnDenseSeries")
    hertz.to_filename(tmp_path / "h.dtseries.nii")
    with pytest.raises(InputError, match="counts HERTZ, not seconds"):
        read_dtseries(tmp_path / "h.dtseries.nii")


def test_surface_coordinates(midthickness, tmp_path, gordon_dlabel):
    left, right = (read_surface_coords(midthickness[h]) for h in "LR")
    assert left.shape == right.shape == (FSLR32K_VERTICES, 3) and left.dtype == np.float64
    assert np.mean(left[:, 0] < 0) > 0.99 and np.mean(right[:, 0] > 0) > 0.99  # world mm, RAS
    assert 60 < np.ptp(left[:, 0]) < 80 and 150 < np.ptp(left[:, 1]) < 190
    with pytest.raises(InputError, match="has 32492 vertices, not the 10242"):
        read_surface_coords(midthickness["L"], n_vertices=10242)
    with pytest.raises(InputError, match="is not a GIFTI surface"):
        read_surface_coords(gordon_dlabel)
    func = nb.GiftiImage(darrays=[nb.gifti.GiftiDataArray(np.zeros(10, np.float32), intent="NIFTI_INTENT_NONE")])
    func.to_filename(tmp_path / "x.func.gii")
    with pytest.raises(InputError, match="has no pointset"):
        read_surface_coords(tmp_path / "x.func.gii")
    with pytest.raises(InputError, match="does not exist"):
        read_surface_coords(tmp_path / "none.surf.gii")
