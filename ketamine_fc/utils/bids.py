"""Collect the participant-level inputs from fMRIPrep derivatives once, with pybids.

The layout is indexed a single time; the result is a plain list of :class:`RunInputs` that the workflow
factories receive. Problems that can be seen without reading image data (a missing confounds file, a
confounds table whose length differs from the BOLD's, a participant that does not exist) are found here,
so that a bad run is reported in one sentence and the other participants still run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nb

from ketamine_fc.errors import InputError

LOGGER = logging.getLogger("ketamine_fc.bids")


@dataclass
class RunInputs:
    """Files and metadata of one preprocessed BOLD run."""

    subject: str
    session: str | None
    task: str
    run: str | None
    bold: str
    mask: str
    confounds: str
    boldref: str | None
    tr: float
    n_frames: int
    space: str
    res: str | None = None
    grid: tuple = ()
    extra: dict = field(default_factory=dict)

    @property
    def entities(self) -> dict:
        ent = {"subject": self.subject, "session": self.session, "task": self.task, "run": self.run}
        return {k: v for k, v in ent.items() if v is not None}

    @property
    def key(self) -> str:
        return "_".join(f"{k[:3] if k != 'subject' else 'sub'}-{v}" for k, v in self.entities.items())


@dataclass
class Collection:
    """Every usable run, grouped by participant and session, plus the problems found."""

    runs: list
    problems: list  # (participant, session or None, message)

    def sessions(self) -> dict:
        out: dict = {}
        for run in self.runs:
            out.setdefault(run.subject, {}).setdefault(run.session, []).append(run)
        return out


def _strip(label: str, prefix: str) -> str:
    return label[len(prefix):] if label.startswith(prefix) else label


def index_derivatives(fmriprep_dir):
    """Index an fMRIPrep derivatives folder with pybids (no validation: derivatives are not raw BIDS)."""
    from bids import BIDSLayout

    fmriprep_dir = Path(fmriprep_dir)
    if not (fmriprep_dir / "dataset_description.json").exists():
        raise InputError(
            "no fMRIPrep derivatives here (dataset_description.json missing); "
            "give their location with --derivatives fmriprep=PATH",
            path=fmriprep_dir,
        )
    return BIDSLayout(str(fmriprep_dir), validate=False, config=["bids", "derivatives"])


def collect_runs(fmriprep_dir, *, participant_label=(), session_label=(), task="rest",
                 space="MNI152NLin6Asym", res=None, layout=None) -> Collection:
    """Find every preprocessed BOLD run of ``task`` in ``space`` with its mask and confounds.

    Parameters
    ----------
    participant_label, session_label : sequence of str
        Labels with or without the ``sub-``/``ses-`` prefix; empty means all.
    res : str, optional
        fMRIPrep ``res-`` entity value (for example ``2``); ``None`` accepts any single resolution.
    """
    layout = layout or index_derivatives(fmriprep_dir)
    subjects = layout.get_subjects()
    wanted = [_strip(p, "sub-") for p in participant_label] or sorted(subjects)
    problems = []
    for label in wanted:
        if label not in subjects:
            problems.append((label, None, f"participant sub-{label} does not exist in {fmriprep_dir} "
                                          f"(found: {', '.join('sub-' + s for s in sorted(subjects)[:10]) or 'none'})"))
    sessions = [_strip(s, "ses-") for s in session_label]
    runs = []
    for label in (w for w in wanted if w in subjects):
        query = dict(subject=label, task=task, datatype="func", extension=[".nii.gz", ".nii"])
        if sessions:
            query["session"] = sessions
        bolds = layout.get(suffix="bold", desc="preproc", space=space, **query)
        if res is not None:
            bolds = [b for b in bolds if str(b.entities.get("res", "")) == str(res)]
        if not bolds:
            found = sorted({b.entities.get("space", "none") for b in layout.get(suffix="bold", desc="preproc", **query)})
            problems.append((label, None, f"sub-{label} has no preprocessed '{task}' BOLD in space {space}"
                                          + (f" (spaces found: {', '.join(found)})" if found else "")))
            continue
        for bold in bolds:
            try:
                runs.append(_run_inputs(layout, bold))
            except InputError as err:
                problems.append((label, bold.entities.get("session"), str(err)))
    return Collection(runs, problems)


def _one(layout, entities, **query):
    """The first file sharing the run's entities that matches ``query`` (None if absent)."""
    ent = {k: v for k, v in entities.items() if k in ("subject", "session", "task", "run", "acquisition",
                                                      "echo", "direction", "reconstruction")}
    hits = layout.get(**ent, **query)
    if not hits:
        return None
    return hits[0]


def _run_inputs(layout, bold) -> RunInputs:
    ent = bold.entities
    path = Path(bold.path)
    spatial = {"space": ent.get("space")}
    if "res" in ent:
        spatial["res"] = ent["res"]
    mask = _one(layout, ent, suffix="mask", desc="brain", extension=[".nii.gz", ".nii"], **spatial)
    if mask is None:
        raise InputError("no brain mask (desc-brain_mask) found beside this BOLD run", path=path)
    conf = _one(layout, ent, desc="confounds", suffix=["timeseries", "regressors"],
                extension=".tsv", space=None)
    if conf is None:
        stem = path.name.split("_space-")[0]
        raise InputError(f"the confounds file is missing (expected {stem}_desc-confounds_timeseries.tsv "
                         "in the same folder)", path=path)
    boldref = _one(layout, ent, suffix="boldref", extension=[".nii.gz", ".nii"], **spatial)
    tr = _repetition_time(bold)
    img = nb.load(path)
    if img.ndim != 4:
        raise InputError(f"the BOLD image is not 4-D (shape {img.shape})", path=path)
    n_frames = int(img.shape[3])
    n_rows = _count_rows(conf.path)
    if n_rows != n_frames:
        raise InputError(f"the confounds file has {n_rows} rows but the BOLD series has {n_frames} frames",
                         path=conf.path)
    return RunInputs(
        subject=ent["subject"], session=ent.get("session"), task=ent["task"], run=_run_label(ent.get("run")),
        bold=str(path), mask=mask.path, confounds=conf.path, boldref=boldref.path if boldref else None,
        tr=tr, n_frames=n_frames, space=ent.get("space"), res=str(ent["res"]) if "res" in ent else None,
        grid=grid_signature(img),
    )


def grid_signature(img) -> tuple:
    """Shape and affine (rounded to 0.01 mm) of an image's voxel grid: runs sharing it share one atlas."""
    import numpy as np

    return tuple(int(n) for n in img.shape[:3]) + tuple(np.round(img.affine[:3].ravel(), 2).tolist())


def _run_label(run):
    if run is None:
        return None
    return str(run) if not hasattr(run, "real") else f"{int(run)}"


def _repetition_time(bold) -> float:
    meta = bold.get_metadata()
    tr = meta.get("RepetitionTime")
    if tr is None:
        sidecar = Path(str(bold.path).replace(".nii.gz", ".json").replace(".nii", ".json"))
        if sidecar.exists():
            tr = json.loads(sidecar.read_text()).get("RepetitionTime")
    if tr is None:
        zooms = nb.load(bold.path).header.get_zooms()
        tr = zooms[3] if len(zooms) > 3 and zooms[3] > 0 else None
    if tr is None or not float(tr) > 0:
        raise InputError("RepetitionTime is missing from the JSON sidecar and the NIfTI header", path=bold.path)
    return float(tr)


def _count_rows(path) -> int:
    with open(path, "rb") as fobj:
        lines = [ln for ln in fobj.read().splitlines() if ln.strip()]
    return max(len(lines) - 1, 0)
