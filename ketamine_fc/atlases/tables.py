"""The atlases' region tables, read from the registered upstream files."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketamine_fc.atlases.registry import resolve

#: XCP-D renamed two Gordon communities; the paper and methods.md use Gordon's names
GORDON_NAMES = {"ParietoOccip": "RetrosplenialTemporal", "MedialParietal": "CinguloParietal"}
SEITZMAN_ANATOMY = ("cortexMid", "cortexL", "cortexR", "hippocampus", "amygdala", "basalGanglia", "thalamus",
                    "cerebellum")
#: Seitzman ROI -> limbic role (methods.md section 3.3); the first eight become whole structures
LIMBIC_ROIS = {244: "amygdala", 245: "amygdala", 236: "anterior_hippocampus", 237: "anterior_hippocampus",
               238: "posterior_hippocampus", 239: "posterior_hippocampus", 247: "accumbens", 246: "accumbens",
               263: "thalamus", 262: "thalamus"}
#: Harvard-Oxford subcortical label of each whole-structure limbic ROI (FSL order: 9/19 hippocampus,
#: 10/20 amygdala, 11/21 accumbens; left first)
HO_STRUCTURE = {244: 10, 245: 20, 247: 11, 246: 21, 236: 9, 238: 9, 237: 19, 239: 19}


def gordon_table(atlas_dir=None) -> pd.DataFrame:
    """Gordon 333: ``parcel_id, hemisphere, community`` (community ``None`` kept as a string)."""
    df = pd.read_csv(resolve("gordon333_labels", atlas_dir), sep="\t", keep_default_na=False)
    return pd.DataFrame({
        "parcel_id": df["index"].astype(int),
        "hemisphere": df["label"].str[0],
        "community": df["network_label"].replace(GORDON_NAMES),
    })


def seitzman_table(atlas_dir=None) -> pd.DataFrame:
    """Seitzman 300 (final release): ``roi, x, y, z, radius, network, anatomy, limbic_role``."""
    rois = pd.read_csv(resolve("seitzman300_rois", atlas_dir), sep=r"\s+", skip_blank_lines=True)
    rois.columns = ["x", "y", "z", "radius", "workbench_label", "network", "integrative_percent"]
    text = resolve("seitzman300_anatomy", atlas_dir).read_text().split()
    anatomy = np.array([int(v) for v in text[1:]])
    if len(anatomy) != len(rois):
        raise ValueError(f"Seitzman tables disagree: {len(rois)} ROIs, {len(anatomy)} anatomical labels")
    rois.insert(0, "roi", np.arange(1, len(rois) + 1))
    rois["network"] = rois["network"].replace({"VentralAttetion": "VentralAttention"})
    rois["anatomy"] = [SEITZMAN_ANATOMY[a] for a in anatomy]
    rois["limbic_role"] = rois["roi"].map(LIMBIC_ROIS).fillna("")
    return rois
