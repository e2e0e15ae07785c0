"""fMRIPrep confounds: read both layouts, pick the columns of a nuisance strategy (XCP-D definitions).

Layouts: ``desc-confounds_timeseries.tsv`` (fMRIPrep >= 20.2) and ``desc-confounds_regressors.tsv``
(fMRIPrep 1.4-20.1) use the same column names; only the CompCor columns differ (the older files have
only ``a_comp_cor_*``, whose masks are in the JSON sidecar). fMRIPrep 1.0-1.3 ``bold_confounds.tsv``
names (``X``, ``RotX``, ``GlobalSignal``, ``FramewiseDisplacement``, ``NonSteadyStateOutlier00`` ...)
are renamed to the current ones.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc.core.motion import MOTION_COLUMNS
from ketamine_fc.errors import InputError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover (Python < 3.11)
    import tomli as tomllib

STRATEGIES = ("36P", "24P", "27P", "acompcor", "none")

#: fMRIPrep 1.0-1.3 names -> current names
LEGACY_NAMES = {
    "X": "trans_x", "Y": "trans_y", "Z": "trans_z", "RotX": "rot_x", "RotY": "rot_y", "RotZ": "rot_z",
    "GlobalSignal": "global_signal", "WhiteMatter": "white_matter", "CSF": "csf",
    "FramewiseDisplacement": "framewise_displacement", "stdDVARS": "std_dvars", "non-stdDVARS": "dvars",
    "vx-wisestdDVARS": "vx_wise_std_dvars",
}
_LEGACY_PATTERNS = ((re.compile(r"^NonSteadyStateOutlier(\d+)$"), "non_steady_state_outlier{:02d}"),
                    (re.compile(r"^aCompCor(\d+)$"), "a_comp_cor_{:02d}"),
                    (re.compile(r"^tCompCor(\d+)$"), "t_comp_cor_{:02d}"),
                    (re.compile(r"^Cosine(\d+)$"), "cosine{:02d}"))
#: columns that fMRIPrep leaves n/a in their first row (backward differences and FD/DVARS/RMSD)
FIRST_ROW_NA = re.compile(r"(_derivative1|^framewise_displacement$|dvars|^rmsd$)")


def _modern_name(name: str) -> str:
    name = name.strip()
    if name in LEGACY_NAMES:
        return LEGACY_NAMES[name]
    for pattern, template in _LEGACY_PATTERNS:
        m = pattern.match(name)
        if m:
            return template.format(int(m.group(1)))
    return name


def read_confounds(path) -> pd.DataFrame:
    """Read an fMRIPrep confounds TSV of any layout into a float table with current column names.

    ``n/a`` in the first row of derivative-like columns (``*_derivative1*``, ``framewise_displacement``,
    ``*dvars*``, ``rmsd``) is set to 0, as XCP-D does (nilearn's ``load_confounds`` copies the second row
    instead). Any other missing value stays NaN; :func:`select_nuisance` reports it if the column is used.
    The path is kept in ``df.attrs["path"]`` for error messages.

    Raises
    ------
    InputError
        The file is missing, empty, not a TSV, or has non-numeric values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("the confounds file does not exist", path=path)
    try:
        df = pd.read_csv(path, sep="\t", na_values=["n/a", "N/A", "NaN", "nan", ""], keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError("the confounds file is empty", path=path) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"the confounds file cannot be parsed as a TSV ({reason})", path=path) from None
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InputError("the confounds file has a header but no rows", path=path)
    df = df.rename(columns={c: _modern_name(str(c)) for c in df.columns})
    dupes = sorted(set(df.columns[df.columns.duplicated()]))
    if dupes:
        raise InputError(f"the confounds file repeats column(s) {', '.join(dupes[:5])}", path=path)
    bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise InputError(f"non-numeric values in confound column(s) {', '.join(bad[:5])}", path=path)
    df = df.astype(float)
    first = [c for c in df.columns if FIRST_ROW_NA.search(c)]
    if first:
        df.loc[df.index[0], first] = df.loc[df.index[0], first].fillna(0.0)
    df.attrs["path"] = str(path)
    return df


def _check_finite(frame: pd.DataFrame, path):
    """Raise InputError naming the first column with a missing (n/a) or infinite value, and its data rows."""
    values = frame.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, j])
        shown = ", ".join(map(str, rows[:5] + 1)) + (" ..." if rows.size > 5 else "")
        kind = "missing values (n/a)" if np.isnan(values[rows, j]).all() else "infinite or missing values"
        raise InputError(f"column {frame.columns[j]} has {kind} in data row(s) {shown}", path=path)


def motion_params(confounds: pd.DataFrame) -> np.ndarray:
    """The six realignment parameters, (T, 6) in :data:`MOTION_COLUMNS` order (mm and radians)."""
    path = confounds.attrs.get("path")
    missing = [c for c in MOTION_COLUMNS if c not in confounds.columns]
    if missing:
        raise InputError(f"the motion column(s) {', '.join(missing)} are missing", path=path)
    frame = confounds[list(MOTION_COLUMNS)]
    _check_finite(frame, path)
    return frame.to_numpy(dtype=float)


