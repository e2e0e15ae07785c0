"""Run checks from headers and tables: repetition time, grids, damaged files, confounds."""

import gzip
import json

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from ketamine_fc.config import DenoiseParams
from ketamine_fc.errors import InputError
from ketamine_fc.utils.checks import check_bold, check_confounds, check_mask, read_header, repetition_time


def _bold(path, tr=2.0, unit="sec", shape=(7, 8, 9, 20)):
    img = nb.Nifti1Image(np.ones(shape, np.float32), np.diag([3.0, 3.0, 3.0, 1.0]))
    img.header.set_xyzt_units("mm", unit)
    img.header["pixdim"][4] = tr
    img.to_filename(path)
    return nb.load(path)


def _sidecar(path, **meta):
    path.with_name(path.name.replace(".nii.gz", ".json")).write_text(json.dumps(meta))


@pytest.mark.parametrize("header,unit,sidecar,expected", [
    (2.0, "sec", 2.0, 2.0), (2.0, "sec", 2.015, 2.015), (2000.0, "msec", 2.0, 2.0), (0.0, "sec", 1.5, 1.5),
    (1.5, "sec", None, 1.5)])
def test_repetition_time_agreeing_sources(tmp_path, header, unit, sidecar, expected):
    path = tmp_path / "bold.nii.gz"
    img = _bold(path, header, unit)
    if sidecar is not None:
        _sidecar(path, RepetitionTime=sidecar)
    assert repetition_time(img, path) == pytest.approx(expected)


@pytest.mark.parametrize("header,sidecar,pattern", [
    (2.0, 2.5, r"bold.nii.gz: the repetition time disagrees: 2.5 s in the JSON sidecar, 2 s in the NIfTI header"),
    (2.0, 2000, r"bold.json: RepetitionTime 2000 looks like milliseconds; BIDS gives it in seconds \(2\)"),
    (2000.0, 2.0, r"bold.nii.gz: the NIfTI header's repetition time 2000 s looks like milliseconds"),
    (0.0, None, r"RepetitionTime is missing"),
    (2.0, "2", r"RepetitionTime must be a positive number of seconds"),
])
def test_repetition_time_problems_are_named(tmp_path, header, sidecar, pattern):
    path = tmp_path / "bold.nii.gz"
    img = _bold(path, header)
    if sidecar is not None:
        _sidecar(path, RepetitionTime=sidecar)
    with pytest.raises(InputError, match=pattern):
        repetition_time(img, path)


def test_damaged_and_truncated_images(tmp_path):
    bad = tmp_path / "bold.nii.gz"
    bad.write_bytes(gzip.compress(b"not a nifti header at all" * 20))
    with pytest.raises(InputError, match="bold.nii.gz: cannot read the BOLD image: the file is damaged or not NIfTI"):
        check_bold(bad)
    plain = tmp_path / "plain.nii"
    _bold(plain)
    plain.write_bytes(plain.read_bytes()[:-100])
    with pytest.raises(InputError, match=r"plain.nii: the BOLD image is truncated: \d+ bytes of the \d+ its header"):
        check_bold(plain)
    with pytest.raises(InputError, match="does not exist"):
        read_header(tmp_path / "absent.nii.gz")


def test_mask_on_another_grid_empty_or_nan(tmp_path):
    bold = _bold(tmp_path / "bold.nii.gz")
    other = tmp_path / "mask.nii.gz"
    nb.Nifti1Image(np.ones((7, 8, 10), np.uint8), bold.affine).to_filename(other)
    with pytest.raises(InputError, match=r"mask.nii.gz: the brain mask is on another voxel grid \(7x8x10 voxels of "
                                         r"3x3x3 mm\) than its BOLD bold.nii.gz \(7x8x9 voxels of 3x3x3 mm\)"):
        check_mask(other, bold, tmp_path / "bold.nii.gz")
    shifted = bold.affine.copy()
    shifted[0, 3] += 1.5  # same shape, half a voxel off
    nb.Nifti1Image(np.ones((7, 8, 9), np.uint8), shifted).to_filename(other)
    with pytest.raises(InputError, match="another voxel grid"):
        check_mask(other, bold, tmp_path / "bold.nii.gz")
    nb.Nifti1Image(np.zeros((7, 8, 9), np.uint8), bold.affine).to_filename(other)
    with pytest.raises(InputError, match="the brain mask is empty"):
        check_mask(other, bold, tmp_path / "bold.nii.gz")
    data = np.ones((7, 8, 9), np.float32)
    data[0, 0, 0] = np.nan
    nb.Nifti1Image(data, bold.affine).to_filename(other)
    with pytest.raises(InputError, match="NaN or infinite"):
        check_mask(other, bold, tmp_path / "bold.nii.gz")


def _confounds(path, changes=None, n=20):
    rng = np.random.default_rng(0)
    cols = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "global_signal", "csf", "white_matter"]
    df = pd.DataFrame(rng.standard_normal((n, len(cols))), columns=cols)
    for c in list(df.columns):
        df[f"{c}_derivative1"] = df[c].diff()
        df[f"{c}_power2"] = df[c] ** 2
        df[f"{c}_derivative1_power2"] = df[f"{c}_derivative1"] ** 2
    df["framewise_displacement"] = np.r_[np.nan, np.full(n - 1, 0.1)]
    for (col, row), value in (changes or {}).items():
        df.loc[row, col] = value
    df.to_csv(path, sep="\t", index=False, na_rep="n/a")
    return path


def test_confounds_checks(tmp_path):
    path = tmp_path / "conf.tsv"
    check_confounds(_confounds(path), 20, 2.0, DenoiseParams())  # first-row n/a are fine
    with pytest.raises(InputError, match=r"conf.tsv: the confounds file has 20 rows but the BOLD series has 21"):
        check_confounds(path, 21, 2.0, DenoiseParams())
    _confounds(path, {("framewise_displacement", 7): np.nan})
    with pytest.raises(InputError, match=r"framewise_displacement is n/a or not finite in data row\(s\) 8"):
        check_confounds(path, 20, 2.0, DenoiseParams())
    _confounds(path, {("csf", 3): np.inf})
    with pytest.raises(InputError, match=r"column csf has infinite or missing values in data row\(s\) 4"):
        check_confounds(path, 20, 2.0, DenoiseParams())
    check_confounds(path, 20, 2.0, DenoiseParams(nuisance_regressors="24P"))  # csf is not used by 24P
    _confounds(path, {("rot_y", 5): np.nan})
    with pytest.raises(InputError, match=r"column rot_y has missing values"):  # FD recomputed: motion must be finite
        check_confounds(path, 20, 2.0, DenoiseParams(nuisance_regressors="none", head_radius=40.0))
    _confounds(path)
    with pytest.raises(InputError, match="dummy scans leave no frame"):
        check_confounds(path, 20, 2.0, DenoiseParams(dummy_scans=20))
