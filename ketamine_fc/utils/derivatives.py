"""Write BIDS-derivative files atomically, each with a JSON sidecar recording how it was made."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc import __version__

PIPELINE_NAME = "ketamine-fc"
CODE_URL = "https://github.com/ketamine-fc/ketamine-fc"
#: the ``seg-`` (outputs) and ``atlas-`` (atlas files) label of the combined Gordon-Seitzman atlas
SEG = "GordonSeitzman"


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, os.PathLike)):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_json(data: dict, path) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")
    return path


def generated_by() -> dict:
    """The ``GeneratedBy`` entry shared by the dataset description and every sidecar."""
    return {"Name": PIPELINE_NAME, "Version": __version__, "CodeURL": CODE_URL}


def sidecar(description: str, parameters: dict | None = None, sources=None, **extra) -> dict:
    """Build a sidecar dict: what the file is, the parameters and the software that made it."""
    out = {"Description": description}
    out.update(extra)
    if sources:
        out["Sources"] = [str(s) for s in sources]
    if parameters is not None:
        out["Parameters"] = parameters
    out["GeneratedBy"] = [generated_by()]
    return out


def write_tsv(df: pd.DataFrame, path, meta: dict | None = None, index: bool = False) -> Path:
    """Write ``df`` as a BIDS TSV (missing values as ``n/a``) plus ``meta`` as its JSON sidecar.

    Both files are written atomically: a failure leaves any earlier version untouched.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=index, na_rep="n/a", float_format="%.10g")
    if meta is not None:
        write_json(meta, sidecar_path(path))
    return path


def sidecar_path(path) -> Path:
    """``x.tsv`` / ``x.nii.gz`` -> ``x.json``."""
    path = Path(path)
    name = path.name
    for ext in (".nii.gz", ".tsv.gz", ".tsv", ".nii", ".html", ".svg", ".png"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + ".json")
    return path.with_suffix(".json")


def read_tsv(path) -> pd.DataFrame:
    """Read a BIDS TSV, treating ``n/a`` as missing and keeping strings such as ``None`` as text."""
    return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)


def write_dataset_description(output_dir, name="ketamine-fc derivatives", source_datasets=None) -> Path:
    """Write ``dataset_description.json`` for a derivatives folder (BIDS 1.9, DatasetType derivative)."""
    desc = {
        "Name": name,
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [generated_by()],
    }
    if source_datasets:
        desc["SourceDatasets"] = [{"URL": str(s)} for s in source_datasets]
    return write_json(desc, Path(output_dir) / "dataset_description.json")


ENTITY_ORDER = ("subject", "session", "task", "acquisition", "ceagent", "reconstruction", "direction", "run",
                "echo", "part", "space", "cohort", "res", "den", "segmentation", "stat", "desc")
ENTITY_KEYS = {"subject": "sub", "session": "ses", "acquisition": "acq", "ceagent": "ce", "reconstruction": "rec",
               "direction": "dir", "segmentation": "seg"}


def bids_path(output_dir, entities: dict, suffix: str, extension: str) -> Path:
    """``OUTPUT_DIR/sub-X[/ses-Y]/func/sub-X[_ses-Y]_..._<suffix><extension>`` in BIDS entity order."""
    unknown = set(entities) - set(ENTITY_ORDER)
    if unknown:
        raise ValueError(f"unknown BIDS entities {sorted(unknown)}")
    parts = [f"{ENTITY_KEYS.get(k, k)}-{entities[k]}" for k in ENTITY_ORDER if entities.get(k) not in (None, "")]
    folder = Path(output_dir) / f"sub-{entities['subject']}"
    if entities.get("session"):
        folder = folder / f"ses-{entities['session']}"
    return folder / "func" / ("_".join(parts + [suffix]) + extension)
