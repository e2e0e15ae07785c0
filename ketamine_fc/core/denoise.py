"""Censoring-aware nuisance regression and band-pass filtering (methods.md rows 7-10).

Two orders, both linear in the data (so :func:`cleaning_operator` returns the matrix that does it all):

``"filter-regress"`` (default; XCP-D's ``denoise_with_nilearn``, Hallquist et al. 2013, the 4dfp order)
    1. censored frames of the data and of the confounds replaced by a cubic spline through the retained
       frames (nearest retained value before the first / after the last retained frame);
    2. linear trend and mean removed from data and confounds over all frames;
    3. the same zero-phase Butterworth band-pass applied to data and confounds;
    4. least squares of the data on the confounds (no intercept: both are already detrended) over the
       retained frames only; residuals of every frame; 5. retained frames returned.
``"regress-filter"`` (regress first, as XCP-D before 0.4)
    1. least squares of the data on [intercept, linear trend, confounds], fit on retained frames only;
       residuals of every frame; 2. censored frames interpolated as above; 3. band-pass;
    4. retained frames returned. Filtering after regression can bring back nuisance signal (Hallquist 2013).

The filter is :func:`scipy.signal.butter` of order ``filter_order`` (a band-pass has twice as many poles)
in second-order sections, run forward and back (``sosfiltfilt``), padded with the edge values over
T - 1 frames by default: nilearn's ``butterworth`` with XCP-D's padding. The least squares use a pivoted
QR of the design with its columns scaled over retained frames, so confounds of very different magnitudes
(1e6 next to 1e-6) lose no accuracy. The interpolation is :class:`scipy.interpolate.CubicSpline` itself
(nilearn's ``signal._interpolate_volumes`` indexes with a reversed mask in 0.14.1, leaving frame j
uninterpolated when frame T-1-j is also censored; it is not used).
"""

from __future__ import annotations

import numpy as np
from scipy import interpolate, linalg, signal

ORDERS = ("filter-regress", "regress-filter")
PADTYPES = ("constant", "odd", "even", "none")
INTERPOLATIONS = ("cubic", "linear")


def design_matrix(confounds, n_frames: int, detrend: bool = True):
    """The regression design before any filtering.

    Parameters
    ----------
    confounds : (T, k) array, DataFrame or None
    n_frames : int
    detrend : bool
        Include a linear trend (frame number minus its mean).

    Returns
    -------
    X : (T, 1 + detrend + k) array
        Intercept, linear trend, confounds.
    names : list of str
        ``intercept``, ``linear_trend``, then the DataFrame's column names or ``confound_00`` ...
    """
    cols, names = [np.ones(n_frames)], ["intercept"]
    if detrend:
        cols.append(np.arange(n_frames, dtype=float) - (n_frames - 1) / 2.0)
        names.append("linear_trend")
    if confounds is not None:
        conf = np.asarray(confounds, dtype=float)
        if conf.ndim == 1:
            conf = conf[:, None]
        if conf.shape[0] != n_frames:
            raise ValueError(f"the confounds have {conf.shape[0]} frames, the data {n_frames}")
        if not np.isfinite(conf).all():
            raise ValueError("the confounds contain NaN or infinite values")
        cols.extend(conf.T)
        labels = getattr(confounds, "columns", None)
        names.extend([str(c) for c in labels] if labels is not None and len(labels) == conf.shape[1]
                     else [f"confound_{i:02d}" for i in range(conf.shape[1])])
    return np.column_stack(cols), names


def check_band(tr, high_pass, low_pass):
    """Validated band edges (Hz; None where disabled): 0 < high_pass < low_pass < Nyquist."""
    if tr is None or not tr > 0:
        raise ValueError(f"the repetition time must be positive, got {tr}")
    nyquist = 0.5 / tr
    hp = float(high_pass) if high_pass is not None and high_pass > 0 else None
    lp = float(low_pass) if low_pass is not None and low_pass > 0 else None
    if lp is not None and lp >= nyquist:
        raise ValueError(f"the low-pass cutoff {lp} Hz must be below the Nyquist frequency {nyquist:.4f} Hz "
                         f"(TR {tr} s)")
    if hp is not None and hp >= nyquist:
        raise ValueError(f"the high-pass cutoff {hp} Hz must be below the Nyquist frequency {nyquist:.4f} Hz "
                         f"(TR {tr} s)")
    if hp is not None and lp is not None and hp >= lp:
        raise ValueError(f"the high-pass cutoff {hp} Hz must be below the low-pass cutoff {lp} Hz")
    return hp, lp


