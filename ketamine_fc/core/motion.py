"""Head motion: framewise displacement, filtering of the motion traces, censoring masks.

References: Power et al. 2012 (FD), Power et al. 2014 (FD > 0.2 mm censoring, the 5-frame rule),
Fair et al. 2020 (notch filter) and Gratton et al. 2020 (low-pass filter) for respiration-contaminated
motion traces, implemented with XCP-D's conventions (band edges in breaths per minute, aliased into the
sampled band; filter order shared out over ``filtfilt``'s two passes).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import signal

MOTION_COLUMNS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
MOTION_FILTERS = ("none", "notch", "lp")


def _check_params(params) -> np.ndarray:
    params = np.asarray(params, dtype=float)
    if params.ndim != 2 or params.shape[1] != 6:
        raise ValueError(f"motion parameters must be (frames, 6), got shape {params.shape}")
    if not np.isfinite(params).all():
        raise ValueError("motion parameters contain NaN or infinite values")
    return params


def framewise_displacement(params, radius=50.0) -> np.ndarray:
    """Power et al. (2012) framewise displacement.

    Parameters
    ----------
    params : (T, 6) array
        Realignment parameters in :data:`MOTION_COLUMNS` order: translations in mm, rotations in radians.
    radius : float
        Head radius in mm; rotations become arc lengths on a sphere of this radius (fMRIPrep, XCP-D: 50).

    Returns
    -------
    (T,) array
        Sum of the absolute frame-to-frame changes (mm); the first frame is 0.
    """
    params = _check_params(params)
    diff = np.abs(np.diff(params, axis=0))
    diff[:, 3:] *= radius
    return np.r_[0.0, diff.sum(axis=1)]


def _alias(freq_hz, tr):
    """Frequency at which a component of ``freq_hz`` appears when sampled every ``tr`` seconds (XCP-D)."""
    fs = 1.0 / tr
    return np.abs(freq_hz - np.floor((freq_hz + fs / 2.0) / fs) * fs)


def motion_filter_band(filter_type, band_stop_min, band_stop_max, tr):
    """Check the motion-filter options; return the band edges (breaths per minute) after aliasing.

    Edges above the Nyquist frequency are folded into the sampled band as XCP-D does (a warning says so).

    Returns
    -------
    (float or None, float or None)
        ``(band_stop_min, band_stop_max)`` as used; ``(None, None)`` for ``"none"``; ``max`` is None for ``"lp"``.
    """
    if filter_type in (None, "none"):
        return None, None
    if filter_type not in MOTION_FILTERS:
        raise ValueError(f"unknown motion filter type {filter_type!r}; choose none, notch or lp")
    if tr is None or tr <= 0:
        raise ValueError(f"the repetition time must be positive, got {tr}")
    if band_stop_min is None or band_stop_min <= 0:
        raise ValueError(f"the {filter_type} motion filter needs band_stop_min > 0 (breaths per minute)")
    nyquist_bpm = 30.0 / tr
    if filter_type == "lp":
        adjusted = float(_alias(band_stop_min / 60.0, tr) * 60.0)
        if adjusted <= 0:
            raise ValueError(f"the lp cutoff {band_stop_min} bpm aliases to 0 at TR {tr} s")
        if not np.isclose(adjusted, band_stop_min):
            warnings.warn(f"motion low-pass cutoff {band_stop_min} bpm is above Nyquist ({nyquist_bpm:.2f} bpm); "
                          f"using the aliased {adjusted:.3f} bpm", stacklevel=2)
        return adjusted, None
    if band_stop_max is None or band_stop_max <= band_stop_min:
        raise ValueError(f"the notch motion filter needs band_stop_max > band_stop_min (breaths per minute), "
                         f"got {band_stop_min} and {band_stop_max}")
    low, high = (float(v) for v in _alias(np.array([band_stop_min, band_stop_max]) / 60.0, tr) * 60.0)
    centre = (low + high) / 2.0
    if np.isclose(low, high) or centre <= 0 or centre >= nyquist_bpm:
        raise ValueError(f"the notch band {band_stop_min}-{band_stop_max} bpm aliases to a degenerate band "
                         f"({low:.3f}-{high:.3f} bpm) at TR {tr} s")
    if not (np.isclose(low, band_stop_min) and np.isclose(high, band_stop_max)):
        warnings.warn(f"motion notch band {band_stop_min}-{band_stop_max} bpm reaches above Nyquist "
                      f"({nyquist_bpm:.2f} bpm); using the aliased band {low:.3f}-{high:.3f} bpm", stacklevel=2)
    return low, high


def filter_motion(params, tr, filter_type="none", band_stop_min=None, band_stop_max=None, filter_order=4):
    """Filter respiration out of the motion traces, as XCP-D does.

    Parameters
    ----------
    params : (T, 6) array
        Realignment parameters (any columns; each is filtered along time).
    tr : float
        Repetition time (s).
    filter_type : {"none", "notch", "lp"}
        ``notch``: :func:`scipy.signal.iirnotch` at the centre of [band_stop_min, band_stop_max] with that
        width (Q = centre / width), run through ``filtfilt`` ``filter_order // 4`` times.
        ``lp``: Butterworth low-pass at ``band_stop_min`` of order ``filter_order // 2``, through ``filtfilt``.
        Both pad with the edge values over T - 1 frames.
    band_stop_min, band_stop_max : float
        Band edges in **breaths per minute** (Hz x 60), aliased when above Nyquist
        (see :func:`motion_filter_band`). ``lp`` uses only ``band_stop_min``.
    filter_order : int
        Overall order: at least 2 for ``lp`` and 4 for ``notch``.

    Returns
    -------
    (T, 6) array
    """
    params = np.asarray(params, dtype=float)
    if params.ndim != 2 or not np.isfinite(params).all():
        raise ValueError("motion parameters must be a finite (frames, columns) array")
    low, high = motion_filter_band(filter_type, band_stop_min, band_stop_max, tr)
    if low is None:
        return params.copy()
    fs = 1.0 / tr
    padlen = params.shape[0] - 1
    if filter_type == "lp":
        if filter_order < 2:
            raise ValueError(f"the lp motion filter needs filter_order >= 2 (filtfilt doubles it), got {filter_order}")
        b, a = signal.butter(int(filter_order // 2), low / 60.0, btype="lowpass", fs=fs)
        return signal.filtfilt(b, a, params, axis=0, padtype="constant", padlen=padlen)
    if filter_order < 4:
        raise ValueError(f"the notch motion filter needs filter_order >= 4 (a 2nd-order notch run forward and "
                         f"back), got {filter_order}")
    centre, width = (low + high) / 120.0, abs(high - low) / 60.0
    b, a = signal.iirnotch(centre, centre / width, fs=fs)
    out = params
    for _ in range(int(filter_order // 4)):
        out = signal.filtfilt(b, a, out, axis=0, padtype="constant", padlen=padlen)
    return out


def contiguous_segments(keep) -> list[tuple[int, int]]:
    """Start and stop (exclusive) of each run of True values in ``keep``."""
    keep = np.asarray(keep, dtype=bool).astype(np.int8)
    edges = np.diff(np.r_[0, keep, 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def censor_mask(fd, fd_thresh=0.2, min_contig=5, n_dummy=0) -> np.ndarray:
    """Frames to keep (True).

    A frame is dropped if it is one of the first ``n_dummy`` frames, if FD > ``fd_thresh`` (mm; a threshold
    <= 0 disables this rule), or if it lies in a run of retained frames shorter than ``min_contig``
    (Power 2014; 0 or 1 disables this rule). A NaN FD (fMRIPrep's first frame) never censors.
    """
    fd = np.asarray(fd, dtype=float)
    if fd.ndim != 1:
        raise ValueError(f"FD must be one value per frame, got shape {fd.shape}")
    n_dummy = int(n_dummy)
    if not 0 <= n_dummy <= fd.size:
        raise ValueError(f"n_dummy must be between 0 and the {fd.size} frames, got {n_dummy}")
    keep = np.ones(fd.size, dtype=bool)
    if fd_thresh is not None and fd_thresh > 0:
        keep &= ~(np.nan_to_num(fd, nan=0.0) > fd_thresh)
    keep[:n_dummy] = False
    if min_contig and min_contig > 1:
        for start, stop in contiguous_segments(keep):
            if stop - start < min_contig:
                keep[start:stop] = False
    return keep
