"""FD against fMRIPrep's own column on real files; censoring rules; motion filters on planted respiration."""

import warnings

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.core.motion import (
    MOTION_COLUMNS,
    censor_mask,
    contiguous_segments,
    filter_motion,
    framewise_displacement,
    motion_filter_band,
)

CONF = "fmri/fmriprep_confounds"


@pytest.mark.parametrize("name", [
    "sub-01_task-mixedgamblestask_run-01_desc-motion_timeseries.tsv",  # fMRIPrep 25 motion file
    "test-v21_desc-confounds_timeseries.tsv",  # fMRIPrep >= 21 layout
    "no_nonsteady_desc-confounds_regressors.tsv",  # fMRIPrep 1.4-20 layout
])
def test_fd_equals_fmriprep_column(shared_data, name):
    df = pd.read_csv(shared_data / CONF / name, sep="\t", na_values="n/a")
    fd = framewise_displacement(df[list(MOTION_COLUMNS)].to_numpy())
    ref = df["framewise_displacement"].to_numpy()
    assert np.isnan(ref[0]) and fd[0] == 0
    np.testing.assert_allclose(fd[1:], ref[1:], rtol=0, atol=1e-6)


def test_fd_by_hand():
    params = np.zeros((3, 6))
    params[1] = [0.1, -0.2, 0.0, 0.0, 0.0, 0.01]  # 0.01 rad on a 50 mm sphere = 0.5 mm
    params[2] = params[1]
    np.testing.assert_allclose(framewise_displacement(params), [0.0, 0.8, 0.0])
    np.testing.assert_allclose(framewise_displacement(params, radius=80.0), [0.0, 1.1, 0.0])
    with pytest.raises(ValueError, match=r"\(frames, 6\)"):
        framewise_displacement(np.zeros((4, 5)))


def test_contiguous_segments():
    assert contiguous_segments([1, 1, 0, 1, 0, 0, 1, 1, 1]) == [(0, 2), (3, 4), (6, 9)]
    assert contiguous_segments([0, 0]) == [] and contiguous_segments([1, 1]) == [(0, 2)]


def test_censor_mask_spikes_islands_and_dummies():
    fd = np.full(40, 0.05)
    fd[[10, 14]] = 0.5  # frames 11-13 are a 3-frame island between two spikes
    fd[[25, 31]] = 0.3  # frames 26-30 are a 5-frame island: kept with min_contig 5
    fd[37] = 0.21  # leaves frames 38-39 as a 2-frame tail
    fd[0] = np.nan  # fMRIPrep's first frame
    keep = censor_mask(fd, fd_thresh=0.2, min_contig=5, n_dummy=2)
    dropped = [0, 1, 10, 11, 12, 13, 14, 25, 31, 37, 38, 39]
    assert not keep[dropped].any() and keep.sum() == 40 - len(dropped)
    assert keep[26:31].all()
    # without the segment rule the islands stay; without the threshold only dummies go
    assert censor_mask(fd, 0.2, min_contig=0, n_dummy=2)[[11, 12, 13, 38, 39]].all()
    assert np.flatnonzero(~censor_mask(fd, fd_thresh=0, min_contig=5, n_dummy=2)).tolist() == [0, 1]
    assert censor_mask(fd, fd_thresh=0.25, min_contig=1)[37]
    with pytest.raises(ValueError, match="n_dummy"):
        censor_mask(fd, n_dummy=41)


def _amplitude(x, freq, t):
    """Least-squares amplitude of a sinusoid of ``freq`` in each column of x."""
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)])
    coef = np.linalg.lstsq(basis, x, rcond=None)[0]
    return np.hypot(coef[0], coef[1])


def test_notch_removes_respiration_aliased_below_nyquist(rng):
    # TR 2 s samples up to 15 bpm: 18 bpm breathing appears at 12 bpm (0.2 Hz); XCP-D folds the stop band
    # 15-21 bpm to 9-15 bpm, centred on it
    tr, n = 2.0, 400
    t = np.arange(n) * tr
    with pytest.warns(UserWarning, match="above Nyquist"):
        assert motion_filter_band("notch", 15, 21, tr) == pytest.approx((15.0, 9.0))
    slow = 0.3 * np.sin(2 * np.pi * 0.01 * t)[:, None] * np.ones((1, 6))
    resp = 0.1 * np.sin(2 * np.pi * (18 / 60) * t)[:, None] * np.ones((1, 6))
    with pytest.warns(UserWarning, match="aliased"):
        out = filter_motion(slow + resp, tr, "notch", band_stop_min=15, band_stop_max=21)
    inner = slice(50, n - 50)
    assert _amplitude(out[inner], 0.2, t[inner]).max() < 0.005  # from 0.1
    assert np.abs(_amplitude(out[inner], 0.01, t[inner]) - 0.3).max() < 0.01
    # FD of the filtered trace no longer carries the respiratory swing
    assert framewise_displacement(out).mean() < 0.2 * framewise_displacement(slow + resp).mean()


def test_lowpass_keeps_slow_motion_and_removes_fast(rng):
    tr, n = 0.8, 600
    t = np.arange(n) * tr
    slow = np.cumsum(rng.normal(0, 0.01, (n, 6)), axis=0)
    resp = 0.1 * np.sin(2 * np.pi * 0.3 * t)[:, None]  # 18 breaths per minute
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 6 bpm is below Nyquist (37.5 bpm): no aliasing warning
        out = filter_motion(slow + resp, tr, "lp", band_stop_min=6)
    inner = slice(50, n - 50)
    assert _amplitude(out[inner], 0.3, t[inner]).max() < 0.002
    probe = 0.2 * np.sin(2 * np.pi * 0.02 * t)[:, None]  # 1.2 bpm passes
    assert np.abs(_amplitude(filter_motion(probe, tr, "lp", band_stop_min=6)[inner], 0.02, t[inner]) - 0.2) < 0.005


def test_motion_filter_options_are_checked():
    params = np.zeros((50, 6))
    np.testing.assert_array_equal(filter_motion(params, 2.0, "none"), params)
    assert motion_filter_band("none", None, None, 2.0) == (None, None)
    with pytest.raises(ValueError, match="band_stop_min > 0"):
        filter_motion(params, 2.0, "lp")
    with pytest.raises(ValueError, match="band_stop_max > band_stop_min"):
        filter_motion(params, 2.0, "notch", band_stop_min=20, band_stop_max=12)
    with pytest.raises(ValueError, match="filter_order >= 4"):
        filter_motion(params, 0.8, "notch", band_stop_min=12, band_stop_max=20, filter_order=2)
    with pytest.raises(ValueError, match="filter_order >= 2"):
        filter_motion(params, 0.8, "lp", band_stop_min=6, filter_order=1)
    with pytest.raises(ValueError, match="unknown motion filter"):
        filter_motion(params, 2.0, "highpass", band_stop_min=6)
    with pytest.raises(ValueError, match="degenerate"):  # 12 and 18 bpm both fold to 12 bpm at TR 2 s
        motion_filter_band("notch", 12, 18, 2.0)