def butterworth(data, tr, *, high_pass=0.009, low_pass=0.08, order=2, padtype="constant", padlen=None):
    """Zero-phase Butterworth filter along axis 0 (band-, high- or low-pass by which edges are set).

    ``padtype`` (``constant``, ``odd``, ``even`` or ``none``) and ``padlen`` (default T - 1, the most possible)
    are those of :func:`scipy.signal.sosfiltfilt`.
    """
    hp, lp = check_band(tr, high_pass, low_pass)
    data = np.asarray(data, dtype=float)
    if hp is None and lp is None:
        return data.copy()
    if padtype not in PADTYPES:
        raise ValueError(f"padtype must be one of {PADTYPES}, got {padtype!r}")
    if hp is not None and lp is not None:
        sos = signal.butter(order, [hp, lp], btype="bandpass", fs=1.0 / tr, output="sos")
    elif hp is not None:
        sos = signal.butter(order, hp, btype="highpass", fs=1.0 / tr, output="sos")
    else:
        sos = signal.butter(order, lp, btype="lowpass", fs=1.0 / tr, output="sos")
    padlen = data.shape[0] - 1 if padlen is None else min(int(padlen), data.shape[0] - 1)
    if padtype == "none":
        return signal.sosfiltfilt(sos, data, axis=0, padtype=None)
    return signal.sosfiltfilt(sos, data, axis=0, padtype=padtype, padlen=padlen)


def detrend(data):
    """Remove the mean and the least-squares linear trend over all frames (axis 0)."""
    data = np.asarray(data, dtype=float)
    n = data.shape[0]
    ramp = np.arange(n, dtype=float) - (n - 1) / 2.0
    norm = np.sqrt(np.sum(ramp**2))
    out = data - data.mean(axis=0)
    if norm > 0:
        ramp /= norm
        out -= np.outer(ramp, ramp @ out) if out.ndim == 2 else ramp * (ramp @ out)
    return out


def interpolate_censored(data, keep, kind="cubic"):
    """Replace censored frames (``keep`` False) by a spline through the retained ones.

    Frames before the first / after the last retained frame take that frame's value (XCP-D), not an
    extrapolation. ``kind``: ``"cubic"`` (scipy ``CubicSpline``, not-a-knot, as nilearn) or ``"linear"``.
    """
    if kind not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {kind!r}")
    data = np.array(data, dtype=float, copy=True)
    keep = np.asarray(keep, dtype=bool)
    kept = np.flatnonzero(keep)
    if keep.all() or kept.size == 0:
        return data
    if kept.size == 1:
        data[:] = data[kept[0]]
        return data
    inside = np.flatnonzero(~keep)
    inside = inside[(inside > kept[0]) & (inside < kept[-1])]
    if inside.size:
        if kind == "cubic" and kept.size >= 4:
            data[inside] = interpolate.CubicSpline(kept, data[kept], axis=0)(inside)
        else:
            data[inside] = interpolate.interp1d(kept, data[kept], axis=0)(inside)
    data[: kept[0]] = data[kept[0]]
    data[kept[-1] + 1:] = data[kept[-1]]
    return data


