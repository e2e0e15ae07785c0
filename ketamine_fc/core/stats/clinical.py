"""Clinical outcomes: MADRS change, response, remission, CGI-I improvement and their time course.

Definitions (methods.md section 1): response = MADRS reduction of at least 50% from baseline, inclusive
(30 -> 15 responds); remission = MADRS < 10 (10 does not remit); CGI-I of 1 (very much) or 2 (much
improved) = improved. Rates are per protocol: the denominator at each timepoint is those assessed there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketamine_fc.core.stats.effect_size import KINDS, cohens_d_paired
from ketamine_fc.core.stats.inference import paired_t
from ketamine_fc.errors import InputError

_MISSING = {"", "n/a", "na", "nan"}
_REL_TOL = 1e-9  # so that a 50.0% reduction computed in floating point still counts as 50%


def _baseline(baseline, path=None):
    b = np.asarray(baseline, dtype=float)
    bad = np.isfinite(b) & (b <= 0)
    if bad.any():
        raise InputError(f"a baseline score of {b[bad].ravel()[0]:g} makes the change from baseline "
                         "undefined (baseline must be positive)", path=path)
    return b


def _out(x):
    return x.item() if np.ndim(x) == 0 else x


def percent_change(baseline, score):
    """Percentage change from baseline, ``100 (score - baseline) / baseline`` (negative = improvement).

    A baseline of 0 (or below) raises :class:`~ketamine_fc.errors.InputError`; NaN propagates.
    """
    b = _baseline(baseline)
    return _out(100.0 * (np.asarray(score, dtype=float) - b) / b)


def is_response(baseline, score, threshold=0.5):
    """True where the reduction from baseline is at least ``threshold`` (0.5 = 50%, inclusive).

    A baseline of 0 raises :class:`~ketamine_fc.errors.InputError`; missing scores give False, so
    filter to those assessed before counting.
    """
    b = _baseline(baseline)
    s = np.asarray(score, dtype=float)
    with np.errstate(invalid="ignore"):
        return _out((b - s) / b >= threshold - _REL_TOL)


def is_remission(score, cutoff=10):
    """True where ``score < cutoff`` (MADRS below 10; 10 does not remit). Missing scores give False."""
    with np.errstate(invalid="ignore"):
        return _out(np.asarray(score, dtype=float) < cutoff)


def cgi_improved(cgi):
    """True where the CGI-I rating is 1 (very much) or 2 (much improved); ratings must be 1-7."""
    c = np.asarray(cgi, dtype=float)
    ok = np.isnan(c) | np.isin(c, np.arange(1, 8))
    if not ok.all():
        raise InputError(f"CGI-I ratings must be integers 1-7, got {c[~ok].ravel()[0]:g}")
    return _out((c == 1) | (c == 2))


def _read_scores(df, value, what, path):
    """Validate a long table ``participant_id, timepoint, value``; return it with numeric values."""
    missing = [c for c in ("participant_id", "timepoint", value) if c not in df.columns]
    if missing:
        raise InputError(f"{what} table has no column(s) {', '.join(missing)}", path=path)
    out = df[["participant_id", "timepoint", value]].copy()
    out["timepoint"] = out["timepoint"].astype(str)
    raw = out[value]
    is_missing = raw.isna() | raw.astype(str).str.strip().str.lower().isin(_MISSING)
    num = pd.to_numeric(raw.where(~is_missing), errors="coerce")
    bad = num.isna() & ~is_missing
    if bad.any():
        row = out[bad].iloc[0]
        raise InputError(f"{what} score {row[value]!r} of {row['participant_id']} at {row['timepoint']} "
                         "is not a number", path=path)
    if (num < 0).any():
        row = out[num < 0].iloc[0]
        raise InputError(f"{what} score {row[value]} of {row['participant_id']} at {row['timepoint']} "
                         "is negative", path=path)
    out[value] = num
    dup = out.duplicated(["participant_id", "timepoint"])
    if dup.any():
        row = out[dup].iloc[0]
        raise InputError(f"{what} table has more than one row for {row['participant_id']} at "
                         f"{row['timepoint']}", path=path)
    return out.dropna(subset=[value])


def _check_labels(found, timepoints, what, path):
    unknown = [t for t in pd.unique(found) if t not in timepoints]
    if unknown:
        raise InputError(f"{what} table has timepoint(s) {', '.join(map(str, unknown))} not among the "
                         f"expected timepoints ({', '.join(timepoints)})", path=path)


def clinical_timecourse(madrs, timepoints=None, baseline="baseline", cgi=None, cohens_d="dz", *,
                        madrs_path=None, cgi_path=None) -> pd.DataFrame:
    """MADRS summary per timepoint with response, remission, CGI-I counts and paired tests vs baseline.

    Parameters
    ----------
    madrs : DataFrame
        Long table ``participant_id, timepoint, madrs``; empty or ``n/a`` scores are missing.
    timepoints : list of str, optional
        Timepoints in reporting order, the baseline among them; by default the baseline followed by the
        other labels in order of appearance. Labels in the data not in this list, or listed labels with
        no data, raise :class:`~ketamine_fc.errors.InputError`.
    baseline : str
        Baseline timepoint label.
    cgi : DataFrame, optional
        Long table ``participant_id, timepoint, cgi_i``.
    cohens_d : {"dz", "av", "pooled"}
        Effect-size variant, see :mod:`ketamine_fc.core.stats.effect_size`.
    madrs_path, cgi_path : path, optional
        Source files, named in error messages.

    Returns
    -------
    DataFrame
        One row per timepoint: ``timepoint, n, mean, sd, response_n, remission_n, cgi_improved_n, t, df,
        p, cohens_d, n_paired, cgi_n``. ``n`` = assessed; ``n_paired`` = assessed here and at baseline
        (the denominator of ``response_n`` and the paired t test); ``cgi_n`` = CGI-I ratings here.
        ``t`` and ``cohens_d`` are signed as timepoint minus baseline (improvement is negative).
        ``response_n`` counts only participants with a positive baseline (response is undefined at 0).
        Statistics that do not apply (tests and response at baseline, CGI-I when absent) are missing.
    """
    if cohens_d not in KINDS:
        raise InputError(f"cohens_d must be one of {', '.join(KINDS)}, got {cohens_d!r}")
    scores = _read_scores(madrs, "madrs", "MADRS", madrs_path)
    if timepoints is None:
        timepoints = [baseline] + [t for t in pd.unique(scores["timepoint"]) if t != baseline]
    timepoints = [str(t) for t in timepoints]
    if baseline not in timepoints:
        raise InputError(f"baseline timepoint {baseline!r} is not among the timepoints "
                         f"({', '.join(timepoints)})", path=madrs_path)
    _check_labels(scores["timepoint"], timepoints, "MADRS", madrs_path)
    absent = [t for t in timepoints if t not in set(scores["timepoint"])]
    if absent:
        raise InputError(f"MADRS table has no scores at timepoint(s) {', '.join(absent)}", path=madrs_path)
    wide = scores.pivot(index="participant_id", columns="timepoint", values="madrs")
    cgi_wide = None
    if cgi is not None:
        cgi_scores = _read_scores(cgi, "cgi_i", "CGI-I", cgi_path)
        _check_labels(cgi_scores["timepoint"], timepoints, "CGI-I", cgi_path)
        try:
            cgi_improved(cgi_scores["cgi_i"])
        except InputError as exc:
            raise InputError(str(exc), path=cgi_path) from None
        cgi_wide = cgi_scores.pivot(index="participant_id", columns="timepoint", values="cgi_i")

    rows = []
    for tp in timepoints:
        s = wide[tp].dropna()
        row = dict(timepoint=tp, n=len(s), mean=s.mean(), sd=s.std(ddof=1) if len(s) > 1 else np.nan,
                   response_n=pd.NA, remission_n=int(is_remission(s.to_numpy()).sum()), cgi_improved_n=pd.NA,
                   t=np.nan, df=np.nan, p=np.nan, cohens_d=np.nan, n_paired=pd.NA, cgi_n=pd.NA)
        if tp != baseline:
            both = wide[[baseline, tp]].dropna()
            test = paired_t(both[tp], both[baseline])
            defined = both[both[baseline] > 0]  # response is undefined for a baseline of 0
            row.update(response_n=int(is_response(defined[baseline].to_numpy(), defined[tp].to_numpy()).sum()),
                       t=test["t"], df=test["df"], p=test["p"], n_paired=len(both),
                       cohens_d=cohens_d_paired(both[baseline], both[tp], kind=cohens_d))
        if cgi_wide is not None and tp in cgi_wide.columns:
            c = cgi_wide[tp].dropna()
            row.update(cgi_improved_n=int(cgi_improved(c.to_numpy()).sum()), cgi_n=len(c))
        rows.append(row)
    out = pd.DataFrame(rows)
    for col in ("n", "response_n", "remission_n", "cgi_improved_n", "n_paired", "cgi_n"):
        out[col] = out[col].astype("Int64")
    return out
