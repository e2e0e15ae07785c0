"""One-way repeated-measures ANOVA with the Greenhouse-Geisser correction.

For ``n`` subjects measured at ``k`` levels (complete cases), ``F = MS_levels / MS_error`` with
``k - 1`` and ``(n - 1)(k - 1)`` degrees of freedom, the error being the subject x level interaction.

Greenhouse-Geisser epsilon (Box 1954; Greenhouse & Geisser 1959): with ``S`` the k x k sample covariance
of the levels (``ddof = 1``) and ``C = I - J / k`` the centring matrix, ``S_c = C S C`` and

    epsilon = tr(S_c)^2 / ((k - 1) tr(S_c S_c)),

which lies in ``[1 / (k - 1), 1]`` and is 1 under sphericity (and always for k = 2). The corrected p uses
``F`` with ``epsilon (k - 1)`` and ``epsilon (n - 1)(k - 1)`` degrees of freedom.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ketamine_fc.errors import InputError


def gg_epsilon(wide) -> float:
    """Greenhouse-Geisser epsilon of a subjects x levels array (complete cases)."""
    x = np.asarray(wide, dtype=float)
    k = x.shape[1]
    if k < 2:
        raise InputError("Greenhouse-Geisser epsilon needs at least 2 levels")
    S = np.cov(x, rowvar=False, ddof=1)
    C = np.eye(k) - 1.0 / k
    Sc = C @ S @ C
    denom = (k - 1) * np.trace(Sc @ Sc)
    return float(np.trace(Sc) ** 2 / denom) if denom > 0 else np.nan


def rm_anova(long_df: pd.DataFrame, subject: str, within: str, dv: str) -> dict:
    """Repeated-measures ANOVA of ``dv`` over the levels of ``within`` (complete cases).

    Parameters
    ----------
    long_df : DataFrame
        One row per subject and level.
    subject, within, dv : str
        Column names of the subject identifier, the repeated factor and the outcome.

    Returns
    -------
    dict
        ``n`` (complete subjects), ``n_levels``, ``n_excluded`` (subjects missing some level),
        ``F, df_num, df_den, p, epsilon_gg, p_gg``.
    """
    missing = [c for c in (subject, within, dv) if c not in long_df.columns]
    if missing:
        raise InputError(f"table has no column(s) {', '.join(missing)}")
    df = long_df[[subject, within, dv]].copy()
    df[dv] = pd.to_numeric(df[dv], errors="coerce")
    if df.duplicated([subject, within]).any():
        dup = df.loc[df.duplicated([subject, within]), [subject, within]].iloc[0].tolist()
        raise InputError(f"subject {dup[0]} has more than one value at {within} = {dup[1]}")
    levels = list(pd.unique(df[within]))
    wide = df.pivot(index=subject, columns=within, values=dv).reindex(columns=levels)
    complete = wide.dropna()
    n, k = complete.shape
    out = dict(n=n, n_levels=k, n_excluded=int(len(wide) - n), F=np.nan, df_num=float(k - 1),
               df_den=float((n - 1) * (k - 1)), p=np.nan, epsilon_gg=np.nan, p_gg=np.nan)
    if k < 2 or n < 2:
        return out
    x = complete.to_numpy()
    grand = x.mean()
    ss_levels = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_subjects = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_error = ((x - grand) ** 2).sum() - ss_levels - ss_subjects
    df_num, df_den = k - 1, (n - 1) * (k - 1)
    if ss_error <= 0:
        return out
    F = (ss_levels / df_num) / (ss_error / df_den)
    eps = gg_epsilon(x)
    out.update(F=float(F), p=float(stats.f.sf(F, df_num, df_den)), epsilon_gg=eps,
               p_gg=float(stats.f.sf(F, eps * df_num, eps * df_den)))
    return out
