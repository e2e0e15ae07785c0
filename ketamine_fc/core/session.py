"""Session level: concatenate cleaned runs, correlate, and summarise into the paper's network measures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketamine_fc.core.connectivity import concatenate_runs, correlation_matrix, fisher_z

MEASURES = ("dmn", "sgacc_dmn", "limbic", "visual")


def set_coverage(sets: dict, table: pd.DataFrame, lost_labels) -> dict:
    """Per network set (``sgacc``, ``dmn``, ``limbic``, ``visual``): regions kept, regions defined, fraction kept."""
    lost_index = set(table.loc[table["label"].isin(set(lost_labels)), "index"].astype(int))
    out = {}
    for name in ("sgacc", "dmn", "limbic", "visual"):
        members = [int(i) for i in sets.get(name, [])]
        kept = sum(1 for i in members if i not in lost_index)
        out[name] = (kept, len(members), kept / len(members) if members else float("nan"))
    return out


def session_connectivity(run_timeseries, run_qc, table: pd.DataFrame, *, sgacc, min_frames: int,
                         min_coverage: float = 0.5, run_labels=None, network_spec: dict | None = None) -> dict:
    """FC and network measures of one session from its runs (each cleaned separately).

    Parameters
    ----------
    run_timeseries : list of (n_keep, R) DataFrames, columns = region labels
    run_qc : list of dict (``denoise_run`` QC)
    table : region table (``index``, ``label``, ``network``, ``limbic_role``, ...)
    sgacc : sequence of Gordon parcel numbers
    min_frames : retained frames below which the session is excluded from group analysis
    min_coverage : a session that keeps a smaller fraction of the regions of any network set is excluded
    run_labels : names of the runs in exclusion reasons (default run-1, run-2 ...)
    network_spec : the atlas's network sets (:func:`ketamine_fc.core.networks.network_sets`; default the paper's)

    Returns
    -------
    dict with ``r``, ``z``, ``limbic_z`` (DataFrames; ``z`` and its limbic block ``limbic_z`` have a NaN
    diagonal), ``measures`` (the one-row dict, with ``n_pairs_*`` and ``coverage_*``), ``exclusion_reasons``,
    ``lost_regions`` (label -> ``missing``: outside the brain mask, ``shrunk``: partly outside it, ``absent``:
    too small on this grid).
    """
    from ketamine_fc.core.networks import network_measures, network_sets

    labels = table["label"].tolist()
    run_labels = list(run_labels or [f"run-{i}" for i in range(1, len(run_qc) + 1)])
    ts = concatenate_runs([np.asarray(t, dtype=float).reshape(-1, len(labels)) for t in run_timeseries])
    n_frames = ts.shape[0]
    reasons = [f"{name}: {problem}" for name, q in zip(run_labels, run_qc) for problem in q.get("problems", [])]
    if n_frames < min_frames:
        reasons.append(f"{n_frames} retained frames < minimum {min_frames}")
    lost = {}
    for q in run_qc:
        for kind in ("absent", "missing", "shrunk"):
            lost.update({lab: kind for lab in q.get(f"{kind}_regions", []) if lab not in lost})
    sets = network_sets(table, sgacc=sgacc if isinstance(sgacc, str) else list(sgacc), spec=network_spec)
    coverage = set_coverage(sets, table, lost)
    for name, (kept, total, frac) in coverage.items():
        if total and frac < min_coverage:
            reasons.append(f"the brain mask leaves {kept} of the {total} {SET_NAMES[name]} regions "
                           f"({frac:.0%} < minimum {min_coverage:.0%})")
    if n_frames >= 3:
        r = correlation_matrix(ts)
        r[:, [labels.index(lab) for lab in lost]] = np.nan
        r[[labels.index(lab) for lab in lost], :] = np.nan
    else:
        r = np.full((len(labels), len(labels)), np.nan)
    z = fisher_z(r)
    np.fill_diagonal(z, np.nan)  # arctanh(1) is no FC value; r keeps its diagonal of 1
    measures = network_measures(z, table["index"].to_numpy(), sets)
    fds = [q["mean_fd"] for q in run_qc]
    weights = np.array([q["n_frames"] - q["n_dummy"] for q in run_qc], dtype=float)
    mean_fd = float(np.average(fds, weights=weights)) if weights.sum() > 0 else float("nan")
    limbic_idx = [labels.index(lab) for lab in table.loc[table["index"].isin(sets["limbic"]), "label"]]
    limbic_labels = [labels[i] for i in limbic_idx]
    row = {m: measures.get(m, np.nan) for m in MEASURES}
    row.update({"n_frames": n_frames, "mean_fd": mean_fd, "included": not reasons})
    row.update({f"n_pairs_{m}": measures[f"n_pairs_{m}"] for m in MEASURES})
    row.update({f"coverage_{name}": frac for name, (_, _, frac) in coverage.items()})
    return {
        "r": pd.DataFrame(r, index=labels, columns=labels),
        "z": pd.DataFrame(z, index=labels, columns=labels),
        "limbic_z": pd.DataFrame(z[np.ix_(limbic_idx, limbic_idx)], index=limbic_labels, columns=limbic_labels),
        "measures": row,
        "exclusion_reasons": reasons,
        "lost_regions": lost,
    }


SET_NAMES = {"sgacc": "sgACC", "dmn": "DMN", "limbic": "limbic", "visual": "visual"}
