"""Head motion: framewise displacement, optional filtering of the motion traces, censoring masks."""

from __future__ import annotations

import numpy as np
from scipy import signal

MOTION_COLUMNS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")


def framewise_displacement(params, radius=50.0) -> np.ndarray:
    """Power et al. (2012) FD: sum of absolute frame-to-frame changes of the six realignment parameters.

    Translations in mm; rotations in radians, converted to arc length on a sphere of ``radius`` mm.
    The first frame is 0.
    """
    params = np.asarray(params, dtype=float)
    if params.ndim != 2 or params.shape[1] != 6:
        raise ValueError(f"motion parameters must be (frames, 6), got {params.shape}")
    diff = np.abs(np.diff(params, axis=0))
    diff[:, 3:] *= radius
    return np.r_[0.0, diff.sum(axis=1)]


def filter_motion(params, tr, filter_type="none", band_stop_min=None, band_stop_max=None, filter_order=4):
    """Filter motion traces contaminated by respiration, as XCP-D does.

    ``notch``: an IIR notch at the centre of [band_stop_min, band_stop_max] breaths per minute (aliased
    into the sampled band when above Nyquist), applied forward and back ``filter_order // 4`` times.
    ``lp``: a Butterworth low-pass at ``band_stop_min`` breaths per minute of order ``filter_order // 2``,
    applied forward and back. Breaths per minute / 60 = Hz.
    """
    params = np.asarray(params, dtype=float)
    if filter_type in (None, "none"):
        return params
    fs = 1.0 / tr
    nyquist = fs / 2.0
    if filter_type == "lp":
        if band_stop_min is None or band_stop_min <= 0:
            raise ValueError("the lp motion filter needs --band-stop-min (breaths per minute) > 0")
        cutoff = band_stop_min / 60.0
        if cutoff >= nyquist:
            raise ValueError(f"the lp cutoff {band_stop_min} bpm ({cutoff:.3f} Hz) is above Nyquist ({nyquist:.3f} Hz)")
        b, a = signal.butter(max(filter_order // 2, 1), cutoff, btype="lowpass", fs=fs)
        return signal.filtfilt(b, a, params, axis=0, padtype="constant", padlen=params.shape[0] - 1)
    if filter_type == "notch":
        if band_stop_min is None or band_stop_max is None or not 0 < band_stop_min < band_stop_max:
            raise ValueError("the notch motion filter needs 0 < --band-stop-min < --band-stop-max (breaths/min)")
        stop = np.array([band_stop_min, band_stop_max]) / 60.0
        aliased = np.abs(stop - np.floor((stop + nyquist) / fs) * fs)
        low, high = sorted(aliased)
        centre, width = (low + high) / 2.0, high - low
        if width <= 0 or centre <= 0 or centre >= nyquist:
            raise ValueError(f"the notch band {band_stop_min}-{band_stop_max} bpm aliases to a degenerate band "
                             f"at TR {tr} s")
        b, a = signal.iirnotch(centre, centre / width, fs=fs)
        out = params
        for _ in range(max(filter_order // 4, 1)):
            out = signal.filtfilt(b, a, out, axis=0, padtype="constant", padlen=params.shape[0] - 1)
        return out
    raise ValueError(f"unknown motion filter type {filter_type!r} (none, notch or lp)")


def contiguous_segments(keep) -> list[tuple[int, int]]:
    """Start and stop (exclusive) of each run of True values."""
    keep = np.asarray(keep, dtype=bool).astype(np.int8)
    edges = np.diff(np.r_[0, keep, 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def censor_mask(fd, fd_thresh=0.2, min_contig=5, n_dummy=0) -> np.ndarray:
    """Frames to keep (True): not a dummy scan, FD <= threshold, in a retained segment of >= ``min_contig``.

    ``fd_thresh <= 0`` disables FD censoring (the dummy and short-segment rules still apply).
    """
    fd = np.asarray(fd, dtype=float)
    keep = np.ones(fd.size, dtype=bool)
    if fd_thresh and fd_thresh > 0:
        keep &= ~(fd > fd_thresh)
    keep[: int(n_dummy)] = False
    if min_contig and min_contig > 1:
        for start, stop in contiguous_segments(keep):
            if stop - start < min_contig:
                keep[start:stop] = False
    return keep
