"""Nuisance regression and filtering against nilearn.signal.clean, scipy and an independent implementation of
XCP-D's ``denoise_with_nilearn`` on real ROI time series.

For ``regress-filter``, nilearn differences that the references below account for (the maths is otherwise
identical):
- nilearn's ``detrend`` removes a trend over its own frame count after censoring (``filter=False``) or over
  all interpolated frames before filtering; ours fits the trend in original frame numbers jointly with the
  confounds on retained frames. Passing the trend to nilearn as a confound with ``detrend=False`` is
  the same model.
- nilearn's projection on z-scored confounds does not remove the mean when ``detrend=False``; our
  intercept does, so nilearn's output is compared after subtracting its column means.
- nilearn drops censored frames before the first / after the last retained one before filtering; ours
  fills them with the nearest retained value (XCP-D), so the nilearn comparisons censor interior frames.
"""

import numpy as np
import pandas as pd
import pytest
from nilearn import signal as nsignal
from scipy import interpolate
from scipy import signal as ssignal

from ketamine_fc.core.denoise import (butterworth, clean, cleaning_operator, design_matrix, interpolate_censored,
                                     regression_design)

from references import xcpd_denoise

TR = 1.89
BAND = {"low_pass": 0.08, "high_pass": 0.009}


@pytest.fixture(scope="module")
def nitime(shared_data):
    df = pd.read_csv(shared_data / "fmri/nitime/fmri_timeseries.csv")
    raw = df[["WM", "Vent", "Brain"]].to_numpy(dtype=float)
    conf = np.column_stack([raw, np.r_[np.zeros((1, 3)), np.diff(raw, axis=0)]])
    return df.drop(columns=["WM", "Vent", "Brain"]).to_numpy(dtype=float), conf


@pytest.fixture(scope="module")
def keep(nitime):
    """Three interior censored stretches (6, 5 and 7 frames)."""
    keep = np.ones(len(nitime[0]), bool)
    keep[np.r_[20:26, 90:95, 160:167]] = False
    return keep


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def _nilearn(y, conf, keep=None, **kwargs):
    """nilearn.signal.clean with our trend as a confound (see the module docstring)."""
    trend = np.arange(len(y), dtype=float)[:, None]
    mask = None if keep is None else np.flatnonzero(keep)
    out = nsignal.clean(y, confounds=np.column_stack([conf, trend]), detrend=False, standardize=None, t_r=TR,
                        sample_mask=mask, **kwargs)
    return out - out.mean(axis=0)


def _nilearn_butterworth(n_frames):
    """nilearn's Butterworth made ours: order 2, edge-value padding over T - 1 frames (XCP-D's)."""
    return {"filter": "butterworth", **BAND, "butterworth__order": 2, "butterworth__padtype": "constant",
            "butterworth__padlen": n_frames - 1}


def test_a_regression_equals_nilearn_without_censoring(nitime):
    y, conf = nitime
    ours = clean(y, conf, np.ones(len(y), bool), TR, bandpass=False)
    ref = nsignal.clean(y, confounds=conf, detrend=True, standardize=None, filter=False, t_r=TR)
    assert _rel(ours, ref) < 1e-10


def test_b_regression_on_retained_frames_equals_nilearn_sample_mask(nitime, keep):
    y, conf = nitime
    ours = clean(y, conf, keep, TR, bandpass=False, order="regress-filter")
    assert ours.shape == (keep.sum(), y.shape[1])
    assert _rel(ours, _nilearn(y, conf, keep, filter=False)) < 1e-10


@pytest.mark.parametrize("censor", [False, True])
def test_c_bandpass_equals_scipy_butter_filtfilt_of_the_residual(nitime, keep, censor):
    y, conf = nitime
    keep = keep if censor else np.ones(len(y), bool)
    x = np.column_stack([np.ones(len(y)), np.arange(len(y)), conf])
    resid = y - x @ np.linalg.lstsq(x[keep], y[keep], rcond=None)[0]
    kept, gone = np.flatnonzero(keep), np.flatnonzero(~keep)
    if censor:
        resid[gone] = interpolate.CubicSpline(kept, resid[kept])(gone)
    b, a = ssignal.butter(2, [0.009, 0.08], btype="bandpass", fs=1 / TR)
    ref = ssignal.filtfilt(b, a, resid, axis=0, padtype="constant", padlen=len(y) - 1)[keep]
    assert _rel(clean(y, conf, keep, TR, order="regress-filter"), ref) < 1e-8


def test_c_interpolation_and_filter_equal_nilearn_on_the_residual(nitime, keep):
    y, conf = nitime
    x, _ = design_matrix(conf, len(y))
    resid = y - x @ np.linalg.lstsq(x[keep], y[keep], rcond=None)[0]
    ref = nsignal.clean(resid, detrend=False, standardize=None, t_r=TR, sample_mask=np.flatnonzero(keep),
                        **_nilearn_butterworth(len(y)))
    assert _rel(clean(y, conf, keep, TR, order="regress-filter"), ref) < 1e-8


