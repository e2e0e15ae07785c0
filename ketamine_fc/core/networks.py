"""The paper's network measures: mean Fisher-z FC within and between sets of regions.

Region sets are lists of atlas indices (Gordon parcel id 1-333; Seitzman ROI + 1000).

Which regions form each set is the atlas's description (``ketamine_fc.atlases.descriptions.network_spec``),
handed in as plain data (``spec``); without one, the paper's atlas (:data:`PAPER_SPEC`, the same data).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: candidate sgACC parcel lists (methods.md 3.2); the paper's own list is not known
SGACC = {"core": (123, 280, 286), "extended": (117, 123, 125, 279, 280, 286)}
MEASURES = ("dmn", "sgacc_dmn", "limbic", "visual")
#: the paper's atlas (GordonSeitzman) as ``network_spec`` describes it: the DMN and visual sets are Gordon's Default
#: and Visual communities, the sgACC candidates Gordon parcels; labels ``Gordon_<id>`` and ``Seitzman_<roi>``
PAPER_SPEC = {
    "sets": {"dmn": [["Gordon333", "Default"]], "visual": [["Gordon333", "Visual"]]},
    "sgacc": {"atlas": "Gordon333", "offset": 0, "presets": {k: list(v) for k, v in SGACC.items()},
              "indices": [1, 333]},
    "prefixes": {"Gordon": 0, "Seitzman": 1000},
}
_LABEL = re.compile(r"^([A-Za-z][A-Za-z0-9]*)_(\d+)$")


def _members(table, atlas: str, values) -> list:
    if "atlas" in table:
        rows = table[table["atlas"] == atlas]
    else:  # a table without the atlas column: the paper's Gordon parcels are the indices up to 333
        rows = table[table["index"].astype(int) <= 333]
    return sorted(int(i) for i in rows.loc[rows["network"].isin(list(values)), "index"])


def network_sets(table: pd.DataFrame, sgacc="core", spec: dict | None = None) -> dict:
    """Region indices of the DMN, sgACC, limbic and visual sets.

    Parameters
    ----------
    table : atlas table with ``index``, ``network`` and ``limbic_role`` (and ``atlas``)
    sgacc : ``"core"`` (123, 280, 286), ``"extended"`` (adds 117, 125, 279) or explicit Gordon parcel ids (with
        ``spec``: a preset of the atlas or its own indices of the sgACC atlas)
    spec : the atlas's sets (``ketamine_fc.atlases.descriptions.network_spec``); default :data:`PAPER_SPEC`

    Returns
    -------
    dict of sorted int lists: ``dmn`` (Gordon Default), ``sgacc``, ``limbic`` (regions with a limbic role:
    the 8 whole structures and the 2 thalamus spheres), ``visual`` (Gordon Visual).
    """
    spec = PAPER_SPEC if spec is None else spec
    sg = spec.get("sgacc") or {}
    presets = sg.get("presets", {})
    if isinstance(sgacc, str):
        if sgacc not in presets:
            raise ValueError(f"unknown sgACC preset {sgacc!r}; use one of {', '.join(presets)} or a parcel list")
        parcels = tuple(int(p) for p in presets[sgacc])
    else:
        parcels = tuple(int(p) for p in sgacc)
        if sg.get("indices"):
            first, last = (int(v) for v in sg["indices"])
            bad = [p for p in parcels if not first <= p <= last]
        else:
            own = set(table["index"].astype(int) - int(sg.get("offset", 0)))
            bad = [p for p in parcels if p not in own]
            first, last = (min(own), max(own)) if own else (0, 0)
        if bad or not parcels:
            raise ValueError(f"sgACC parcels must be {sg.get('atlas', 'atlas')} parcel ids {first}-{last}, "
                             f"got {list(sgacc)}")
    roles = table["limbic_role"] if "limbic_role" in table else pd.Series("", index=table.index)
    roles = roles.fillna("").astype(str)
    limbic = table.loc[roles.str.len().gt(0) & ~roles.isin(["n/a", "None", "nan"]), "index"]
    sets = {name: sorted({i for atlas, value in members for i in _members(table, atlas, [value])})
            for name, members in spec.get("sets", {}).items()}
    offset = int(sg.get("offset", 0))
    return {
        "dmn": sets.get("dmn", []),
        "sgacc": sorted({offset + p for p in parcels}),
        "limbic": sorted(int(i) for i in limbic),
        "visual": sets.get("visual", []),
    }


def label_to_index(label, prefixes: dict | None = None) -> int:
    """Atlas index of a region label (``Gordon_<id>`` -> id, ``Seitzman_<roi>`` -> 1000 + roi) or integer.

    ``prefixes`` maps each label prefix to its index offset (``network_spec``'s ``prefixes``; default the paper's).
    """
    if isinstance(label, (int, np.integer)):
        return int(label)
    prefixes = PAPER_SPEC["prefixes"] if prefixes is None else prefixes
    match = _LABEL.match(str(label))
    if match and match.group(1) in prefixes:
        return int(match.group(2)) + int(prefixes[match.group(1)])
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


def network_measures(fc_z, labels_or_indices, sets: dict, prefixes: dict | None = None) -> dict:
    """Within-DMN, sgACC-DMN, within-limbic and within-visual mean Fisher-z FC.

    Parameters
    ----------
    fc_z : (R, R) Fisher-z matrix; NaN entries (missing regions) are skipped
    labels_or_indices : (R,) region index or label (``Gordon_12``, ``Seitzman_244``) of each row
    sets : output of :func:`network_sets`
    prefixes : label prefix -> index offset, for labels (default the paper's atlas)

    Returns
    -------
    dict with ``dmn`` (unique DMN pairs), ``sgacc_dmn`` (sgACC x DMN parcels that are not sgACC),
    ``limbic`` and ``visual`` (unique pairs), and ``n_pairs_<measure>``, the number of finite pairs averaged.
    Members of a set absent from the matrix are ignored.
    """
    fc_z = np.asarray(fc_z, dtype=float)
    if fc_z.ndim != 2 or fc_z.shape[0] != fc_z.shape[1] or fc_z.shape[0] != len(labels_or_indices):
        raise ValueError(f"FC matrix {fc_z.shape} does not match {len(labels_or_indices)} region labels")
    pos = {label_to_index(v, prefixes): i for i, v in enumerate(labels_or_indices)}
    rows = {k: [pos[int(i)] for i in v if int(i) in pos] for k, v in sets.items()}
    out = {}
    for name in ("dmn", "limbic", "visual"):
        out[name], out[f"n_pairs_{name}"] = within(fc_z, rows.get(name, []))
    sgacc = set(rows.get("sgacc", []))
    dmn_only = [r for r in rows.get("dmn", []) if r not in sgacc]
    out["sgacc_dmn"], out["n_pairs_sgacc_dmn"] = between(fc_z, sorted(sgacc), dmn_only)
    return {k: out[k] for k in (*MEASURES, *(f"n_pairs_{m}" for m in MEASURES))}
