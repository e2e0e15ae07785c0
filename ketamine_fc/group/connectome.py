"""Whole-connectome group statistics: the network LME on every edge, BH FDR, the NBS, and seed maps.

The model and its two inference conventions are those of the network measures (``analyses.lme``), fitted to
the Fisher z of every region pair of the patients' pre and post sessions; a session lacking a region (lost to its
brain mask) contributes the edges it has. Multiple comparisons: Benjamini-Hochberg q per term over the edges (and
within each seed for the seed maps), and the network-based statistic with permutations that respect the repeated
measures (time: sessions permuted within participant; time x response: response labels permuted between
participants).
"""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pandas as pd

from ketamine_fc.core.stats import edgewise, nbs
from ketamine_fc.core.stats.multiple import fdr_bh
from ketamine_fc.group.analyses import CONVENTIONS, lme_design
from ketamine_fc.group.inputs import _read
from ketamine_fc.group.qc import atlas_centroids, atlas_table_path, matrix_path, output_dir_of, read_edges
from ketamine_fc.utils.derivatives import SEG

LOGGER = logging.getLogger("ketamine_fc.group")
TERMS = {"time": "time", "time:response": "timexresponse"}  # term -> file-name slug
SGACC_DEFAULT = (123, 280, 286)


def _regions(out_dir, labels, space, seg=SEG) -> pd.DataFrame:
    """Label, atlas index, network, limbic role and centroid (mm) of every region of the matrices."""
    cent, indices, atlas, _ = atlas_centroids(out_dir, labels, space, seg)
    regions = pd.DataFrame({"label": labels})
    regions[["x", "y", "z"]] = cent if cent is not None else np.nan
    regions["index"] = indices if indices is not None else np.nan
    regions["network"], regions["limbic_role"] = "n/a", ""
    if atlas:
        table = _read(atlas_table_path(out_dir / "atlases" / atlas), ("index", "label"),
                      "atlas region table").astype({"label": str}).set_index("label")
        for col in ("network", "limbic_role"):
            if col in table:
                regions[col] = table[col].reindex(regions["label"]).fillna(regions[col]).to_numpy()
    return regions


def _edge_table(fits, other, term, regions, i, j) -> pd.DataFrame:
    k = fits.term(term)
    lab, net = regions["label"].to_numpy(), regions["network"].to_numpy()
    return pd.DataFrame({
        "i": i, "j": j, "label_i": lab[i], "label_j": lab[j], "network_i": net[i], "network_j": net[j],
        "estimate": fits.estimate[k], "se": fits.se[k], "t": fits.t[k], "df": fits.df[k], "p": fits.p[k],
        "q": fdr_bh(fits.p[k]), "n_obs": fits.n_obs, "n_participants": fits.n_participants,
        "t_other": other.t[k], "p_other": other.p[k]})


def _matrix(values, labels) -> pd.DataFrame:
    mat = pd.DataFrame(edgewise.unvectorize(np.asarray(values, dtype=float), fill=np.nan), columns=labels)
    mat.insert(0, "region", labels)
    return mat


def _nbs(Z, X, sessions, terms, term, fits, params):
    groups = sessions["participant_id"].to_numpy()
    common = dict(term_names=terms, term=term, fits=fits, method=CONVENTIONS[params.lme_inference][0],
                  threshold=params.nbs_threshold, n_perm=params.nbs_permutations, seed=params.seed)
    if term == "time":
        stat = nbs.WithinParticipantT(Z, X, groups, **common)
    else:
        stat = nbs.BetweenParticipantT(Z, X, groups, label=sessions["response"].to_numpy(float),
                                       factor=sessions["time"].to_numpy(float), **common)
    return nbs.nbs(fits.t[fits.term(term)], stat, params.nbs_permutations, threshold=params.nbs_threshold)


def _nbs_tables(result, regions, i, j, term) -> tuple:
    comps, edges = [], []
    lab = regions["label"].to_numpy()
    for n, c in enumerate(result.components, start=1):
        comps.append({"term": term, "component": n, "sign": "positive" if c.sign > 0 else "negative" if c.sign < 0
                      else "mixed", "n_nodes": int(c.nodes.size), "size": c.size, "intensity": c.intensity,
                      "p_fwe": c.p, "nodes": ", ".join(lab[c.nodes])})
        edges += [{"term": term, "component": n, "i": int(i[e]), "j": int(j[e]), "label_i": lab[i[e]],
                   "label_j": lab[j[e]]} for e in c.edges]
    return pd.DataFrame(comps, columns=["term", "component", "sign", "n_nodes", "size", "intensity", "p_fwe",
                                        "nodes"]), pd.DataFrame(edges, columns=["term", "component", "i", "j",
                                                                                "label_i", "label_j"])


def _seeds(regions, sgacc) -> dict:
    """Seed name -> region positions averaged into the seed (the sgACC set, then each limbic region)."""
    index = pd.to_numeric(regions["index"], errors="coerce").to_numpy()
    out = {"sgACC": np.flatnonzero(np.isin(index, list(sgacc)) & regions["label"].str.startswith("Gordon_"))}
    for pos in np.flatnonzero(regions["limbic_role"].astype(str).str.len() > 0):
        out[str(regions["label"].iloc[pos])] = np.array([pos])
    return {k: v for k, v in out.items() if v.size}


