"""Group-level quality control: QC-FC of the whole-brain matrices and motion compared between groups and times.

QC-FC correlates, across the included sessions, each edge's Fisher-z FC with the session's mean FD; repeated
sessions of a participant are pooled as separate scans (as XCP-D and Ciric et al. 2017 do across scans). The
distance of an edge is the Euclidean distance between its regions' centroids on the atlas grid written by the
participant level (``OUTPUT_DIR/atlases``).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc.core.stats import qcfc as qc_stats
from ketamine_fc.errors import InputError, KetamineFCError
from ketamine_fc.group.inputs import _numeric, _read, session_table
from ketamine_fc.utils.derivatives import SEG

LOGGER = logging.getLogger("ketamine_fc.group")
MATRIX_SUFFIX = "_stat-pearsoncorrelation_desc-fisherz_relmat.tsv"
ATLAS_PREFIX = f"atlas-{SEG}"
#: QC-FC sample name -> which sessions (the first is the analysis of record)
SAMPLES = ("all included sessions", "patients pre", "patients post", "controls")
MOTION_MEASURES = {"mean_fd": ("Mean FD", "mm", 3), "n_frames": ("Retained frames", "frames", 1)}
#: contrast -> (test, side 1, side 2, side 1 in words, side 2 in words)
CONTRASTS = {
    "patients post vs pre": ("paired t", "patients post", "patients pre", "patients' post sessions",
                             "their pre sessions"),
    "patients vs controls, baseline": ("Student t", "patients pre", "controls", "patients at baseline", "controls"),
    "patients vs controls, post": ("Student t", "patients post", "controls", "patients after treatment",
                                   "controls"),
}


# --------------------------------------------------------------------------------------------- inputs


def output_dir_of(inputs) -> Path | None:
    """The participant-level output folder holding the FC matrices and atlases (None when not known)."""
    return Path(inputs.output_dir) if inputs.output_dir else None


def matrix_path(output_dir, participant_id, session_id) -> Path | None:
    """The whole-brain Fisher-z matrix of one session (None when absent); several candidates are an error."""
    sub = Path(output_dir) / participant_id
    found = sorted((sub / session_id / "func").glob(f"{participant_id}_{session_id}_*{MATRIX_SUFFIX}"))
    if not found and not (sub / session_id).exists():  # a dataset without sessions
        found = sorted(p for p in (sub / "func").glob(f"{participant_id}_*{MATRIX_SUFFIX}") if "_ses-" not in p.name)
    if len(found) > 1:
        raise InputError(f"{len(found)} whole-brain FC matrices for {participant_id} {session_id} "
                         f"({', '.join(p.name for p in found)}); expected one", path=found[0].parent)
    return found[0] if found else None


def read_matrix(path) -> pd.DataFrame:
    """One whole-brain FC matrix (square, rows and columns labelled alike) as floats with NaN for ``n/a``."""
    mat = _read(Path(path), ("region",), "whole-brain FC matrix")
    text = [c for c in mat.columns if c != "region" and not pd.api.types.is_numeric_dtype(mat[c])]
    if text:
        mat = _numeric(mat, text, path, "FC value")
    mat = mat.set_index("region")
    mat.index = mat.index.astype(str)
    if list(mat.index) != [str(c) for c in mat.columns]:
        raise InputError("the whole-brain FC matrix is not square with matching row and column labels", path=path)
    return mat.astype(float)


def read_edges(paths):
    """Upper-triangle edges of each session's matrix, regions in the first matrix's order.

    Returns ``(labels, i, j, edges)`` with ``edges`` of shape (n_sessions, n_edges) and ``i``, ``j`` the row
    positions of each edge's regions in ``labels``.
    """
    labels, edges = None, None
    for k, path in enumerate(paths):
        mat = read_matrix(path)
        if labels is None:
            labels = list(mat.index)
            i, j = np.triu_indices(len(labels), 1)
            edges = np.empty((len(paths), i.size))
        elif sorted(mat.index) != sorted(labels):
            diff = sorted(set(mat.index) ^ set(labels))
            raise InputError(f"the whole-brain FC matrix has other regions than {Path(paths[0]).name} (differing: "
                             f"{', '.join(diff[:5])}{' ...' if len(diff) > 5 else ''})", path=path)
        edges[k] = mat.loc[labels, labels].to_numpy()[i, j]
    return labels, i, j, edges


ATLAS_SUFFIXES = ("_dseg.nii.gz", "_dseg.dlabel.nii")  # a volume grid, or the fs_LR grayordinates


def atlas_table_path(atlas) -> Path:
    """The region table written beside an atlas file (``..._dseg.tsv``)."""
    atlas = Path(atlas)
    for suffix in ATLAS_SUFFIXES:
        if atlas.name.endswith(suffix):
            return atlas.with_name(atlas.name[: -len(suffix)] + "_dseg.tsv")
    raise ValueError(f"{atlas.name} is not an atlas file")


def _centroids(atlas: Path, indices) -> np.ndarray:
    """World (mm) centroid of each region index in an atlas file (a volume, or a dlabel on the fs_LR
    grayordinates with the cortex at the group-average midthickness vertices); NaN where absent."""
    import nibabel as nib

    from ketamine_fc.core.parcellation import label_centroids_mm, region_centroids_mm

    if atlas.name.endswith(".dlabel.nii"):
        from ketamine_fc.atlases.surface import read_cifti_atlas, surface_coords
        from ketamine_fc.utils.signals import grayordinate_coords

        keys, grays = read_cifti_atlas(atlas)
        return label_centroids_mm(keys, grayordinate_coords(grays, surface_coords())[0], indices)
    img = nib.load(str(atlas))
    data = np.rint(np.asarray(img.dataobj)).astype(np.int64)
    return region_centroids_mm(data[..., 0] if data.ndim == 4 else data, img.affine, indices)


def atlas_centroids(output_dir, labels, space=None, seg=SEG):
    """Centroids (mm) of the regions ``labels`` in the atlas written to ``OUTPUT_DIR/atlases``.

    The atlas is a volume grid (``*_dseg.nii.gz``) or the fs_LR grayordinates (``*_dseg.dlabel.nii``, cortical
    vertices placed on the fs_LR 32k group-average midthickness surfaces). Returns ``(centroids, indices,
    atlas_name, n_grids)``: centroids (n_labels, 3) and atlas indices (NaN for a label absent from the region
    table or the atlas), the atlas file used and how many were found (the first in name order is used). Without
    an atlas: ``(None, None, None, 0)``. ``seg`` is the atlas name (the matrices' ``seg-`` entity).
    """
    folder = Path(output_dir) / "atlases"
    grids = []
    prefix = f"atlas-{seg}"
    for pattern in ([f"{prefix}_space-{space}_*"] if space else []) + [f"{prefix}_*"]:
        grids = sorted(g for suffix in ATLAS_SUFFIXES for g in folder.glob(pattern + suffix))
        grids = [g for g in grids if atlas_table_path(g).exists()]
        if grids:
            break
    if not grids:
        return None, None, None, 0
    atlas = grids[0]
    if len(grids) > 1:
        LOGGER.info("QC-FC: %d atlas grids in %s; region centroids from the first, %s", len(grids), folder,
                    atlas.name)
    table = _read(atlas_table_path(atlas), ("index", "label"), "atlas region table")
    by_label = dict(zip(table["label"].astype(str), pd.to_numeric(table["index"], errors="coerce")))
    indices = np.array([by_label.get(str(lab), np.nan) for lab in labels], dtype=float)
    cent = np.full((len(labels), 3), np.nan)
    known = np.isfinite(indices)
    if known.any():
        try:
            cent[known] = _centroids(atlas, indices[known].astype(np.int64))
        except (KetamineFCError, OSError, ValueError) as err:  # distances are optional: say why and go on
            LOGGER.warning("QC-FC: region centroids not computed from %s (%s: %s)", atlas.name, type(err).__name__,
                           err)
    unknown = [lab for lab, c in zip(labels, cent) if not np.isfinite(c).all()]
    if unknown:
        LOGGER.info("QC-FC: %d region(s) without a place in %s have no distance: %s", len(unknown), atlas.name,
                    ", ".join(unknown[:5]))
    return cent, indices, atlas.name, len(grids)


def sample_masks(sessions, params) -> dict:
    """Boolean masks over the session table for each QC-FC sample."""
    patient = sessions["group"].astype(str) == params.patient_group
    return {"all included sessions": np.ones(len(sessions), bool),
            "patients pre": (patient & (sessions["phase"] == "pre")).to_numpy(),
            "patients post": (patient & (sessions["phase"] == "post")).to_numpy(),
            "controls": (sessions["group"].astype(str) == params.control_group).to_numpy()}


# --------------------------------------------------------------------------------------------- QC-FC


def qc_fc_tables(inputs, params) -> dict:
    """QC-FC over the included sessions: ``{"qc_fc": summary, "qc_fc_edges": per edge}``.

    The summary has one row per sample (all included sessions pooled, the analysis of record; then patients'
    pre, patients' post and controls' sessions where a sample has at least 3 sessions). The edge table holds the
    QC-FC r, p and centroid distance of every edge over all included sessions. Raises ValueError when the
    whole-brain matrices cannot be found or fewer than 3 sessions have one.
    With no matrix at all (an FC table given alone) nothing is computed and ``inputs.skipped`` says why.
    """
    if "mean_fd" not in inputs.fc:
        raise ValueError(f"the FC table has no mean_fd column ({inputs.sources.get('fc')})")
    out_dir = output_dir_of(inputs)
    sessions = session_table(inputs, params)
    paths = ([matrix_path(out_dir, s, t) for s, t in zip(sessions["participant_id"], sessions["session_id"])]
             if out_dir is not None else [None] * len(sessions))
    if all(p is None for p in paths):  # an FC table alone (--fc-table): nothing to compute, as for the limbic edges
        inputs.skipped["qc_fc"] = f"no whole-brain FC matrices (*{MATRIX_SUFFIX}) in the outputs"
        return {}
    have = np.array([p is not None for p in paths]) & np.isfinite(sessions["mean_fd"].to_numpy(float))
    if (~have).any():
        LOGGER.info("QC-FC: %d included session(s) without a whole-brain FC matrix or mean FD left out: %s",
                    int((~have).sum()), ", ".join(f"{a} {b}" for a, b in zip(
                        sessions.loc[~have, "participant_id"], sessions.loc[~have, "session_id"])))
    if have.sum() < qc_stats.MIN_SESSIONS:
        raise ValueError(f"{int(have.sum())} included session(s) have a whole-brain FC matrix "
                         f"(*{MATRIX_SUFFIX}) and a mean FD under {out_dir}; QC-FC needs at least "
                         f"{qc_stats.MIN_SESSIONS}")
    sessions = sessions[have].reset_index(drop=True)
    paths = [p for p, h in zip(paths, have) if h]
    labels, i, j, edges = read_edges(paths)
    space = re.search(r"_space-([^_]+)", paths[0].name)
    seg = re.search(r"_seg-([^_]+)", paths[0].name)
    seg = seg.group(1) if seg else SEG
    cent, indices, atlas, n_grids = atlas_centroids(out_dir, labels, space.group(1) if space else None, seg)
    distance = qc_stats.edge_distances(cent, i, j) if cent is not None else np.full(i.size, np.nan)
    if cent is None:
        LOGGER.warning("QC-FC: no atlas (%s_*dseg.nii.gz with its .tsv) in %s; the distance dependence is n/a",
                       f"atlas-{seg}", Path(out_dir) / "atlases")
    fd = sessions["mean_fd"].to_numpy(float)
    rows, edge_table = [], None
    for name, mask in sample_masks(sessions, params).items():
        if mask.sum() < qc_stats.MIN_SESSIONS:
            LOGGER.info("QC-FC of %s not computed: %d session(s)", name, int(mask.sum()))
            continue
        r, p, n = qc_stats.qcfc(edges[mask], fd[mask])
        summary = qc_stats.qcfc_summary(r, p, distance)
        rows.append({"sessions": name, "n_sessions": int(mask.sum()),
                     "n_participants": int(sessions.loc[mask, "participant_id"].nunique()), **summary,
                     "mean_fd_sessions": float(fd[mask].mean()), "atlas": atlas or "n/a", "atlas_grids": n_grids})
        if edge_table is None:
            idx = indices if indices is not None else np.full(len(labels), np.nan)
            edge_table = pd.DataFrame({
                "index_i": pd.array(idx[i], dtype="Int64"), "index_j": pd.array(idx[j], dtype="Int64"),
                "label_i": np.asarray(labels, dtype=object)[i], "label_j": np.asarray(labels, dtype=object)[j],
                "distance_mm": distance, "n_sessions": n, "r": r, "p": p})
    columns = ["sessions", "n_sessions", "n_participants", "n_edges", "pct_edges_p05", "median_abs_r",
               "distance_rho", "distance_p", "n_edges_distance", "mean_fd_sessions", "atlas", "atlas_grids"]
    return {"qc_fc": pd.DataFrame(rows)[columns], "qc_fc_edges": edge_table}


# --------------------------------------------------------------------------------------------- motion


def participant_motion(sessions, patient_group, control_group) -> pd.DataFrame:
    """Motion per participant and sample (``patients pre``, ``patients post``, ``controls``), sessions averaged.

    ``sessions`` is :func:`~ketamine_fc.group.inputs.session_table` (columns ``group`` and ``phase``).
    """
    cols = [c for c in MOTION_MEASURES if c in sessions]
    group = sessions["group"].astype(str)
    parts = []
    for name, mask in (("patients pre", (group == patient_group) & (sessions["phase"] == "pre")),
                       ("patients post", (group == patient_group) & (sessions["phase"] == "post")),
                       ("controls", group == control_group)):
        per = sessions[mask].groupby("participant_id", sort=True)[cols].mean().reset_index()
        parts.append(per.assign(sample=name))
    return pd.concat(parts, ignore_index=True)[["participant_id", "sample"] + cols]


def motion(inputs, params) -> pd.DataFrame:
    """Mean FD and retained frames compared: patients post vs pre (paired t over patients with both, pre
    sessions averaged), patients vs controls at baseline and post (Student t; controls' visits averaged)."""
    sessions = session_table(inputs, params)
    measures = [m for m in MOTION_MEASURES if m in sessions and np.isfinite(sessions[m].to_numpy(float)).any()]
    if not measures:
        raise ValueError(f"the FC table has no mean_fd or n_frames values ({inputs.sources.get('fc')})")
    per = participant_motion(sessions, params.patient_group, params.control_group)
    rows = []
    for contrast, (test, side_1, side_2, _, _) in CONTRASTS.items():
        a, b = per[per["sample"] == side_1], per[per["sample"] == side_2]
        compare = qc_stats.compare_paired if test == "paired t" else qc_stats.compare_groups
        for m in measures:
            res = compare(a["participant_id"].to_numpy(), a[m].to_numpy(float), b["participant_id"].to_numpy(),
                          b[m].to_numpy(float))
            rows.append({"contrast": contrast, "motion_measure": m, "test": test, "side_1": side_1,
                         "side_2": side_2, **res})
    return pd.DataFrame(rows)


def _number(v, digits):
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def format_p(p) -> str:
    """``p = 0.43``, ``p = 0.012`` or ``p < 0.001``; ``p = n/a`` when missing."""
    if p is None or not np.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}" if p < 0.1 else f"p = {p:.2f}"


def motion_sentence(table, alpha=0.05) -> str:
    """The motion comparisons in plain words, one sentence per row of :func:`motion`'s table (p < ``alpha``
    two-sided, uncorrected, counts as a difference)."""
    if table is None or not len(table):
        return "Motion was not compared."
    clauses = []
    for _, row in table.iterrows():
        name, unit, digits = MOTION_MEASURES.get(row["motion_measure"], (row["motion_measure"], "", 3))
        words = CONTRASTS.get(row["contrast"])
        one, two = (words[3], words[4]) if words else (row["side_1"], row["side_2"])
        values = f"{_number(row['mean_1'], digits)} vs {_number(row['mean_2'], digits)}{' ' + unit if unit else ''}"
        t, df, p = (float(row[k]) for k in ("t", "df", "p"))
        if not (math.isfinite(t) and math.isfinite(p)):
            clauses.append(f"{name} could not be compared between {one} and {two} ({values}; n = "
                           f"{int(row['n_1'])} and {int(row['n_2'])})")
            continue
        stat = f"{row['test']}({df:.0f}) = {t:.2f}, {format_p(p)}" if float(df).is_integer() else \
            f"{row['test']}({df:.1f}) = {t:.2f}, {format_p(p)}"
        if p < alpha:
            clauses.append(f"{name} was {'higher' if t > 0 else 'lower'} in {one} than in {two} ({values}, {stat})")
        else:
            clauses.append(f"{name} did not differ between {one} and {two} ({values}, {stat})")
    return " ".join(c + "." for c in clauses)
