"""The whole-connectome section of the group report: edge-wise FDR and NBS results in words, the components and
the seed maps on the brain, and their summary tables."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc.group.connectome import TERMS
from ketamine_fc.reports.connectome_figures import components_figure, seed_maps_figure, seed_surface_figure
from ketamine_fc.reports.html import esc, image, table
from ketamine_fc.reports.labels import region_name

LOGGER = logging.getLogger("ketamine_fc.group")
HEADING = "Whole-connectome statistics: edge-wise LME, FDR and the network-based statistic"
TERM_WORDS = {"time": "FC change after treatment (time)", "time:response": "FC change by response (time x response)"}
ALPHA = 0.05


def _coords(tables) -> np.ndarray:
    return tables["connectome_regions"][["x_mm", "y_mm", "z_mm"]].to_numpy(float)


def _term_sentence(term, edges, comps, params) -> str:
    n_fdr = int((edges["q"] < ALPHA).sum())
    tested = int(np.isfinite(edges["p"]).sum())
    own = comps[comps["term"] == term]
    sig = own[own["p_fwe"] < ALPHA]
    text = (f"{TERM_WORDS[term]}: {n_fdr} of {tested} edges at FDR q < {ALPHA:g}; NBS at |t| > "
            f"{params.nbs_threshold:g} with {params.nbs_permutations} permutations: ")
    if sig.empty:
        best = own["p_fwe"].min() if len(own) else np.nan
        return text + ("no component passes p_FWE < .05" + (f" (smallest p_FWE = {best:.3g})" if np.isfinite(best)
                                                             else "") + ".")
    parts = [f"component {int(r['component'])} ({r['sign']} t, {int(r['size'])} edges among {int(r['n_nodes'])} "
             f"regions, p_FWE = {r['p_fwe']:.3g})" for _, r in sig.iterrows()]
    return text + "; ".join(parts) + "."


def _component_panels(tables, term, slug):
    comps = tables["nbs_components"]
    edges = tables["nbs_edges"]
    t = tables[f"connectome_{slug}_edges"].set_index(["i", "j"])["t"]
    own = comps[(comps["term"] == term) & (comps["p_fwe"] < ALPHA)]
    panels = []
    for _, c in own.iterrows():
        e = edges[(edges["term"] == term) & (edges["component"] == c["component"])]
        values = t.reindex(list(zip(e["i"], e["j"]))).to_numpy(float)
        panels.append((f"{term}: component {int(c['component'])}, {int(c['size'])} edges, p_FWE = "
                       f"{c['p_fwe']:.3g}", e["i"].to_numpy(int), e["j"].to_numpy(int), values))
    return panels


def _seed_summary(seeds: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (seed, term), g in seeds.groupby(["seed", "term"], sort=False):
        best = g.loc[g["t"].abs().idxmax()] if np.isfinite(g["t"]).any() else None
        rows.append({"seed": region_name(seed), "term": term, "regions tested": int(np.isfinite(g["p"]).sum()),
                     f"regions q < {ALPHA:g}": int((g["q"] < ALPHA).sum()),
                     "strongest region": region_name(best["region"]) if best is not None else "n/a",
                     "its t": best["t"] if best is not None else np.nan,
                     "its q": best["q"] if best is not None else np.nan})
    return pd.DataFrame(rows)


def fslr_surfaces():
    """Gordon parcel per fs_LR 32k vertex and the S1200 midthickness meshes, from the atlas registry.

    Returns ``(labels, meshes)`` (``{"L": ..., "R": ...}`` each) or ``(None, reason)`` when the files cannot be
    found or read.
    """
    from ketamine_fc.atlases.registry import resolve
    from ketamine_fc.atlases.surface import surface_meshes
    from ketamine_fc.errors import KetamineFCError
    from ketamine_fc.utils.cifti_io import read_dlabel

    try:
        dlabel = read_dlabel(resolve("gordon333_fslr32k"))
        meshes = surface_meshes()
    except (KetamineFCError, OSError, ValueError) as err:
        return None, str(err)
    return {"L": dlabel.left, "R": dlabel.right}, meshes


def surface_values(labels: dict, region_labels, t) -> dict:
    """Each vertex's value: the ``t`` of its Gordon parcel (regions ``Gordon_<id>``), 0 off them or where NaN."""
    by_parcel = {}
    for label, value in zip(region_labels, np.asarray(t, dtype=float)):
        if str(label).startswith("Gordon_") and np.isfinite(value):
            by_parcel[int(str(label)[len("Gordon_"):])] = value
    out = {}
    for hemi, vertex_parcel in labels.items():
        lookup = np.zeros(int(max(vertex_parcel.max(), max(by_parcel, default=0))) + 1)
        lookup[list(by_parcel)] = list(by_parcel.values())
        out[hemi] = lookup[vertex_parcel]
    return out


