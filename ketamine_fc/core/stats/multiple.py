"""Multiple-comparison correction."""

from __future__ import annotations

import numpy as np


def bonferroni(pvalues, n_tests=None, alpha=0.05):
    """Bonferroni threshold ``alpha / n_tests`` and which p values pass it (strictly: ``p < threshold``).

    Parameters
    ----------
    pvalues : array-like
        Raw p values; NaN never passes.
    n_tests : int, optional
        Size of the family; defaults to the number of p values (NaN included).
    alpha : float
        Family-wise error rate.

    Returns
    -------
    (float, numpy.ndarray of bool)
        The threshold (0.05 / 8 = 0.00625 for the paper's eight primary outcomes) and the pass flags.
    """
    p = np.asarray(pvalues, dtype=float)
    n = p.size if n_tests is None else int(n_tests)
    if n < 1:
        raise ValueError(f"the number of tests must be at least 1, got {n}")
    threshold = alpha / n
    with np.errstate(invalid="ignore"):
        passes = p < threshold
    return threshold, passes
