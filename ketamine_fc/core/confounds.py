"""fMRIPrep confounds: read both layouts, pick the columns of a nuisance strategy (XCP-D definitions)."""

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
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

STRATEGIES = ("36P", "24P", "27P", "acompcor", "none")

#: fMRIPrep 1.0-1.3 names -> current names
LEGACY_NAMES = {
    "X": "trans_x", "Y": "trans_y", "Z": "trans_z", "RotX": "rot_x", "RotY": "rot_y", "RotZ": "rot_z",
    "GlobalSignal": "global_signal", "WhiteMatter": "white_matter", "CSF": "csf",
    "FramewiseDisplacement": "framewise_displacement", "stdDVARS": "std_dvars", "non-stdDVARS": "dvars",
    "vx-wisestdDVARS": "vx_wise_std_dvars",
}
_LEGACY_PATTERNS = ((r"^NonSteadyStateOutlier(\d+)$", "non_steady_state_outlier{:02d}"),
                    (r"^aCompCor(\d+)$", "a_comp_cor_{:02d}"), (r"^tCompCor(\d+)$", "t_comp_cor_{:02d}"),
                    (r"^Cosine(\d+)$", "cosine{:02d}"))
#: columns that fMRIPrep leaves n/a in their first row
_FIRST_ROW_NA = re.compile(r"(_derivative1|framewise_displacement|dvars|rmsd)")


def _modern_name(name: str) -> str:
    if name in LEGACY_NAMES:
        return LEGACY_NAMES[name]
    for pattern, template in _LEGACY_PATTERNS:
        m = re.match(pattern, name)
        if m:
            return template.format(int(m.group(1)))
    return name


def read_confounds(path) -> pd.DataFrame:
    """Read an fMRIPrep confounds TSV (``desc-confounds_timeseries`` or ``desc-confounds_regressors``).

    Legacy column names are renamed to the current ones. ``n/a`` in the first row of derivative-like
    columns (derivatives, FD, DVARS, RMSD) is set to 0, as fMRIPrep leaves them undefined there; any other
    missing value stays NaN and is reported by :func:`select_nuisance` if that column is used.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("the confounds file does not exist", path=path)
    try:
        df = pd.read_csv(path, sep="\t", na_values=["n/a", "NaN", "nan", ""], keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"cannot parse the confounds file as a TSV ({str(err).splitlines()[0]})", path=path)
    if df.empty or df.shape[1] == 0:
        raise InputError("the confounds file has no rows", path=path)
    df = df.rename(columns={c: _modern_name(c) for c in df.columns})
    bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise InputError(f"non-numeric values in confound column(s) {', '.join(bad[:5])}", path=path)
    first = [c for c in df.columns if _FIRST_ROW_NA.search(c)]
    df.loc[df.index[0], first] = df.loc[df.index[0], first].fillna(0.0)
    df.attrs["path"] = str(path)
    return df


def motion_params(confounds: pd.DataFrame) -> np.ndarray:
    """The six realignment parameters, (frames, 6), translations mm and rotations rad."""
    missing = [c for c in MOTION_COLUMNS if c not in confounds.columns]
    if missing:
        raise InputError(f"motion columns {', '.join(missing)} are missing", path=confounds.attrs.get("path"))
    return confounds[list(MOTION_COLUMNS)].to_numpy(dtype=float)


def n_dummy_from_confounds(confounds: pd.DataFrame) -> int:
    """Number of leading frames flagged by fMRIPrep's ``non_steady_state_outlier*`` columns."""
    cols = [c for c in confounds.columns if c.startswith("non_steady_state_outlier")]
    if not cols:
        return 0
    flagged = confounds[cols].fillna(0).to_numpy().sum(axis=1) > 0
    return int(np.argmin(flagged)) if not flagged.all() else int(flagged.size)


@lru_cache(maxsize=None)
def nuisance_strategy(name: str) -> dict:
    """The definition of a nuisance strategy (``ketamine_fc/data/nuisance/<name>.toml``)."""
    if name not in STRATEGIES:
        raise InputError(f"unknown nuisance strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    text = resources.files("ketamine_fc.data").joinpath("nuisance", f"{name}.toml").read_text()
    spec = tomllib.loads(text)
    spec["all_columns"] = [base + suffix for base in spec["expand"] for suffix in spec["suffixes"]] + spec["columns"]
    return spec


def _compcor_from_sidecar(confounds, path, wanted):
    """Old fMRIPrep layouts have only ``a_comp_cor_*``: pick WM/CSF components from the JSON sidecar."""
    sidecar = Path(str(path).replace(".tsv", ".json")) if path else None
    if sidecar is None or not sidecar.exists():
        return {}
    meta = json.loads(sidecar.read_text())
    found = {}
    for mask, prefix in (("WM", "w_comp_cor_"), ("CSF", "c_comp_cor_")):
        comps = sorted(k for k, v in meta.items() if k.startswith("a_comp_cor_") and isinstance(v, dict)
                       and v.get("Mask") == mask and v.get("Retained", True) and k in confounds.columns)
        for i, comp in enumerate(comps):
            found[f"{prefix}{i:02d}"] = comp
    return {k: v for k, v in found.items() if k in wanted}


def select_nuisance(confounds: pd.DataFrame, strategy: str, path=None) -> pd.DataFrame:
    """The nuisance regressors of ``strategy`` (24P, 27P, 36P, acompcor, none), in a fixed column order.

    A missing column or a missing value in a used column raises :class:`InputError` naming both.
    """
    path = path or confounds.attrs.get("path")
    spec = nuisance_strategy(strategy)
    wanted = spec["all_columns"]
    aliases = _compcor_from_sidecar(confounds, path, {c for c in wanted if c not in confounds.columns})
    missing = [c for c in wanted if c not in confounds.columns and c not in aliases]
    if missing:
        raise InputError(f"the {strategy} strategy needs column(s) {', '.join(missing[:6])}"
                         f"{' ...' if len(missing) > 6 else ''}, which the confounds file lacks", path=path)
    out = pd.DataFrame({c: confounds[aliases.get(c, c)].to_numpy(dtype=float) for c in wanted},
                       index=confounds.index)
    nan = out.isna()
    if nan.any().any():
        col = nan.any().idxmax()
        rows = np.flatnonzero(nan[col].to_numpy())
        raise InputError(f"column {col} has missing values (n/a) in row(s) {', '.join(map(str, rows[:5] + 1))} "
                         "of the data", path=path)
    return out