def _sgacc_surface(seeds, folder, number):
    """The sgACC seed's maps of both terms on the fs_LR surface: the figure's HTML, or "" when not drawn."""
    own = seeds[seeds["seed"] == "sgACC"]
    if own.empty:
        return ""
    labels, meshes = fslr_surfaces()
    if labels is None:
        LOGGER.info("Seed maps on the fs_LR surface not drawn: %s", meshes)
        return ""
    panels = [(f"sgACC: {term}", surface_values(labels, g["region"], g["t"])) for term, g in
              own.groupby("term", sort=False)]
    try:
        png = seed_surface_figure(panels, meshes, folder, "fig_seeds_sgacc_fslr")
    except (ValueError, IndexError) as err:
        LOGGER.warning("Figure sgACC seed maps on the surface not drawn: %s", err)
        return ""
    return image(png.read_bytes(), "sgACC seed maps on the fs_LR surface", f"Figure {number}. The sgACC seed's "
                 "maps of both terms on the fs_LR 32k surface (HCP S1200 group-average midthickness): each Gordon "
                 "parcel coloured by the LME t of its FC with the seed (seed_maps.tsv), the seed's own parcels and "
                 "the subcortical regions not shown; colour scale symmetric around 0.")


def connectome_section(tables: dict, params, folder: Path, first_figure: int) -> tuple:
    """The HTML fragment of the section and the number of figures it holds (numbered from ``first_figure``)."""
    if "nbs_components" not in tables:
        return "", 0
    comps = tables["nbs_components"]
    coords = _coords(tables)
    parts = [f'<section id="connectome"><h2>{esc(HEADING)}</h2>',
             "<p>The network measures' model, FC ~ time + time x response + (1 | participant), fitted to the Fisher "
             "z of every region pair (deciding convention as for the primary outcomes); Benjamini-Hochberg FDR over "
             "the edges per term; the network-based statistic (Zalesky et al. 2010) with permutations that respect "
             "the repeated measures (time: each patient's sessions permuted, a sign flip of the change; time x "
             "response: response labels permuted between patients). Exploratory: not among the primary "
             "outcomes.</p><ul>"]
    for term, slug in TERMS.items():
        parts.append(f"<li>{esc(_term_sentence(term, tables[f'connectome_{slug}_edges'], comps, params))}</li>")
    parts.append("</ul>")
    number = first_figure
    for term, slug in TERMS.items():
        panels = _component_panels(tables, term, slug)
        if not panels:
            continue
        try:
            png = components_figure(panels, coords, folder, f"fig_nbs_{slug}")
        except (ValueError, IndexError) as err:
            LOGGER.warning("Figure NBS %s not drawn: %s", term, err)
            continue
        parts.append(image(png.read_bytes(), f"NBS {term}", f"Figure {number}. Components of the network-based "
                           f"statistic for {TERM_WORDS[term]} with p_FWE < {ALPHA:g}: edges coloured by their LME t "
                           "(scale symmetric around 0; blue: FC lower after treatment or in responders), regions at "
                           "their centroids."))
        number += 1
    seeds = tables.get("seed_maps")
    if seeds is not None and len(seeds):
        for term in TERMS:
            own = seeds[seeds["term"] == term]
            panels = [(f"{region_name(seed)}: {term}", g["t"].to_numpy(float), (g["q"] < ALPHA).to_numpy())
                      for seed, g in own.groupby("seed", sort=False) if seed == "sgACC" or (g["q"] < ALPHA).any()]
            try:
                png = seed_maps_figure(panels, coords, folder, f"fig_seeds_{TERMS[term]}")
            except (ValueError, IndexError) as err:
                LOGGER.warning("Figure seed maps %s not drawn: %s", term, err)
                continue
            n_obs = int(own["n_obs"].max())
            parts.append(image(png.read_bytes(), f"seed maps {term}", f"Figure {number}. Seed maps of "
                               f"{TERM_WORDS[term]} (the sgACC seed and every seed with a region at q < {ALPHA:g}; "
                               f"seed_maps.tsv has all): the LME t of each region's FC with the seed ({n_obs} sessions), "
                               f"regions with q < {ALPHA:g} (FDR within the seed) drawn larger; colour scale "
                               "symmetric around 0."))
            number += 1
        surface = _sgacc_surface(seeds, folder, number)
        if surface:
            parts.append(surface)
            number += 1
        parts += ["<h3>Seed maps, summary (seed_maps.tsv)</h3>", table(_seed_summary(seeds), digits=3)]
    shown = comps[comps["p_fwe"] < 1].drop(columns=["nodes"]) if len(comps) else comps
    parts += ["<h3>NBS components with p_FWE below 1 (nbs_components.tsv, which lists all)</h3>",
              table(shown, digits=3), "</section>"]
    return "\n".join(parts), number - first_figure
