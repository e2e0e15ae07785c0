"""The paper's network measures: mean Fisher-z FC within and between sets of regions.

Region sets are lists of atlas indices (Gordon parcel id 1-333; Seitzman ROI + 1000).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: candidate sgACC parcel lists (methods.md 3.2); the paper's own list is not known
SGACC = {"core": (123, 280, 286), "extended": (117, 123, 125, 279, 280, 286)}
MEASURES = ("dmn", "sgacc_dmn", "limbic", "visual")
_LABEL = re.compile(r"^(Gordon|Seitzman)_(\d+)$")


def _gordon(table):
    if "atlas" in table:
        return table[table["atlas"] == "Gordon333"]
    return table[table["index"].astype(int) <= 333]


def network_sets(table: pd.DataFrame, sgacc="core") -> dict:
    """Region indices of the DMN, sgACC, limbic and visual sets.

    Parameters
    ----------
    table : atlas table with ``index``, ``network`` and ``limbic_role`` (and ``atlas``)
    sgacc : ``"core"`` (123, 280, 286), ``"extended"`` (adds 117, 125, 279) or explicit Gordon parcel ids

    Returns
    -------
    dict of sorted int lists: ``dmn`` (Gordon Default), ``sgacc``, ``limbic`` (regions with a limbic role:
    the 8 whole structures and the 2 thalamus spheres), ``visual`` (Gordon Visual).
    """
    gordon = _gordon(table)
    if isinstance(sgacc, str):
        if sgacc not in SGACC:
            raise ValueError(f"unknown sgACC preset {sgacc!r}; use one of {', '.join(SGACC)} or a parcel list")
        parcels = SGACC[sgacc]
    else:
        parcels = tuple(int(p) for p in sgacc)
        bad = [p for p in parcels if not 1 <= p <= 333]
        if bad or not parcels:
            raise ValueError(f"sgACC parcels must be Gordon parcel ids 1-333, got {list(sgacc)}")
    roles = table["limbic_role"] if "limbic_role" in table else pd.Series("", index=table.index)
    roles = roles.fillna("").astype(str)
    limbic = table.loc[roles.str.len().gt(0) & ~roles.isin(["n/a", "None", "nan"]), "index"]
    return {
        "dmn": sorted(int(i) for i in gordon.loc[gordon["network"] == "Default", "index"]),
        "sgacc": sorted(set(parcels)),
        "limbic": sorted(int(i) for i in limbic),
        "visual": sorted(int(i) for i in gordon.loc[gordon["network"] == "Visual", "index"]),
    }


def label_to_index(label) -> int:
    """Atlas index of a region label (``Gordon_<id>`` -> id, ``Seitzman_<roi>`` -> 1000 + roi) or integer."""
    if isinstance(label, (int, np.integer)):
        return int(label)
    match = _LABEL.match(str(label))
    if match:
        return int(match.group(2)) + (1000 if match.group(1) == "Seitzman" else 0)
    if str(label).isdigit():
        return int(label)
    raise ValueError(f"cannot read a region index from the label {label!r}")


def _mean(values):
    values = values[np.isfinite(values)]
    return (float(values.mean()) if values.size else float("nan")), int(values.size)


def within(fc_z, rows):
    """Mean of the finite FC values over the unique pairs (upper triangle) of ``rows``; and their number."""
    rows = list(dict.fromkeys(rows))
    sub = np.asarray(fc_z)[np.ix_(rows, rows)]
    return _mean(sub[np.triu_indices(len(rows), 1)])


def between(fc_z, rows_a, rows_b):
    """Mean of the finite FC values between ``rows_a`` and ``rows_b`` (self-pairs excluded); and their number."""
    a, b = np.asarray(list(rows_a), dtype=int), np.asarray(list(rows_b), dtype=int)
    vals = np.asarray(fc_z)[np.ix_(a, b)]
    vals = vals[a[:, None] != b[None, :]]
    return _mean(vals)


def network_measures(fc_z, labels_or_indices, sets: dict) -> dict:
    """Within-DMN, sgACC-DMN, within-limbic and within-visual mean Fisher-z FC.

    Parameters
    ----------
    fc_z : (R, R) Fisher-z matrix; NaN entries (missing regions) are skipped
    labels_or_indices : (R,) region index or label (``Gordon_12``, ``Seitzman_244``) of each row
    sets : output of :func:`network_sets`

    Returns
    -------
    dict with ``dmn`` (unique DMN pairs), ``sgacc_dmn`` (sgACC x DMN parcels that are not sgACC),
    ``limbic`` and ``visual`` (unique pairs), and ``n_pairs_<measure>``, the number of finite pairs averaged.
    Members of a set absent from the matrix are ignored.
    """
    fc_z = np.asarray(fc_z, dtype=float)
    if fc_z.ndim != 2 or fc_z.shape[0] != fc_z.shape[1] or fc_z.shape[0] != len(labels_or_indices):
        raise ValueError(f"FC matrix {fc_z.shape} does not match {len(labels_or_indices)} region labels")
    pos = {label_to_index(v): i for i, v in enumerate(labels_or_indices)}
    rows = {k: [pos[int(i)] for i in v if int(i) in pos] for k, v in sets.items()}
    out = {}
    for name in ("dmn", "limbic", "visual"):
        out[name], out[f"n_pairs_{name}"] = within(fc_z, rows.get(name, []))
    sgacc = set(rows.get("sgacc", []))
    dmn_only = [r for r in rows.get("dmn", []) if r not in sgacc]
    out["sgacc_dmn"], out["n_pairs_sgacc_dmn"] = between(fc_z, sorted(sgacc), dmn_only)
    return {k: out[k] for k in (*MEASURES, *(f"n_pairs_{m}" for m in MEASURES))}
