"""The streaming reader must give what nibabel gives, for every layout fMRIPrep writes."""

import gzip

import nibabel as nb
import numpy as np
import pytest
from scipy import sparse

from ketamine_fc.errors import InputError
from ketamine_fc.utils.bold_stream import mask_flat_index, stream_bold


def _image(rng, dtype, shape=(7, 8, 9, 13), slope=None):
    affine = np.diag([-3.0, 3.0, 3.3, 1.0])
    data = rng.normal(1000, 50, size=shape)
    if np.issubdtype(dtype, np.integer):
        img = nb.Nifti1Image(np.round(data / (slope or 1)).astype(dtype), affine)
        if slope:
            img.header.set_slope_inter(slope, 0.0)
    else:
        img = nb.Nifti1Image(data.astype(dtype), affine)
    return img


@pytest.mark.parametrize("dtype,slope,ext", [
    (np.float32, None, ".nii.gz"), (np.float32, None, ".nii"), (np.int16, 0.05, ".nii.gz"), (np.float64, None, ".nii.gz"),
])
def test_stream_matches_nibabel(tmp_path, rng, dtype, slope, ext):
    img = _image(rng, dtype, slope=slope)
    path = tmp_path / f"bold{ext}"
    img.to_filename(path)
    ref = nb.load(path).get_fdata(dtype=np.float64)
    mask = rng.random(img.shape[:3]) > 0.4
    idx = mask_flat_index(mask)
    ref_mask = ref[mask]  # C order boolean indexing: (n_mask, T) in C order of voxels
    # reorder reference to Fortran voxel order, as the stream uses
    order = np.argsort(np.ravel_multi_index(np.nonzero(mask), mask.shape, order="F"))
    ref_mask = ref_mask[order].T
    n_mask = idx.size
    weights = sparse.random(5, n_mask, density=0.3, random_state=1, format="csr")
    gather = np.array([0, 3, n_mask - 1])
    res = stream_bold(path, idx, weights, gather, chunk_bytes=3 * 7 * 8 * 9 * 4)
    np.testing.assert_allclose(res.weighted, ref_mask @ weights.toarray().T, rtol=1e-5)
    np.testing.assert_allclose(res.gathered, ref_mask[:, gather], rtol=1e-6)
    np.testing.assert_allclose(res.voxel_mean, ref_mask.mean(0), rtol=1e-6)
    np.testing.assert_allclose(res.voxel_std, ref_mask.std(0, ddof=1), rtol=1e-4)


def test_truncated_file_names_file_and_frames(tmp_path, rng):
    img = _image(rng, np.float32)
    raw = tmp_path / "full.nii"
    img.to_filename(raw)
    data = raw.read_bytes()
    bad = tmp_path / "sub-01_bold.nii.gz"
    with gzip.open(bad, "wb") as f:
        f.write(data[: len(data) - 7 * 8 * 9 * 4 * 3])
    with pytest.raises(InputError, match=r"sub-01_bold.nii.gz.*ends after 10 of 13 frames"):
        stream_bold(bad, mask_flat_index(np.ones(img.shape[:3], bool)))


def test_nan_inside_mask_is_an_input_error(tmp_path, rng):
    img = _image(rng, np.float32)
    data = np.asarray(img.dataobj).copy()
    data[2, 3, 4, 5] = np.nan
    path = tmp_path / "nan_bold.nii.gz"
    nb.Nifti1Image(data, img.affine).to_filename(path)
    with pytest.raises(InputError, match="NaN"):
        stream_bold(path, mask_flat_index(np.ones(img.shape[:3], bool)), sparse.eye(7 * 8 * 9, format="csr"))

