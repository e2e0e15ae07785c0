"""Censoring-aware nuisance regression and band-pass filtering (methods.md rows 7-10).

Default order ("regress-filter", as XCP-D): fit intercept, linear trend and confounds on retained frames
only; take residuals of every frame; interpolate censored frames (cubic spline through the retained
frames, nearest retained value beyond the first/last one); zero-phase Butterworth band-pass; keep the
retained frames. The alternative ("filter-regress", nilearn's order) interpolates and filters the data and
the confounds identically, then regresses on retained frames. Every step is linear in the data, so
``cleaning_operator`` returns the matrix that performs it.
"""

from __future__ import annotations

import numpy as np
from scipy import interpolate, linalg, signal

ORDERS = ("regress-filter", "filter-regress")


def design_matrix(confounds, n_frames: int, detrend: bool = True):
    """The regression design: intercept, linear trend (if ``detrend``) and the confounds, with names."""
    cols, names = [np.ones(n_frames)], ["intercept"]
    if detrend:
        cols.append(np.arange(n_frames, dtype=float) - (n_frames - 1) / 2.0)
        names.append("linear_trend")
    if confounds is not None:
        conf = np.asarray(confounds, dtype=float).reshape(n_frames, -1)
        cols.extend(conf.T)
        names.extend(f"confound_{i:02d}" for i in range(conf.shape[1]))
    return np.column_stack(cols), names


def _check_band(tr, high_pass, low_pass):
    nyquist = 0.5 / tr
    hp = high_pass if high_pass and high_pass > 0 else None
    lp = low_pass if low_pass and low_pass > 0 else None
    if lp is not None and lp >= nyquist:
        raise ValueError(f"low-pass cutoff {lp} Hz must be below the Nyquist frequency {nyquist:.4f} Hz (TR {tr} s)")
    if hp is not None and lp is not None and hp >= lp:
        raise ValueError(f"high-pass cutoff {hp} Hz must be below the low-pass cutoff {lp} Hz")
    return hp, lp


def butterworth(data, tr, *, high_pass=0.009, low_pass=0.08, order=2):
    """Zero-phase Butterworth filter along axis 0 (``filtfilt``, constant padding of T-1 frames, as XCP-D)."""
    hp, lp = _check_band(tr, high_pass, low_pass)
    if hp is None and lp is None:
        return np.asarray(data, dtype=float)
    if hp is not None and lp is not None:
        b, a = signal.butter(order, [hp, lp], btype="bandpass", fs=1.0 / tr)
    elif hp is not None:
        b, a = signal.butter(order, hp, btype="highpass", fs=1.0 / tr)
    else:
        b, a = signal.butter(order, lp, btype="lowpass", fs=1.0 / tr)
    data = np.asarray(data, dtype=float)
    return signal.filtfilt(b, a, data, axis=0, padtype="constant", padlen=data.shape[0] - 1)


def interpolate_censored(data, keep, kind="cubic"):
    """Replace censored frames by a spline through the retained ones (nearest retained value at the edges)."""
    data = np.array(data, dtype=float, copy=True)
    keep = np.asarray(keep, dtype=bool)
    if keep.all() or keep.sum() < 2:
        return data
    t = np.arange(keep.size)
    kept = np.flatnonzero(keep)
    if kind == "cubic" and kept.size >= 4:
        fill = interpolate.CubicSpline(kept, data[kept], axis=0, extrapolate=False)(t[~keep])
    else:
        fill = interpolate.interp1d(kept, data[kept], axis=0, bounds_error=False)(t[~keep])
    data[~keep] = fill
    first, last = kept[0], kept[-1]
    data[:first] = data[first]
    data[last + 1:] = data[last]
    return data


def _residualise(y, x, keep):
    """y - x @ beta, beta fit on ``keep`` rows by a pivoted QR of the column-scaled design."""
    xk = x[keep]
    scale = np.sqrt(np.mean(xk**2, axis=0))
    scale[scale == 0] = 1.0
    q, r, piv = linalg.qr(xk / scale, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int(np.sum(diag > diag[0] * max(xk.shape) * np.finfo(float).eps)) if diag.size else 0
    coef = np.zeros((x.shape[1], y.shape[1]))
    coef[piv[:rank]] = linalg.solve_triangular(r[:rank, :rank], q[:, :rank].T @ y[keep])
    return y - (x / scale) @ coef


def clean(data, confounds, keep, tr, *, low_pass=0.08, high_pass=0.009, bandpass=True, filter_order=2,
          detrend=True, order="regress-filter", interpolation="cubic"):
    """Clean frames x signals ``data``; return the retained frames only, shape (n_keep, N).

    Parameters
    ----------
    data : (T, N) array
    confounds : (T, k) array or None
    keep : (T,) bool, retained frames
    tr : float, repetition time (s)
    low_pass, high_pass : float, band edges in Hz (<= 0 or None disables that edge)
    bandpass : bool, apply the Butterworth filter
    filter_order : int, Butterworth order (applied forward and backward)
    detrend : bool, include a linear trend in the design (the intercept is always included)
    order : "regress-filter" (default) or "filter-regress"
    interpolation : "cubic" or "linear", for censored frames before filtering
    """
    data = np.asarray(data, dtype=float)
    if data.ndim == 1:
        data = data[:, None]
    keep = np.asarray(keep, dtype=bool)
    n_frames = data.shape[0]
    if keep.shape != (n_frames,):
        raise ValueError(f"keep has {keep.size} frames, data has {n_frames}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    x, _ = design_matrix(confounds, n_frames, detrend=detrend)
    if keep.sum() < x.shape[1] + 1:
        raise ValueError(f"{int(keep.sum())} retained frames cannot fit {x.shape[1]} regressors")
    if bandpass:
        _check_band(tr, high_pass, low_pass)

    def filt(values):
        values = interpolate_censored(values, keep, interpolation)
        return butterworth(values, tr, high_pass=high_pass, low_pass=low_pass, order=filter_order)

    if order == "regress-filter" or not bandpass:
        out = _residualise(data, x, keep)
        if bandpass:
            out = filt(out)
    else:
        out = _residualise(filt(data), np.column_stack([x[:, :1], filt(x[:, 1:])]), keep)
    return out[keep]


def cleaning_operator(confounds, keep, tr, **kwargs) -> np.ndarray:
    """The (n_keep, T) matrix L with ``L @ Y == clean(Y, confounds, keep, tr, **kwargs)`` for every Y."""
    n_frames = np.asarray(keep).size
    return clean(np.eye(n_frames), confounds, keep, tr, **kwargs)