def _residualise(y, x, keep, intercept=True):
    """``y - x @ beta`` for every frame, beta fit on ``keep`` rows.

    With ``intercept``, column 0 of ``x`` is the intercept and the other columns are centred and scaled over
    the retained frames; without, every column is only scaled (centring would add an intercept).
    """
    xk = x[keep]
    z = x.copy()
    first = 1 if intercept else 0
    if x.shape[1] > first:
        centre = xk[:, first:].mean(axis=0) if intercept else np.zeros(x.shape[1])
        scale = np.sqrt(np.mean((xk[:, first:] - centre) ** 2, axis=0))
        degenerate = scale <= np.finfo(float).eps * np.maximum(np.abs(centre), 1.0)
        scale[degenerate] = 1.0  # a constant (or zero) column: QR drops it
        z[:, first:] = (x[:, first:] - centre) / scale
    q, r, piv = linalg.qr(z[keep], mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int(np.sum(diag > diag[0] * max(xk.shape) * np.finfo(float).eps)) if diag.size and diag[0] > 0 else 0
    if rank == 0:
        return y.copy()
    coef = linalg.solve_triangular(r[:rank, :rank], q[:, :rank].T @ y[keep])
    return y - z[:, piv[:rank]] @ coef


def clean(data, confounds, keep, tr, *, low_pass=0.08, high_pass=0.009, bandpass=True, filter_order=2,
          detrend=True, order="filter-regress", interpolation="cubic", padtype="constant", padlen=None) -> np.ndarray:
    """Denoise frames x signals ``data`` and return its retained frames.

    Parameters
    ----------
    data : (T, N) array
        Any N, including N = T (the identity, see :func:`cleaning_operator`).
    confounds : (T, k) array or None
        Nuisance regressors. ``regress-filter`` adds an intercept and, with ``detrend``, a linear trend to them;
        ``filter-regress`` detrends data and confounds instead (see the module docstring).
    keep : (T,) bool array
        Retained frames; the regression is fit on these only.
    tr : float
        Repetition time (s).
    low_pass, high_pass : float
        Band edges (Hz); None or <= 0 disables an edge. Need 0 < high_pass < low_pass < Nyquist.
    bandpass : bool
        Apply the Butterworth filter (after interpolating censored frames).
    filter_order : int
        Butterworth order passed to :func:`scipy.signal.butter` (XCP-D ``--bpf-order``, default 2).
    detrend : bool
        Remove a linear trend (a design column with ``regress-filter``, a detrend with ``filter-regress``, which
        without it still removes the mean of data and confounds).
    order : {"filter-regress", "regress-filter"}
        See the module docstring.
    interpolation : {"cubic", "linear"}
        How censored frames are filled before filtering.
    padtype, padlen
        Padding of the filter (:func:`butterworth`).

    Returns
    -------
    (n_keep, N) array
    """
    data = np.asarray(data, dtype=float)
    if data.ndim == 1:
        data = data[:, None]
    keep = np.asarray(keep).astype(bool)
    n_frames = data.shape[0]
    if keep.shape != (n_frames,):
        raise ValueError(f"keep has shape {keep.shape}; it needs one value per frame ({n_frames})")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    x = regression_design(confounds, keep, tr, low_pass=low_pass, high_pass=high_pass, bandpass=bandpass,
                          filter_order=filter_order, detrend=detrend, order=order, interpolation=interpolation,
                          padtype=padtype, padlen=padlen)
    if keep.sum() < x.shape[1] + 1:
        raise ValueError(f"{int(keep.sum())} retained frames cannot fit {x.shape[1]} regressors")

    band = dict(bandpass=bandpass, high_pass=high_pass, low_pass=low_pass, order=filter_order, padtype=padtype,
                padlen=padlen, interpolation=interpolation)
    if order == "regress-filter":
        out = _residualise(data, x, keep)
        out = _prepared(out, keep, tr, trend=None, **band) if bandpass else out
    else:
        out = _prepared(data, keep, tr, trend="linear" if detrend else "mean", **band)
        out = _residualise(out, x, keep, intercept=False) if x.shape[1] else out
    return out[keep]


def _prepared(values, keep, tr, *, trend, bandpass, interpolation, **filtering):
    """Censored frames interpolated, then ``trend`` (``"linear"``, ``"mean"`` or None) removed, then band-passed:
    what ``filter-regress`` does to data and regressors alike, and ``regress-filter`` to the residuals."""
    out = interpolate_censored(values, keep, interpolation)
    if trend == "linear":
        out = detrend(out)
    elif trend == "mean":
        out = out - out.mean(axis=0)
    return butterworth(out, tr, **filtering) if bandpass else out


def regression_design(confounds, keep, tr, *, low_pass=0.08, high_pass=0.009, bandpass=True, filter_order=2,
                      detrend=True, order="filter-regress", interpolation="cubic", padtype="constant",
                      padlen=None) -> np.ndarray:
    """The design the regression of :func:`clean` actually fits (T rows; fit on the retained ones).

    ``regress-filter``: [intercept, linear trend, confounds] (:func:`design_matrix`). ``filter-regress``: the
    confounds interpolated, detrended and filtered exactly as the data (no intercept, no trend column).
    """
    keep = np.asarray(keep).astype(bool)
    if order == "regress-filter":
        return design_matrix(confounds, keep.size, detrend=detrend)[0]
    if bandpass:
        check_band(tr, high_pass, low_pass)
    x = design_matrix(confounds, keep.size, detrend=False)[0][:, 1:]
    if not x.shape[1]:
        return x
    # no intercept in this design: without the detrend, the mean still goes
    return _prepared(x, keep, tr, trend="linear" if detrend else "mean", bandpass=bandpass,
                     interpolation=interpolation, high_pass=high_pass, low_pass=low_pass, order=filter_order,
                     padtype=padtype, padlen=padlen)


def cleaning_operator(confounds, keep, tr, **kwargs) -> np.ndarray:
    """The (n_keep, T) matrix L with ``L @ Y == clean(Y, confounds, keep, tr, **kwargs)`` for every (T, N) Y."""
    n_frames = np.asarray(keep).size
    return clean(np.eye(n_frames), confounds, keep, tr, **kwargs)
