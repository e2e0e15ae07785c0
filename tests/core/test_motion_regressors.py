"""With a motion filter, the filtered motion parameters (and their expansions) replace the raw ones in the
nuisance design, as XCP-D does; ``motion_regressors = "raw"`` keeps the file's columns."""

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.config import DenoiseParams
from ketamine_fc.core.confounds import read_confounds
from ketamine_fc.core.motion import MOTION_COLUMNS, filter_motion
from ketamine_fc.interfaces.censoring import CensorFrames

TR = 0.8


@pytest.fixture
def confounds_file(tmp_path, rng):
    n = 300
    t = np.arange(n) * TR
    breathing = 0.05 * np.sin(2 * np.pi * (16 / 60) * t)[:, None]  # 16 breaths per minute in every trace
    params = np.cumsum(rng.normal(0, 0.01, (n, 6)), axis=0) + breathing
    params[:, 3:] /= 50
    df = pd.DataFrame(params, columns=MOTION_COLUMNS)
    for c in MOTION_COLUMNS:
        df[f"{c}_derivative1"] = df[c].diff()
        df[f"{c}_power2"] = df[c] ** 2
        df[f"{c}_derivative1_power2"] = df[f"{c}_derivative1"] ** 2
    for c in ("global_signal", "csf", "white_matter"):
        df[c] = rng.standard_normal(n)
        for suffix, values in (("_derivative1", df[c].diff()), ("_power2", df[c] ** 2)):
            df[c + suffix] = values
        df[f"{c}_derivative1_power2"] = df[f"{c}_derivative1"] ** 2
    fd = np.abs(np.diff(params[:, :3], axis=0)).sum(1) + 50 * np.abs(np.diff(params[:, 3:], axis=0)).sum(1)
    df["framewise_displacement"] = np.r_[np.nan, fd]
    path = tmp_path / "sub-01_task-rest_desc-confounds_timeseries.tsv"
    df.to_csv(path, sep="\t", index=False, na_rep="n/a")
    return path, params


def _run(tmp_path, path, **kw):
    params = DenoiseParams(motion_filter_type="notch", band_stop_min=12, band_stop_max=20, **kw)
    node = CensorFrames(confounds=str(path), tr=TR, params=params.to_dict())
    node.run(cwd=str(tmp_path))
    return pd.read_csv(tmp_path / "nuisance.tsv", sep="\t"), params


def test_filtered_motion_replaces_the_raw_motion_regressors(tmp_path, confounds_file):
    path, raw = confounds_file
    nuisance, params = _run(tmp_path, path)
    filtered = filter_motion(raw, TR, "notch", band_stop_min=12, band_stop_max=20, filter_order=4)
    for j, col in enumerate(MOTION_COLUMNS):
        np.testing.assert_allclose(nuisance[col], filtered[:, j], rtol=1e-6, atol=1e-12)
        d = np.r_[0.0, np.diff(filtered[:, j])]
        np.testing.assert_allclose(nuisance[f"{col}_derivative1"], d, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(nuisance[f"{col}_power2"], filtered[:, j] ** 2, rtol=1e-6, atol=1e-15)
        np.testing.assert_allclose(nuisance[f"{col}_derivative1_power2"], d**2, rtol=1e-6, atol=1e-15)
    # the breathing peak is gone from the design's motion regressors
    spectrum = np.abs(np.fft.rfft(nuisance["trans_x"] - nuisance["trans_x"].mean()))
    raw_spectrum = np.abs(np.fft.rfft(raw[:, 0] - raw[:, 0].mean()))
    freqs = np.fft.rfftfreq(len(raw), TR) * 60
    band = (freqs > 14) & (freqs < 18)
    assert spectrum[band].max() < 0.2 * raw_spectrum[band].max()
    # non-motion regressors are the file's
    conf = read_confounds(path)
    np.testing.assert_allclose(nuisance["global_signal"], conf["global_signal"])


def test_raw_motion_regressors_on_request(tmp_path, confounds_file):
    path, raw = confounds_file
    nuisance, _ = _run(tmp_path, path, motion_regressors="raw")
    conf = read_confounds(path)
    for col in MOTION_COLUMNS:
        np.testing.assert_allclose(nuisance[col], conf[col])
        np.testing.assert_allclose(nuisance[f"{col}_derivative1"], conf[f"{col}_derivative1"])
