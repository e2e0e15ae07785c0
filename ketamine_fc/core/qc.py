"""Quality-control measures on arrays: DVARS, temporal SNR and summary flags."""

from __future__ import annotations

import numpy as np


def dvars(data: np.ndarray, frames=None) -> np.ndarray:
    """DVARS (Power 2012): root mean square over voxels of the frame-to-frame difference.

    Parameters
    ----------
    data : (T, V) array
    frames : (T,) int array, optional
        Original frame numbers of the rows. A difference is only taken between rows whose frames are
        consecutive (so censored gaps give NaN instead of a spurious jump).

    Returns
    -------
    (T,) array, NaN for the first row and after every gap.
    """
    data = np.asarray(data, dtype=np.float64)
    out = np.full(data.shape[0], np.nan)
    if data.shape[0] < 2:
        return out
    diff = np.diff(data, axis=0)
    value = np.sqrt(np.mean(diff**2, axis=1))
    if frames is not None:
        value[np.diff(np.asarray(frames)) != 1] = np.nan
    out[1:] = value
    return out


def tsnr(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Temporal SNR = mean / standard deviation over time (NaN where the deviation is 0)."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, mean / std, np.nan)