def xcpd_reference(y, conf, keep, tr):
    return xcpd_denoise(y, conf, keep, tr)


@pytest.mark.parametrize("edges", [False, True])
def test_d_filter_regress_equals_xcpd_algorithm(nitime, keep, edges):
    y, conf = nitime
    keep = keep.copy()
    if edges:
        keep[:4] = keep[-3:] = False
    assert _rel(clean(y, conf, keep, TR), xcpd_reference(y, conf, keep, TR)) < 1e-8
    for j in range(y.shape[1]):  # per region: max difference over max magnitude (the acceptance criterion)
        ours, ref = clean(y[:, j], conf, keep, TR)[:, 0], xcpd_reference(y[:, j:j + 1], conf, keep, TR)[:, 0]
        assert np.abs(ours - ref).max() / np.abs(ref).max() < 1e-8


def test_d_filter_regress_equals_nilearn_without_confound_standardisation(nitime, keep):
    """nilearn's clean is the same model when it does not z-score the confounds (which adds an intercept) and
    no censored frame mirrors another (its 0.14.1 interpolation indexes with a reversed mask)."""
    y, conf = nitime
    gone = np.flatnonzero(~keep)
    assert not set(gone) & set(len(y) - 1 - gone)
    ref = nsignal.clean(y, confounds=conf, detrend=True, standardize=None, standardize_confounds=False, t_r=TR,
                        sample_mask=np.flatnonzero(keep), **_nilearn_butterworth(len(y)))
    assert _rel(clean(y, conf, keep, TR), ref) < 1e-8


def test_mirrored_censoring_is_interpolated(rng):
    """Frames j and T-1-j both censored: each is the cubic spline through the retained frames (scipy directly)."""
    n = 120
    y = np.cumsum(rng.standard_normal((n, 3)), axis=0)
    keep = np.ones(n, bool)
    gone = np.r_[10, 11, 30, 55, 64]
    keep[gone] = keep[n - 1 - gone] = False
    kept = np.flatnonzero(keep)
    spline = interpolate.CubicSpline(kept, y[kept], axis=0)
    out = interpolate_censored(y, keep)
    missing = np.flatnonzero(~keep)
    np.testing.assert_allclose(out[missing], spline(missing), rtol=1e-12, atol=1e-12)
    assert np.all(np.abs(out[missing] - y[missing]) > 0)  # none left as it was
    conf = rng.standard_normal((n, 4))
    assert _rel(clean(y, conf, keep, 2.0), xcpd_reference(y, conf, keep, 2.0)) < 1e-8


def test_filter_regress_design_is_the_filtered_confounds(nitime, keep):
    y, conf = nitime
    x = regression_design(conf, keep, TR)
    # the residual of the confounds on their own design is zero on the retained frames: the design is what
    # xcpd_reference regresses out (its confounds, processed like the data)
    assert x.shape == conf.shape
    assert np.abs(xcpd_reference(conf, conf, keep, TR)).max() < 1e-8 * np.abs(x).max()
    assert _rel(x[keep], clean(conf, None, keep, TR)) < 1e-10
    assert regression_design(conf, keep, TR, order="regress-filter").shape == (len(y), conf.shape[1] + 2)


def test_orders_agree_without_censoring_or_filtering(nitime):
    """Frisch-Waugh-Lovell: regressing detrended data on detrended confounds equals one fit with [1, t, C]."""
    y, conf = nitime
    full = np.ones(len(y), bool)
    a = clean(y, conf, full, TR, bandpass=False, order="regress-filter")
    np.testing.assert_allclose(clean(y, conf, full, TR, bandpass=False, order="filter-regress"), a, atol=1e-9)


@pytest.mark.parametrize("order", ["regress-filter", "filter-regress"])
def test_cleaning_operator_reproduces_clean(nitime, rng, order):
    y, conf = nitime
    keep = rng.random(len(y)) > 0.2
    keep[:3] = keep[-2:] = False  # censored frames at both edges too
    op = cleaning_operator(conf, keep, TR, order=order)
    assert op.shape == (keep.sum(), len(y))
    ours = clean(y, conf, keep, TR, order=order)
    assert _rel(op @ y, ours) < 1e-6
    np.testing.assert_allclose(op @ y[:, :1], ours[:, :1], rtol=1e-6, atol=1e-9 * np.abs(ours).max())


