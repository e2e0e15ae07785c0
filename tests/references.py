"""Independent references shared by several test files."""

import numpy as np
from nilearn import signal as nsignal
from scipy import interpolate
from scipy import signal as ssignal


def xcpd_denoise(y, conf, sample_mask, tr, low_pass=0.08, high_pass=0.009, order=2):
    """XCP-D's ``denoise_with_nilearn`` as XCP-D describes it, written here from scipy, numpy and nilearn's
    butterworth: censored frames of data and confounds replaced by scipy's CubicSpline (nearest retained value at
    the edges), scipy's linear detrend, the Butterworth band-pass with constant padding over T - 1 frames, numpy's
    lstsq on the retained frames without an intercept; the retained frames of the residuals returned."""
    sample_mask = np.asarray(sample_mask, dtype=bool)

    def interp(a):
        a = np.array(a, dtype=float, copy=True)
        kept, gone = np.flatnonzero(sample_mask), np.flatnonzero(~sample_mask)
        inner = gone[(gone > kept[0]) & (gone < kept[-1])]
        a[inner] = interpolate.CubicSpline(kept, a[kept], axis=0)(inner)
        a[: kept[0]] = a[kept[0]]
        a[kept[-1] + 1:] = a[kept[-1]]
        return a

    def filt(a):
        return nsignal.butterworth(a, sampling_rate=1 / tr, low_pass=low_pass, high_pass=high_pass, order=order,
                                   padtype="constant", padlen=len(a) - 1)

    yf = filt(ssignal.detrend(interp(y), axis=0, type="linear"))
    cf = filt(ssignal.detrend(interp(conf), axis=0, type="linear"))
    beta = np.linalg.lstsq(cf[sample_mask], yf[sample_mask], rcond=None)[0]
    return (yf - cf @ beta)[sample_mask]
