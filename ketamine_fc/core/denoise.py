"""Censoring-aware nuisance regression and band-pass filtering (methods.md rows 7-10).

Two orders, both linear in the data (so :func:`cleaning_operator` returns the matrix that does it all):

``"regress-filter"`` (default; XCP-D before 0.4, methods row 10's first form)
    1. least squares of the data on [intercept, linear trend, confounds], fit on retained frames only;
       residuals of every frame;
    2. censored frames replaced by a cubic spline through the retained residuals (nearest retained
       value before the first / after the last retained frame, as XCP-D);
    3. zero-phase Butterworth band-pass; 4. retained frames returned.
``"filter-regress"`` (nilearn's and current XCP-D's order; Lindquist et al. 2019)
    1. censored frames of the data, the linear trend and the confounds interpolated as above;
    2. all of them band-passed identically; 3. least squares of the filtered data on [intercept,
       filtered trend, filtered confounds] over retained frames; 4. retained residuals returned.
       (nilearn and XCP-D instead detrend by a fit over all interpolated frames before filtering;
       here the filtered trend is fit jointly with the confounds on retained frames.)

The filter is :func:`scipy.signal.butter` of order ``filter_order`` (a band-pass has twice as many
poles) in second-order sections, run forward and back (``sosfiltfilt``) with the edge values padded
over T - 1 frames: nilearn's ``butterworth`` with XCP-D's padding. The least squares use a pivoted
QR of the design with its confound columns centred and scaled over retained frames, so confounds of
very different magnitudes (1e6 next to 1e-6) lose no accuracy.
"""

from __future__ import annotations

import numpy as np
from scipy import interpolate, linalg, signal

ORDERS = ("regress-filter", "filter-regress")
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


def butterworth(data, tr, *, high_pass=0.009, low_pass=0.08, order=2):
    """Zero-phase Butterworth filter along axis 0 (band-, high- or low-pass by which edges are set)."""
    hp, lp = check_band(tr, high_pass, low_pass)
    data = np.asarray(data, dtype=float)
    if hp is None and lp is None:
        return data.copy()
    if hp is not None and lp is not None:
        sos = signal.butter(order, [hp, lp], btype="bandpass", fs=1.0 / tr, output="sos")
    elif hp is not None:
        sos = signal.butter(order, hp, btype="highpass", fs=1.0 / tr, output="sos")
    else:
        sos = signal.butter(order, lp, btype="lowpass", fs=1.0 / tr, output="sos")
    return signal.sosfiltfilt(sos, data, axis=0, padtype="constant", padlen=data.shape[0] - 1)


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


def _residualise(y, x, keep):
    """``y - x @ beta`` for every frame, beta fit on ``keep`` rows; column 0 of ``x`` is the intercept."""
    xk = x[keep]
    z = x.copy()
    if x.shape[1] > 1:
        centre = xk[:, 1:].mean(axis=0)
        scale = np.sqrt(np.mean((xk[:, 1:] - centre) ** 2, axis=0))
        constant = scale <= np.finfo(float).eps * np.maximum(np.abs(centre), 1.0)
        scale[constant] = 1.0  # a column constant over retained frames is the intercept again: QR drops it
        z[:, 1:] = (x[:, 1:] - centre) / scale
    q, r, piv = linalg.qr(z[keep], mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int(np.sum(diag > diag[0] * max(xk.shape) * np.finfo(float).eps)) if diag.size else 0
    coef = linalg.solve_triangular(r[:rank, :rank], q[:, :rank].T @ y[keep])
    return y - z[:, piv[:rank]] @ coef


def clean(data, confounds, keep, tr, *, low_pass=0.08, high_pass=0.009, bandpass=True, filter_order=2,
          detrend=True, order="regress-filter", interpolation="cubic") -> np.ndarray:
    """Denoise frames x signals ``data`` and return its retained frames.

    Parameters
    ----------
    data : (T, N) array
        Any N, including N = T (the identity, see :func:`cleaning_operator`).
    confounds : (T, k) array or None
        Nuisance regressors (an intercept and, with ``detrend``, a linear trend are always added).
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
        Include the linear trend in the design.
    order : {"regress-filter", "filter-regress"}
        See the module docstring.
    interpolation : {"cubic", "linear"}
        How censored frames are filled before filtering.

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
    x, _ = design_matrix(confounds, n_frames, detrend=detrend)
    if keep.sum() < x.shape[1] + 1:
        raise ValueError(f"{int(keep.sum())} retained frames cannot fit {x.shape[1]} regressors")
    if bandpass:
        check_band(tr, high_pass, low_pass)

    def filt(values):
        values = interpolate_censored(values, keep, interpolation)
        return butterworth(values, tr, high_pass=high_pass, low_pass=low_pass, order=filter_order)

    if not bandpass:
        out = _residualise(data, x, keep)
    elif order == "regress-filter":
        out = filt(_residualise(data, x, keep))
    else:
        out = _residualise(filt(data), np.column_stack([x[:, :1], filt(x[:, 1:])]), keep)
    return out[keep]


def cleaning_operator(confounds, keep, tr, **kwargs) -> np.ndarray:
    """The (n_keep, T) matrix L with ``L @ Y == clean(Y, confounds, keep, tr, **kwargs)`` for every (T, N) Y."""
    n_frames = np.asarray(keep).size
    return clean(np.eye(n_frames), confounds, keep, tr, **kwargs)