@pytest.mark.parametrize("censor", [False, True])
def test_ill_scaled_confounds_still_match_nilearn(rng, censor):
    n = 200
    y = rng.standard_normal((n, 5))
    big = 1e6 + 1e4 * rng.standard_normal(n)
    small = 1e-6 * rng.standard_normal(n)
    conf = np.column_stack([big, big**2, small])
    y += 1e-4 * conf[:, :1] + 3e5 * conf[:, 2:]
    keep = np.ones(n, bool)
    if censor:
        keep[50:60] = False
    ours = clean(y, conf, keep, 2.0, bandpass=False, order="regress-filter")
    ref = nsignal.clean(y, confounds=np.column_stack([conf, np.arange(n)]), detrend=False, standardize=None,
                        filter=False, t_r=2.0, sample_mask=np.flatnonzero(keep) if censor else None)
    assert _rel(ours, ref - ref.mean(axis=0)) < 1e-6
    # the planted 1e-6-scale confound is removed: residuals are uncorrelated with it
    assert abs(np.corrcoef(ours[:, 0], small[keep])[0, 1]) < 1e-6


def test_planted_nuisance_is_removed_and_signal_kept(rng):
    n, tr = 300, 2.0
    t = np.arange(n) * tr
    sig = np.sin(2 * np.pi * 0.03 * t)  # in band
    nuis = np.cumsum(rng.standard_normal(n))
    y = (sig + 5 * nuis + 0.01 * t)[:, None]
    keep = np.ones(n, bool)
    keep[100:110] = False
    y[~keep] += 40.0  # a motion burst on the censored frames must not leak into the fit
    out = clean(y, nuis, keep, tr)[:, 0]
    assert np.corrcoef(out, sig[keep])[0, 1] > 0.98


def test_design_matrix_by_hand():
    conf = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [0.0, 1.0, 0.0]})
    x, names = design_matrix(conf, 3)
    np.testing.assert_array_equal(x, [[1, -1, 1, 0], [1, 0, 2, 1], [1, 1, 4, 0]])
    assert names == ["intercept", "linear_trend", "a", "b"]
    x, names = design_matrix(None, 2, detrend=False)
    assert names == ["intercept"] and x.shape == (2, 1)
    assert design_matrix(np.zeros((3, 2)), 3)[1][2:] == ["confound_00", "confound_01"]


def test_interpolation_is_cubic_inside_and_nearest_at_edges():
    t = np.arange(20, dtype=float)
    y = np.column_stack([t**3 - 2 * t, t])
    keep = np.ones(20, bool)
    keep[[0, 1, 9, 10, 19]] = False
    out = interpolate_censored(y, keep)
    np.testing.assert_allclose(out[[9, 10]], y[[9, 10]], rtol=1e-10)  # a cubic is reproduced exactly
    assert (out[[0, 1]] == y[2]).all() and (out[19] == y[18]).all()
    np.testing.assert_allclose(interpolate_censored(y, keep, "linear")[9:11, 1], [9, 10])


def test_butterworth_passes_band_and_stops_outside():
    tr, n = 0.8, 2000
    t = np.arange(n) * tr
    inner = slice(300, n - 300)
    for freq, gain in ((0.03, 1.0), (0.003, 0.0), (0.3, 0.0)):
        out = butterworth(np.sin(2 * np.pi * freq * t), tr)
        assert abs(np.abs(out[inner]).max() - gain) < 0.03, freq


def test_bad_inputs_are_clear_errors(nitime):
    y, conf = nitime
    full = np.ones(len(y), bool)
    with pytest.raises(ValueError, match=r"low-pass cutoff 0.5 Hz must be below the Nyquist frequency 0.2646"):
        clean(y, conf, full, TR, low_pass=0.5)
    with pytest.raises(ValueError, match="high-pass cutoff 0.1 Hz must be below the low-pass cutoff 0.08"):
        clean(y, conf, full, TR, high_pass=0.1, low_pass=0.08)
    assert clean(y, conf, full, TR, low_pass=0.5, bandpass=False).shape == y.shape
    with pytest.raises(ValueError, match="keep has shape"):
        clean(y, conf, full[1:], TR)
    with pytest.raises(ValueError, match="retained frames cannot fit"):
        clean(y, conf, np.r_[np.ones(5, bool), np.zeros(len(y) - 5, bool)], TR)
    with pytest.raises(ValueError, match="order must be"):
        clean(y, conf, full, TR, order="both")
    with pytest.raises(ValueError, match="confounds have 10 frames"):
        clean(y, conf[:10], full, TR)


def test_filter_regress_without_detrend_still_removes_the_mean(nitime, keep):
    """No intercept in XCP-D's design: without the detrend, the mean of data and confounds must still go."""
    y, conf = nitime
    shifted = conf + 1e4  # confounds with large means (like CSF or WM signals)
    out = clean(y + 500.0, shifted, keep, TR, detrend=False, bandpass=False)
    ref = clean(y, conf, keep, TR, detrend=False, bandpass=False)
    assert _rel(out, ref) < 1e-8
    assert np.abs(out.mean(axis=0)).max() < 1e-6 * np.abs(y).max() + np.abs(ref.mean(axis=0)).max()
