"""The paper's network measures: mean Fisher-z FC within and between sets of regions."""

from __future__ import annotations

import numpy as np
import pandas as pd

SGACC = {"core": (123, 280, 286), "extended": (117, 123, 125, 279, 280, 286)}
LIMBIC_ROLES = ("amygdala", "anterior_hippocampus", "posterior_hippocampus", "accumbens", "thalamus")


def network_sets(table: pd.DataFrame, sgacc="core") -> dict:
    """Region indices of the DMN, sgACC, limbic and visual sets from an atlas table.

    DMN and visual are the Gordon ``Default`` and ``Visual`` communities; sgACC is a Gordon parcel list
    (``core``, ``extended`` or explicit numbers); limbic is every region with a ``limbic_role``.
    """
    gordon = table[table["atlas"] == "Gordon333"] if "atlas" in table else table[table["index"] <= 333]
    parcels = SGACC[sgacc] if isinstance(sgacc, str) else tuple(int(p) for p in sgacc)
    roles = table.get("limbic_role", pd.Series([""] * len(table), index=table.index)).fillna("").astype(str)
    limbic = table.loc[roles.str.len().gt(0) & ~roles.isin(["n/a", "None"]), "index"]
    return {
        "dmn": sorted(gordon.loc[gordon["network"] == "Default", "index"].astype(int)),
        "sgacc": sorted(int(p) for p in parcels),
        "limbic": sorted(limbic.astype(int)),
        "visual": sorted(gordon.loc[gordon["network"] == "Visual", "index"].astype(int)),
    }


def _within(z, idx):
    sub = z[np.ix_(idx, idx)]
    vals = sub[np.triu_indices(len(idx), 1)]
    vals = vals[np.isfinite(vals)]
    return (float(vals.mean()) if vals.size else float("nan")), int(vals.size)


def _between(z, a, b):
    vals = z[np.ix_(a, b)].ravel()
    vals = vals[np.isfinite(vals)]
    return (float(vals.mean()) if vals.size else float("nan")), int(vals.size)


def network_measures(fc_z, indices, sets: dict) -> dict:
    """Within-DMN, sgACC-DMN, within-limbic and within-visual mean Fisher-z FC.

    Parameters
    ----------
    fc_z : (R, R) Fisher-z matrix (NaN rows for missing regions, which are skipped)
    indices : (R,) region index of each row
    sets : output of :func:`network_sets`

    Returns
    -------
    dict with ``dmn, sgacc_dmn, limbic, visual`` and the number of pairs used, ``n_pairs_<measure>``.
    """
    fc_z = np.asarray(fc_z, dtype=float)
    pos = {int(v): i for i, v in enumerate(indices)}
    rows = {k: [pos[i] for i in v if i in pos] for k, v in sets.items()}
    out = {}
    for name in ("dmn", "limbic", "visual"):
        out[name], out[f"n_pairs_{name}"] = _within(fc_z, rows[name])
    sgacc = rows["sgacc"]
    dmn_only = [r for r in rows["dmn"] if r not in set(sgacc)]
    out["sgacc_dmn"], out["n_pairs_sgacc_dmn"] = _between(fc_z, sgacc, dmn_only)
    return out
