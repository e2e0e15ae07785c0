"""The atlases' region tables, derived at run time from the registered upstream files.

These reproduce the derived tables of the shared atlas folder (``gordon333_parcels.tsv``,
``seitzman300_rois.tsv``, ``HarvardOxford-sub_labels.tsv``) from the upstream files alone, so only
upstream files need to be registered and downloaded.
"""

from __future__ import annotations

from functools import lru_cache

import nibabel as nb
import numpy as np
import pandas as pd

from ketamine_fc.atlases.descriptions import _builtin
from ketamine_fc.atlases.registry import resolve
from ketamine_fc.errors import AtlasError

_GORDON = _builtin()["gordon333"]
_SEITZMAN = _builtin()["seitzman300"]
#: XCP-D renamed two Gordon communities; the paper and methods.md use Gordon's names (atlas_descriptions.toml)
GORDON_NAMES = dict(_GORDON["table"]["network_names"])


def _candidates(presets: dict) -> dict:
    out: dict = {}
    for preset, parcels in presets.items():
        for parcel in parcels:
            out.setdefault(int(parcel), preset)
    return out


#: candidate sgACC parcels (methods.md 3.2): the paper's own list is not known
SGACC_CANDIDATES = _candidates(_GORDON["sgacc"])
SEITZMAN_ANATOMY = ("cortexMid", "cortexL", "cortexR", "hippocampus", "amygdala", "basalGanglia", "thalamus",
                    "cerebellum")
#: Seitzman ROI -> limbic role (methods.md 3.3); same strings as the shared ``seitzman300_rois.tsv``
LIMBIC_ROIS = {int(k): str(v) for k, v in _SEITZMAN["roles"]["limbic"].items()}
#: Harvard-Oxford subcortical label replacing each of the 8 limbic ROIs expanded to whole structures
#: (FSL order: 9/19 hippocampus, 10/20 amygdala, 11/21 accumbens, left first)
HO_STRUCTURE = {int(k): int(v) for k, v in _SEITZMAN["whole_structures"]["labels"].items()}
#: FSL HarvardOxford-Subcortical label names (index 1..21), spelled as in the shared labels table
#: (including FSL's own "Ventrical" typo for label 3)
HO_NAMES = tuple(_builtin()["harvard_oxford_sub"]["labels"])


@lru_cache(maxsize=8)
def _label_volume(path: str, mtime_ns: int):
    img = nb.load(path)
    data = np.asarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    labels = np.rint(data).astype(np.int32)
    labels.setflags(write=False)
    return labels, img.affine.copy()


def label_volume(key: str, atlas_dir=None):
    """(int32 labels, affine) of a registered label image, cached in memory per process (read-only)."""
    return label_volume_at(resolve(key, atlas_dir))


def label_volume_at(path):
    """(int32 labels, affine) of the label image at ``path``, cached in memory per process (read-only)."""
    from pathlib import Path

    path = Path(path)
    return _label_volume(str(path), path.stat().st_mtime_ns)


def _centroids(key, atlas_dir, index, prefix):
    from ketamine_fc.core.parcellation import count_voxels, region_centroids_mm

    labels, affine = label_volume(key, atlas_dir)
    cent = region_centroids_mm(labels, affine, index)
    out = {f"{prefix}_{a}": np.round(cent[:, d], 2) for d, a in enumerate("xyz")}
    return out, count_voxels(labels, index)


def gordon_table(atlas_dir=None, *, centroids=False) -> pd.DataFrame:
    """Gordon 333 parcels.

    Columns ``parcel_id, hemisphere, community`` (Gordon's names; ``None`` stays the string ``"None"``),
    ``sgacc_candidate`` (``core``/``extended``/empty), ``network_label_xcpd, label_xcpd``; with
    ``centroids=True`` also ``centroid_vol1mm_{x,y,z}`` and ``nvox_1mm`` from the 1 mm image.
    """
    path = resolve("gordon333_labels", atlas_dir)
    df = pd.read_csv(path, sep="\t", keep_default_na=False, dtype={"network_label": str, "label": str})
    first, last = _GORDON["table"]["expect_indices"]
    if set(df["index"].astype(int)) != set(range(first, last + 1)):
        raise AtlasError(f"the Gordon label table does not list parcels {first}-{last}", path=path)
    out = pd.DataFrame({
        "parcel_id": df["index"].astype(int),
        "hemisphere": df["label"].str[0],
        "community": df["network_label"].replace(GORDON_NAMES),
        "sgacc_candidate": df["index"].astype(int).map(SGACC_CANDIDATES).fillna("").astype(str),
        "network_label_xcpd": df["network_label"],
        "label_xcpd": df["label"],
    }).sort_values("parcel_id", ignore_index=True)
    if centroids:
        cols, n = _centroids("gordon333_1mm", atlas_dir, out["parcel_id"].to_numpy(), "centroid_vol1mm")
        out = out.assign(**cols, nvox_1mm=n)
    return out


def seitzman_table(atlas_dir=None) -> pd.DataFrame:
    """Seitzman 300 ROIs, final (2019) release.

    Columns ``roi`` (1-300, file order), ``x, y, z, radius_mm, network`` (typo ``VentralAttetion``
    corrected), ``network_raw, network_workbench_label, integrative_percent, anatomical_label, limbic_role``.
    """
    path = resolve("seitzman300_rois", atlas_dir)
    rois = pd.read_csv(path, sep=r"\s+", skip_blank_lines=True)
    if rois.shape[1] != 7:
        raise AtlasError(f"expected 7 columns (final Seitzman release), found {rois.shape[1]}", path=path)
    rois.columns = ["x", "y", "z", "radius_mm", "network_workbench_label", "network_raw", "integrative_percent"]
    anat_path = resolve("seitzman300_anatomy", atlas_dir)
    anatomy = [int(v) for v in anat_path.read_text().split()[1:]]
    if len(anatomy) != len(rois):
        raise AtlasError(f"{len(anatomy)} anatomical labels for {len(rois)} ROIs", path=anat_path)
    rois.insert(0, "roi", np.arange(1, len(rois) + 1))
    rois["network"] = rois["network_raw"].replace({"VentralAttetion": "VentralAttention"})
    rois["anatomical_label"] = [SEITZMAN_ANATOMY[a] for a in anatomy]
    rois["limbic_role"] = rois["roi"].map(LIMBIC_ROIS).fillna("").astype(str)
    return rois[["roi", "x", "y", "z", "radius_mm", "network", "network_raw", "network_workbench_label",
                 "integrative_percent", "anatomical_label", "limbic_role"]]


def harvard_oxford_labels(atlas_dir=None, *, counts=False) -> pd.DataFrame:
    """Harvard-Oxford subcortical labels: ``index`` (1-21, FSL order), ``name``; with ``counts=True``
    also ``nvox_1mm``, the voxel count of each label in the registered 1 mm maxprob-thr25 image."""
    out = pd.DataFrame({"index": np.arange(1, len(HO_NAMES) + 1), "name": list(HO_NAMES)})
    if counts:
        from ketamine_fc.core.parcellation import count_voxels

        labels, _ = label_volume("harvard_oxford_sub_1mm", atlas_dir)
        out["nvox_1mm"] = count_voxels(labels, out["index"].to_numpy())
    return out


#: readers of atlas releases in their own formats, named by a description's ``reader`` (atlas_descriptions.toml);
#: atlases with a label table (TSV with a header) need none
READERS = {"seitzman300": seitzman_table}