SEED_COLUMNS = ["seed", "term", "region", "network", "estimate", "se", "t", "df", "p", "q", "n_obs"]


def _seed_maps(mats, X, groups, terms, params, regions, seeds) -> pd.DataFrame:
    rows = []
    fit, df, _ = CONVENTIONS[params.lme_inference]
    for name, members in seeds.items():
        with warnings.catch_warnings():  # a session lacking every seed region gives NaN, left out of the fit
            warnings.simplefilter("ignore", RuntimeWarning)
            series = np.nanmean(mats[:, members, :], axis=1)  # (sessions, regions): mean z of the seed with each
        series[:, members] = np.nan
        fits = edgewise.fit_edges(series, X, groups, term_names=terms, method=fit, df_method=df)
        for term in TERMS:
            k = fits.term(term)
            rows.append(pd.DataFrame({
                "seed": name, "term": term, "region": regions["label"], "network": regions["network"],
                "estimate": fits.estimate[k], "se": fits.se[k], "t": fits.t[k], "df": fits.df[k], "p": fits.p[k],
                "q": fdr_bh(fits.p[k]), "n_obs": fits.n_obs}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=SEED_COLUMNS)


def connectome_tables(inputs, params) -> dict:
    """Edge-wise LME, BH FDR, NBS and seed maps of the patients' whole-brain FC matrices.

    Returns a dict of tables: ``connectome_<term>_edges`` (one row per edge), ``connectome_<term>_t`` and
    ``connectome_<term>_q`` (matrix-shaped), ``nbs_components``, ``nbs_edges`` and ``seed_maps``; an empty dict
    (with the reason in ``inputs.skipped``) when there are no whole-brain matrices or ``nbs_permutations`` is 0.
    The NBS settings and permutation schemes go into ``inputs.nbs_info`` for the sidecars.
    """
    if params.nbs_permutations == 0:
        inputs.skipped["connectome"] = "skipped: --nbs-permutations 0"
        return {}
    sessions, X, terms, problem = lme_design(inputs, params, quiet=True)
    if problem:
        raise ValueError(problem)
    out_dir = output_dir_of(inputs)
    paths = [matrix_path(out_dir, s, t) if out_dir else None
             for s, t in zip(sessions["participant_id"], sessions["session_id"])]
    have = np.array([p is not None for p in paths])
    if not have.any():
        inputs.skipped["connectome"] = "no whole-brain FC matrices in the outputs"
        return {}
    if (~have).any():
        LOGGER.info("Connectome: %d session(s) without a whole-brain FC matrix left out", int((~have).sum()))
    sessions, X = sessions[have].reset_index(drop=True), X[have]
    paths = [p for p in paths if p is not None]
    labels, i, j, Z = read_edges(paths)
    space = re.search(r"_space-([^_]+)", paths[0].name)
    seg = re.search(r"_seg-([^_]+)", paths[0].name)
    regions = _regions(out_dir, labels, space.group(1) if space else None, seg.group(1) if seg else SEG)
    groups = sessions["participant_id"].to_numpy()
    LOGGER.info("Connectome: fitting the LME to %d edges of %d sessions (%d patients), both conventions",
                Z.shape[1], Z.shape[0], len(set(groups)))
    fits = {name: edgewise.fit_edges(Z, X, groups, term_names=terms, method=fit, df_method=df)
            for name, (fit, df, _) in CONVENTIONS.items()}
    decide = fits[params.lme_inference]
    other = fits[next(k for k in CONVENTIONS if k != params.lme_inference)]
    tables, components, component_edges, info = {}, [], [], {}
    for term, slug in TERMS.items():
        edges = _edge_table(decide, other, term, regions, i, j)
        tables[f"connectome_{slug}_edges"] = edges
        tables[f"connectome_{slug}_t"] = _matrix(edges["t"], labels)
        tables[f"connectome_{slug}_q"] = _matrix(edges["q"], labels)
        LOGGER.info("Connectome: NBS of %s, %d permutations at |t| > %g", term, params.nbs_permutations,
                    params.nbs_threshold)
        result = _nbs(Z, X, sessions, terms, term, decide, params)
        comp, comp_edges = _nbs_tables(result, regions, i, j, term)
        components.append(comp)
        component_edges.append(comp_edges)
        info[term] = result.info
    tables["nbs_components"] = pd.concat(components, ignore_index=True)
    tables["nbs_edges"] = pd.concat(component_edges, ignore_index=True)
    mats = np.stack([edgewise.unvectorize(z, fill=np.nan) for z in Z])
    sgacc = (inputs.participant_parameters or {}).get("sgacc", SGACC_DEFAULT)
    tables["seed_maps"] = _seed_maps(mats, X, groups, terms, params, regions, _seeds(regions, sgacc))
    tables["connectome_regions"] = regions[["label", "index", "network", "limbic_role", "x", "y", "z"]].rename(
        columns={"x": "x_mm", "y": "y_mm", "z": "z_mm"})
    inputs.nbs_info = info
    return tables

