"""Cohen's d for paired (pre/post) data.

Variants (Lakens 2013, Front Psychol 4:863), all signed as ``post - pre``:

- ``dz``: ``mean(post - pre) / sd(post - pre)``. The paper's d = 1.7 / 1.6 / 1.5 for MADRS means
  29 -> 9 / 13 / 15 are on this scale (methods.md section 1), so it is the default.
- ``av``: ``mean(post - pre) / ((sd_pre + sd_post) / 2)`` (Cumming's d_av).
- ``pooled``: ``mean(post - pre) / sqrt((sd_pre^2 + sd_post^2) / 2)``.

Standard deviations use ``ddof = 1``; pairs with a missing value are dropped.
"""

from __future__ import annotations

import numpy as np

from ketamine_fc.core.stats.inference import _pairs

KINDS = ("dz", "av", "pooled")


def cohens_d_paired(pre, post, kind="dz") -> float:
    """Cohen's d of the change ``post - pre`` (``kind`` one of "dz", "av", "pooled"); NaN if undefined."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    a, b = _pairs(pre, post, ("pre", "post"))
    if a.size < 2:
        return np.nan
    diff = b - a
    if kind == "dz":
        scale = diff.std(ddof=1)
    elif kind == "av":
        scale = (a.std(ddof=1) + b.std(ddof=1)) / 2.0
    else:
        scale = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2.0)
    return float(diff.mean() / scale) if scale > 0 else np.nan
