"""Which frames of a run are kept: framewise displacement, dummy scans and the short-segment rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketamine_fc.core import confounds as conf
from ketamine_fc.core import motion


def uses_fd_column(confounds: pd.DataFrame, head_radius=50.0, motion_filter_type="none") -> bool:
    """Whether FD is fMRIPrep's ``framewise_displacement`` column (no motion filter, the 50 mm radius) or
    recomputed from the six realignment parameters."""
    return (motion_filter_type in (None, "none") and head_radius == 50.0
            and "framewise_displacement" in confounds.columns)


def n_dummy_scans(confounds: pd.DataFrame, dummy_scans="auto") -> int:
    """Frames dropped at the start: fMRIPrep's non-steady-state flags (``"auto"``) or a fixed number."""
    return conf.n_dummy_from_confounds(confounds) if dummy_scans == "auto" else int(dummy_scans)


def check_censoring_inputs(confounds: pd.DataFrame, tr: float, *, head_radius=50.0, motion_filter_type="none",
                           band_stop_min=None, band_stop_max=None, dummy_scans="auto", **_) -> None:
    """Raise ValueError (or InputError for a named file) if the frames of this run cannot be decided.

    Checks, without computing anything: the dummy scans leave a frame; the FD column is finite after its
    first row (fMRIPrep leaves only that one n/a) or, when FD is recomputed, the six motion columns are
    finite; the motion filter's band is valid at this TR.
    """
    n = len(confounds)
    n_dummy = n_dummy_scans(confounds, dummy_scans)
    if not 0 <= n_dummy < n:
        raise ValueError(f"{n_dummy} dummy scans leave no frame of the {n} in this run")
    if uses_fd_column(confounds, head_radius, motion_filter_type):
        fd = confounds["framewise_displacement"].to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(fd[1:])) + 2
        if bad.size:
            shown = ", ".join(map(str, bad[:5])) + (" ..." if bad.size > 5 else "")
            raise ValueError(f"column framewise_displacement is n/a or not finite in data row(s) {shown}; only its "
                             "first row may be n/a")
    else:
        conf.motion_params(confounds)
        motion.motion_filter_band(motion_filter_type, band_stop_min, band_stop_max, tr)


def censoring_table(confounds: pd.DataFrame, tr: float, *, fd_thresh=0.2, head_radius=50.0,
                    motion_filter_type="none", band_stop_min=None, band_stop_max=None,
                    motion_filter_order=4, min_contig=5, dummy_scans="auto") -> pd.DataFrame:
    """One row per frame: FD used for censoring, why a frame was dropped, and ``retained``.

    FD is fMRIPrep's ``framewise_displacement`` column when no motion filter is asked for and the head
    radius is the 50 mm fMRIPrep uses; otherwise it is recomputed from the six realignment parameters
    (after the motion filter, if any; those parameters are in ``table.attrs["motion"]``). Inputs are checked by
    :func:`check_censoring_inputs` first.
    """
    check_censoring_inputs(confounds, tr, head_radius=head_radius, motion_filter_type=motion_filter_type,
                           band_stop_min=band_stop_min, band_stop_max=band_stop_max, dummy_scans=dummy_scans)
    n = len(confounds)
    n_dummy = n_dummy_scans(confounds, dummy_scans)
    if uses_fd_column(confounds, head_radius, motion_filter_type):
        fd = confounds["framewise_displacement"].to_numpy(dtype=float, na_value=np.nan).copy()
        fd[0] = 0.0 if not np.isfinite(fd[0]) else fd[0]
        source = "fmriprep"
        motion_used = None
    else:
        params = conf.motion_params(confounds)
        if motion_filter_type not in (None, "none"):
            params = motion.filter_motion(params, tr, motion_filter_type, band_stop_min=band_stop_min,
                                          band_stop_max=band_stop_max, filter_order=motion_filter_order)
        fd = motion.framewise_displacement(params, radius=head_radius)
        source = "recomputed" if motion_filter_type in (None, "none") else f"recomputed after {motion_filter_type} filter"
        motion_used = params
    keep = motion.censor_mask(fd, fd_thresh=fd_thresh, min_contig=min_contig, n_dummy=n_dummy)
    dummy = np.arange(n) < n_dummy
    high = (fd > fd_thresh) & ~dummy if fd_thresh > 0 else np.zeros(n, bool)
    table = pd.DataFrame({
        "frame": np.arange(n),
        "framewise_displacement": fd,
        "dummy": dummy.astype(int),
        "fd_outlier": high.astype(int),
        "short_segment": (~keep & ~dummy & ~high).astype(int),
        "retained": keep.astype(int),
    })
    table.attrs["fd_source"] = source
    table.attrs["n_dummy"] = n_dummy
    table.attrs["motion"] = motion_used  # the (filtered) motion parameters FD came from; None for fMRIPrep's FD
    return table
