"""Which frames of a run are kept: framewise displacement, dummy scans and the short-segment rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketamine_fc.core import confounds as conf
from ketamine_fc.core import motion


def censoring_table(confounds: pd.DataFrame, tr: float, *, fd_thresh=0.2, fd_radius=50.0,
                    motion_filter_type="none", band_stop_min=None, band_stop_max=None,
                    motion_filter_order=4, min_contig=5, dummy_scans="auto") -> pd.DataFrame:
    """One row per frame: FD used for censoring, why a frame was dropped, and ``retained``.

    FD is fMRIPrep's ``framewise_displacement`` column when no motion filter is asked for and the head
    radius is the 50 mm fMRIPrep uses; otherwise it is recomputed from the six realignment parameters
    (after the motion filter, if any).
    """
    n = len(confounds)
    if dummy_scans == "auto":
        n_dummy = conf.n_dummy_from_confounds(confounds)
    else:
        n_dummy = int(dummy_scans)
    if not 0 <= n_dummy < n:
        raise ValueError(f"dummy scans ({n_dummy}) must be fewer than the {n} frames of the run")
    use_column = (motion_filter_type in (None, "none") and fd_radius == 50.0
                  and "framewise_displacement" in confounds.columns)
    if use_column:
        fd = confounds["framewise_displacement"].to_numpy(dtype=float, na_value=np.nan).copy()
        fd[np.isnan(fd)] = 0.0
        source = "fmriprep"
    else:
        params = conf.motion_params(confounds)
        if motion_filter_type not in (None, "none"):
            params = motion.filter_motion(params, tr, motion_filter_type, band_stop_min=band_stop_min,
                                          band_stop_max=band_stop_max, filter_order=motion_filter_order)
        fd = motion.framewise_displacement(params, radius=fd_radius)
        source = "recomputed" if motion_filter_type in (None, "none") else f"recomputed after {motion_filter_type} filter"
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
    return table