def replace_motion(confounds: pd.DataFrame, params) -> pd.DataFrame:
    """A copy of ``confounds`` with the six motion columns set to ``params`` (T, 6) and their expansions
    (``_derivative1`` backward difference with 0 in the first row, ``_power2``, ``_derivative1_power2``)
    recomputed from them, as XCP-D does with filtered motion parameters."""
    params = np.asarray(params, dtype=float)
    out = confounds.copy()
    for j, col in enumerate(MOTION_COLUMNS):
        x = params[:, j]
        d = np.r_[0.0, np.diff(x)]
        out[col] = x
        out[f"{col}_derivative1"] = d
        out[f"{col}_power2"] = x**2
        out[f"{col}_derivative1_power2"] = d**2
    out.attrs = dict(confounds.attrs)
    return out


def n_dummy_from_confounds(confounds: pd.DataFrame) -> int:
    """Number of leading frames flagged by fMRIPrep's ``non_steady_state_outlier*`` columns (0 if none)."""
    cols = [c for c in confounds.columns if c.startswith("non_steady_state_outlier")]
    if not cols:
        return 0
    flagged = np.nan_to_num(confounds[cols].to_numpy(dtype=float)).any(axis=1)
    return int(flagged.size if flagged.all() else np.argmin(flagged))


@lru_cache(maxsize=None)
def _load_strategy(name: str) -> dict:
    text = resources.files("ketamine_fc.data").joinpath("nuisance", f"{name}.toml").read_text(encoding="utf-8")
    spec = tomllib.loads(text)
    spec.setdefault("columns", [])
    spec.setdefault("patterns", [])
    return spec


def nuisance_strategy(name: str) -> dict:
    """Definition of a nuisance strategy, read from ``ketamine_fc/data/nuisance/<name>.toml``.

    Returns
    -------
    dict
        ``name``, ``description``, ``columns`` (required, in order) and ``patterns`` (list of dicts with
        ``regex``, ``max`` (0 = all), ``min`` and optionally ``sidecar_mask``).
    """
    if name not in STRATEGIES:
        raise InputError(f"unknown nuisance strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    spec = _load_strategy(name)
    return {**spec, "columns": list(spec["columns"]), "patterns": [dict(p) for p in spec["patterns"]]}


def _number(name: str) -> int:
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else -1


def _sidecar_components(columns, path, mask) -> list[str]:
    """``a_comp_cor_*`` columns of ``mask`` (WM/CSF), from the JSON sidecar of an fMRIPrep 1.4-20.x file."""
    if not path:
        return []
    sidecar = Path(re.sub(r"\.tsv(\.gz)?$", ".json", str(path)))
    if not sidecar.is_file():
        return []
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the confounds sidecar ({err})", path=sidecar) from None
    comps = [k for k, v in meta.items() if k.startswith("a_comp_cor_") and isinstance(v, dict)
             and v.get("Mask") == mask and v.get("Retained", True) and k in columns]
    return sorted(comps, key=_number)  # numeric order = decreasing variance within a mask


def select_nuisance(confounds: pd.DataFrame, strategy: str, path=None) -> pd.DataFrame:
    """The nuisance regressors of ``strategy`` (XCP-D's 24P, 27P, 36P, acompcor, or none).

    Parameters
    ----------
    confounds : DataFrame
        From :func:`read_confounds`.
    strategy : str
        One of :data:`STRATEGIES`.
    path : path-like, optional
        The confounds file, for messages and the CompCor sidecar; defaults to ``confounds.attrs["path"]``.

    Returns
    -------
    DataFrame
        T rows, the strategy's columns in order. ``attrs["sources"]`` maps each output column to the file
        column it came from (they differ for CompCor components found through the sidecar).

    Raises
    ------
    InputError
        A required column is missing, or a used column has a missing value; the message names both.
    """
    path = path or confounds.attrs.get("path")
    spec = nuisance_strategy(strategy)
    available = list(confounds.columns)
    missing = [c for c in spec["columns"] if c not in available]
    if missing:
        more = " ..." if len(missing) > 6 else ""
        raise InputError(f"the {strategy} strategy needs column(s) {', '.join(missing[:6])}{more}, "
                         "which the confounds file lacks", path=path)
    sources = {c: c for c in spec["columns"]}
    for pattern in spec["patterns"]:
        regex = re.compile(pattern["regex"])
        found = sorted((c for c in available if regex.match(c)), key=_number)
        named = found
        if not found and pattern.get("sidecar_mask"):
            found = _sidecar_components(available, path, pattern["sidecar_mask"])
            stem = pattern["regex"].lstrip("^").split("\\d")[0]
            named = [f"{stem}{i:02d}" for i in range(len(found))]
        limit = pattern.get("max", 0) or len(found)
        if len(found) < pattern.get("min", 0):
            raise InputError(f"the {strategy} strategy needs at least {pattern['min']} column(s) matching "
                             f"{pattern['regex']}, which the confounds file lacks", path=path)
        sources.update(zip(named[:limit], found[:limit]))
    out = pd.DataFrame({name: confounds[src].to_numpy(dtype=float) for name, src in sources.items()},
                       index=confounds.index)
    _check_finite(out.rename(columns=lambda c: sources[c]), path)
    out.attrs["sources"] = sources
    out.attrs["strategy"] = strategy
    if path:
        out.attrs["path"] = str(path)
    return out
