"""Nuisance regression and filtering against nilearn.signal.clean and scipy on real ROI time series."""

import numpy as np
import pandas as pd
import pytest
from nilearn import signal as nsignal
from scipy import signal as ssignal

from ketamine_fc.core.denoise import butterworth, clean, cleaning_operator, design_matrix, interpolate_censored

TR = 1.89


@pytest.fixture(scope="module")
def nitime(shared_data=None):
    from conftest import SHARED_DATA

    df = pd.read_csv(SHARED_DATA / "fmri/nitime/fmri_timeseries.csv")
    conf = df[["WM", "Vent", "Brain"]].to_numpy()
    conf = np.column_stack([conf, np.r_[np.zeros((1, 3)), np.diff(conf, axis=0)]])
    return df.drop(columns=["WM", "Vent", "Brain"]).to_numpy(), conf


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def test_regression_equals_nilearn_without_censoring(nitime):
    y, conf = nitime
    ours = clean(y, conf, np.ones(len(y), bool), TR, bandpass=False)
    ref = nsignal.clean(y, confounds=conf, detrend=True, standardize=None, filter=False, t_r=TR)
    assert _rel(ours, ref) < 1e-8


def test_regression_on_retained_frames_equals_nilearn_sample_mask(nitime):
    y, conf = nitime
    keep = np.ones(len(y), bool)
    keep[[10, 11, 12, 13, 14, 100, 101, 102, 103, 104, 200]] = False
    # our linear trend is in time (original frame numbers); give nilearn the same trend as a confound
    trend = np.arange(len(y), dtype=float)[:, None]
    ours = clean(y, conf, keep, TR, bandpass=False)
    ref = nsignal.clean(y, confounds=np.column_stack([conf, trend]), detrend=False, standardize=None,
                        filter=False, t_r=TR, sample_mask=np.flatnonzero(keep))
    # without detrending nilearn does not remove the mean (its confounds are centred); ours has an intercept
    assert _rel(ours, ref - ref.mean(axis=0)) < 1e-8


def test_bandpass_equals_scipy_butterworth_of_the_residual(nitime):
    y, conf = nitime
    keep = np.ones(len(y), bool)
    x, _ = design_matrix(conf, len(y))
    resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    b, a = ssignal.butter(2, [0.009, 0.08], btype="bandpass", fs=1 / TR)
    ref = ssignal.filtfilt(b, a, resid, axis=0, padtype="constant", padlen=len(y) - 1)
    ours = clean(y, conf, keep, TR)
    assert _rel(ours, ref) < 1e-8


def test_filter_regress_order_equals_nilearn_butterworth_then_regression(nitime):
    y, conf = nitime
    keep = np.ones(len(y), bool)
    ours = clean(y, conf, keep, TR, order="filter-regress", detrend=False)
    # reference: filter data and confounds identically with scipy, then ordinary least squares with intercept
    filt = lambda v: butterworth(v, TR)  # noqa: E731 (our own filter is checked against scipy above)
    fy, fc = filt(y), filt(conf)
    x = np.column_stack([np.ones(len(y)), fc])
    ref = fy - x @ np.linalg.lstsq(x, fy, rcond=None)[0]
    assert _rel(ours, ref) < 1e-8


def test_cleaning_operator_reproduces_clean(nitime, rng):
    y, conf = nitime
    keep = rng.random(len(y)) > 0.2
    for order in ("regress-filter", "filter-regress"):
        op = cleaning_operator(conf, keep, TR, order=order)
        np.testing.assert_allclose(op @ y, clean(y, conf, keep, TR, order=order), rtol=1e-7, atol=1e-7)


def test_ill_scaled_confounds_still_match_nilearn(rng):
    n = 200
    y = rng.standard_normal((n, 5))
    big = 1e6 + 1e4 * rng.standard_normal(n)
    small = 1e-6 * rng.standard_normal(n)
    conf = np.column_stack([big, big**2, small])
    y += 1e-4 * conf[:, :1] + 3e5 * conf[:, 2:]
    ours = clean(y, conf, np.ones(n, bool), 2.0, bandpass=False)
    ref = nsignal.clean(y, confounds=conf, detrend=True, standardize=None, filter=False, t_r=2.0)
    assert _rel(ours, ref) < 1e-6


def test_interpolation_is_cubic_inside_and_nearest_at_edges():
    t = np.arange(20, dtype=float)
    y = (t**3 - 2 * t)[:, None]
    keep = np.ones(20, bool)
    keep[[0, 1, 9, 10, 19]] = False
    out = interpolate_censored(y, keep)
    np.testing.assert_allclose(out[[9, 10]], y[[9, 10]], rtol=1e-10)  # a cubic is reproduced exactly
    assert out[0, 0] == out[1, 0] == y[2, 0] and out[19, 0] == y[18, 0]


def test_bad_band_is_a_clear_error(nitime):
    y, conf = nitime
    with pytest.raises(ValueError, match="below the Nyquist"):
        clean(y, conf, np.ones(len(y), bool), TR, low_pass=0.5)
    with pytest.raises(ValueError, match="below the low-pass"):
        clean(y, conf, np.ones(len(y), bool), TR, high_pass=0.1, low_pass=0.08)
