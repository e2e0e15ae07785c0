"""Session level: concatenate cleaned runs, correlate, and summarise into the paper's network measures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketamine_fc.core.connectivity import concatenate_runs, correlation_matrix, fisher_z

MEASURES = ("dmn", "sgacc_dmn", "limbic", "visual")


def session_connectivity(run_timeseries, run_qc, table: pd.DataFrame, *, sgacc, min_frames: int) -> dict:
    """FC and network measures of one session from its runs (each cleaned separately).

    Parameters
    ----------
    run_timeseries : list of (n_keep, R) DataFrames, columns = region labels
    run_qc : list of dict (``denoise_run`` QC)
    table : region table (``index``, ``label``, ``network``, ``limbic_role``, ...)
    sgacc : sequence of Gordon parcel numbers
    min_frames : retained frames below which the session is flagged and excluded from group analysis
    """
    from ketamine_fc.core.networks import network_measures, network_sets

    labels = table["label"].tolist()
    ts = concatenate_runs([np.asarray(t, dtype=float).reshape(-1, len(labels)) for t in run_timeseries])
    n_frames = ts.shape[0]
    reasons = []
    if n_frames < min_frames:
        reasons.append(f"{n_frames} retained frames < minimum {min_frames}")
    if n_frames >= 3:
        r = correlation_matrix(ts)
    else:
        r = np.full((len(labels), len(labels)), np.nan)
    z = fisher_z(r)
    sets = network_sets(table, sgacc=list(sgacc))
    measures = network_measures(z, table["index"].to_numpy(), sets)
    kept = [q["n_retained"] for q in run_qc]
    fds = [q["mean_fd"] for q in run_qc]
    weights = np.array([q["n_frames"] - q["n_dummy"] for q in run_qc], dtype=float)
    mean_fd = float(np.average(fds, weights=weights)) if weights.sum() > 0 else float("nan")
    limbic_idx = [labels.index(lab) for lab in table.loc[table["index"].isin(sets["limbic"]), "label"]]
    limbic_labels = [labels[i] for i in limbic_idx]
    row = {m: measures.get(m, np.nan) for m in MEASURES}
    row.update({"n_frames": n_frames, "mean_fd": mean_fd, "included": not reasons})
    return {
        "r": pd.DataFrame(r, index=labels, columns=labels),
        "z": pd.DataFrame(z, index=labels, columns=labels),
        "limbic_z": pd.DataFrame(z[np.ix_(limbic_idx, limbic_idx)], index=limbic_labels, columns=limbic_labels),
        "measures": row,
        "pairs": {k: v for k, v in measures.items() if k.startswith("n_pairs")},
        "exclusion_reasons": reasons,
        "n_retained_by_run": kept,
    }
