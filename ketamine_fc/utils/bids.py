"""Find the participant-level inputs in fMRIPrep derivatives once, with pybids.

The layout is indexed a single time. Each preprocessed BOLD run becomes a :class:`RunInputs` naming its files;
its companions (brain mask, confounds) are found by fMRIPrep's naming rules from the BOLD's own name, so
runs that differ by any BIDS entity (``acq``, ``rec``, ``dir``, ``echo``, ...) never borrow each other's files.
Problems visible from names alone (a missing participant, a missing mask or confounds file, a run present at
several resolutions) are returned as :class:`Problem` records; the checks that read headers and tables are in
:mod:`ketamine_fc.utils.checks`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ketamine_fc.errors import InputError

LOGGER = logging.getLogger("ketamine_fc.bids")

#: BIDS entities as written in file names -> pybids names, in BIDS order
SHORT = {"sub": "subject", "ses": "session", "task": "task", "acq": "acquisition", "ce": "ceagent",
         "rec": "reconstruction", "dir": "direction", "run": "run", "echo": "echo", "part": "part",
         "space": "space", "cohort": "cohort", "res": "res", "den": "den", "desc": "desc"}
#: the entities that name a run (the spatial ones and ``desc`` do not)
RUN_ENTITIES = ("subject", "session", "task", "acquisition", "ceagent", "reconstruction", "direction", "run",
                "echo", "part")
LONG = {v: k for k, v in SHORT.items()}


def parse_name(name: str) -> tuple[dict, str]:
    """Entities (pybids names, values as written) and suffix of a BIDS file name."""
    stem = re.sub(r"(\.[A-Za-z0-9]+)+$", "", Path(name).name)
    parts = stem.split("_")
    entities = {}
    for part in parts[:-1]:
        key, sep, value = part.partition("-")
        if sep and key in SHORT:
            entities[SHORT[key]] = value
    return entities, parts[-1]


def run_label(entities: dict) -> str:
    """The BIDS name of a run from its entities: ``sub-01_ses-pre1_task-rest_run-1``."""
    return "_".join(f"{LONG[k]}-{v}" for k, v in entities.items())


def safe(label) -> str:
    """A label usable in a Nipype node name."""
    return "".join(c if c.isalnum() else "_" for c in str(label))


@dataclass
class RunInputs:
    """Files and metadata of one preprocessed BOLD run."""

    entities: dict  # RUN_ENTITIES present in the BOLD name, values as written
    bold: str
    mask: str
    confounds: str
    tr: float = 0.0
    n_frames: int = 0
    space: str = ""
    res: str | None = None
    grid: tuple = ()
    kind: str = "volume"  # "cifti": ``bold`` is a CIFTI-2 dtseries on grayordinates and there is no ``mask``
    den: str | None = None  # the grayordinate density of a CIFTI run (``91k``)
    surfaces: dict = field(default_factory=dict)  # "L"/"R" -> the participant's fs_LR 32k midthickness (CIFTI)
    surface_note: str = ""  # why the participant's surfaces were not used, when they were found

    @property
    def cifti(self) -> bool:
        return self.kind == "cifti"

    @property
    def spatial(self) -> dict:
        """The spatial entities of this run's outputs: ``{"space": ...}``, plus ``den`` for grayordinates."""
        return {k: v for k, v in (("space", self.space), ("den", self.den)) if v}

    @property
    def subject(self) -> str:
        return self.entities["subject"]

    @property
    def session(self) -> str | None:
        return self.entities.get("session")

    @property
    def task(self) -> str:
        return self.entities.get("task", "")

    @property
    def run(self) -> str | None:
        return self.entities.get("run")

    @property
    def label(self) -> str:
        """``sub-01_ses-pre1_task-rest_acq-hi_run-1``: the run's name in messages and outputs."""
        return run_label(self.entities)

    @property
    def short_label(self) -> str:
        """The run within its session: ``acq-hi_run-1`` (``task-rest`` when nothing else names it)."""
        rest = [f"{LONG[k]}-{v}" for k, v in self.entities.items() if k not in ("subject", "session", "task")]
        return "_".join(rest) or f"task-{self.task}"

    @property
    def name(self) -> str:
        """Node-safe name within its participant: ``ses_pre1_acq_hi_run_1`` (task left out)."""
        parts = [f"{LONG[k]}_{safe(v)}" for k, v in self.entities.items() if k not in ("subject", "task")]
        return "_".join(parts) or "run"


@dataclass
class Problem:
    """Something that stops one run, session or participant; reported as one line."""

    message: str
    subject: str | None = None
    session: str | None = None
    run: str | None = None  # the run's label
    kind: str = "error"

    def line(self) -> str:
        where = self.run or " ".join(p for p in (f"sub-{self.subject}" if self.subject else None,
                                                 f"ses-{self.session}" if self.session else None) if p)
        return f"{where}: {self.message}" if where else self.message


@dataclass
class Collection:
    """Every run found, plus the problems seen from names alone."""

    runs: list
    problems: list


def _strip(label: str, prefix: str) -> str:
    return label[len(prefix):] if label.startswith(prefix) else label


def index_derivatives(fmriprep_dir):
    """Index an fMRIPrep derivatives folder with pybids (no validation: derivatives are not raw BIDS)."""
    from bids import BIDSLayout

    fmriprep_dir = Path(fmriprep_dir)
    if not (fmriprep_dir / "dataset_description.json").exists():
        raise InputError("no fMRIPrep derivatives here (dataset_description.json missing); give their location "
                         "with --derivatives fmriprep=PATH", path=fmriprep_dir)
    try:
        return BIDSLayout(str(fmriprep_dir), validate=False, config=["bids", "derivatives"])
    except Exception as err:  # pybids raises its own errors for a malformed dataset_description.json
        raise InputError(f"pybids cannot index these derivatives ({type(err).__name__}: {err})",
                         path=fmriprep_dir) from None


def collect_runs(fmriprep_dir, *, participant_label=(), session_label=(), task="rest",
                 space="MNI152NLin6Asym", res=None, den=None, layout=None) -> Collection:
    """Find every preprocessed BOLD run of ``task`` in ``space`` with its mask and confounds.

    Parameters
    ----------
    participant_label, session_label : sequence of str
        Labels with or without the ``sub-``/``ses-`` prefix; empty means all.
    res : str, optional
        fMRIPrep ``res-`` value (for example ``2``). Without it a run present at several resolutions is refused.
    den : str, optional
        A grayordinate density (``91k``): the runs are then CIFTI-2 dense time series
        (``*_space-<space>_den-<den>_bold.dtseries.nii``, see :func:`collect_cifti_runs`).
    """
    if den is not None:
        return collect_cifti_runs(fmriprep_dir, participant_label=participant_label, session_label=session_label,
                                  task=task, space=space, den=den, layout=layout)
    layout = layout or index_derivatives(fmriprep_dir)
    present, problems = _wanted_subjects(layout, participant_label, fmriprep_dir)
    sessions = list(dict.fromkeys(_strip(s, "ses-") for s in session_label))
    runs = []
    for lab in present:
        query = dict(subject=lab, task=task, datatype="func", extension=[".nii.gz", ".nii"])
        if sessions:
            query["session"] = sessions
        bolds = [b.path for b in layout.get(suffix="bold", desc="preproc", space=space, **query)]
        if not bolds:
            found = sorted({b.entities.get("space", "none") for b in layout.get(suffix="bold", desc="preproc", **query)})
            problems.append(Problem(f"sub-{lab} has no preprocessed '{task}' BOLD in space {space}"
                                    + (f" (spaces found: {', '.join(found)})" if found else ""), subject=lab))
            continue
        found_runs, found_problems = _runs_of(bolds, space, res)
        runs += found_runs
        problems += found_problems
    return Collection(runs, problems)


def _runs_of(bolds, space, res):
    """RunInputs for one participant's BOLD files; a run at several resolutions is refused unless ``res`` picks."""
    by_key: dict = {}
    for path in sorted(bolds):
        entities, _ = parse_name(path)
        run_entities = {k: entities[k] for k in RUN_ENTITIES if k in entities}
        by_key.setdefault(tuple(sorted(run_entities.items())), []).append((path, entities, run_entities))
    runs, problems = [], []
    for versions in by_key.values():
        run_entities = versions[0][2]
        label = run_label(run_entities)
        if res is not None:
            found = sorted({e.get("res", "none") for _, e, _ in versions})
            versions = [v for v in versions if v[1].get("res") == str(res)]
            if not versions:
                problems.append(Problem(f"no BOLD at res-{res} in space {space} (resolutions found: "
                                        f"{', '.join(found)}); pick one of them with --space {space}:res-N",
                                        subject=run_entities["subject"], session=run_entities.get("session"),
                                        run=label))
                continue
        if len(versions) > 1:
            variants = ", ".join(sorted({"_".join(f"{LONG[k]}-{e[k]}" for k in ("res", "den", "cohort") if k in e)
                                         or Path(p).name for p, e, _ in versions}))
            res_values = sorted({e["res"] for _, e, _ in versions if "res" in e})
            fix = (f"choose one with --space {space}:res-{res_values[-1]}" if res_values else
                   "remove the extra copies")
            problems.append(Problem(f"the BOLD exists in {len(versions)} versions in space {space} ({variants}); "
                                    f"{fix}", subject=run_entities["subject"], session=run_entities.get("session"),
                                    run=label))
            continue
        path, entities, run_entities = versions[0]
        try:
            runs.append(_run_inputs(Path(path), entities, run_entities))
        except InputError as err:
            problems.append(Problem(str(err), subject=run_entities["subject"], session=run_entities.get("session"),
                                    run=label))
    return runs, problems


def companion(bold: Path, replacement: str) -> Path:
    """A file named like ``bold`` with ``desc-preproc_bold.nii[.gz]`` replaced."""
    return bold.with_name(re.sub(r"_desc-preproc_bold\.nii(\.gz)?$", replacement, bold.name))


def _existing(*candidates):
    return next((c for c in candidates if c.is_file()), None)


def _run_inputs(bold: Path, entities: dict, run_entities: dict) -> RunInputs:
    gz = ".nii.gz" if bold.name.endswith(".gz") else ".nii"
    other = ".nii" if gz == ".nii.gz" else ".nii.gz"
    mask = _existing(companion(bold, f"_desc-brain_mask{gz}"), companion(bold, f"_desc-brain_mask{other}"))
    if mask is None:
        raise InputError(f"no brain mask beside this BOLD run (expected {companion(bold, '_desc-brain_mask' + gz).name})",
                         path=bold)
    stem = bold.name.split("_space-")[0]
    confounds = _existing(bold.with_name(f"{stem}_desc-confounds_timeseries.tsv"),
                          bold.with_name(f"{stem}_desc-confounds_regressors.tsv"))
    if confounds is None:
        raise InputError(f"the confounds file is missing (expected {stem}_desc-confounds_timeseries.tsv in the same "
                         "folder)", path=bold)
    return RunInputs(entities=run_entities, bold=str(bold), mask=str(mask), confounds=str(confounds),
                     space=entities.get("space", ""),
                     res=entities.get("res"))


# ---------------------------------------------------------------------------------------------- CIFTI runs

CONFOUNDS_SUFFIXES = ("_desc-confounds_timeseries.tsv", "_desc-confounds_regressors.tsv")


def _wanted_subjects(layout, participant_label, fmriprep_dir):
    subjects = layout.get_subjects()
    wanted = list(dict.fromkeys(_strip(p, "sub-") for p in participant_label)) or sorted(subjects)
    problems = []
    for lab in wanted:
        if lab not in subjects:
            shown = ", ".join("sub-" + s for s in sorted(subjects)[:10]) or "none"
            problems.append(Problem(f"participant sub-{lab} does not exist in {fmriprep_dir} (found: {shown})",
                                    subject=lab))
    return [w for w in wanted if w in subjects], problems


def _by_run(paths) -> dict:
    out: dict = {}
    for path in sorted(paths):
        entities, _ = parse_name(path)
        key = tuple((k, entities[k]) for k in RUN_ENTITIES if k in entities)
        out.setdefault(key, []).append(path)
    return out


def collect_cifti_runs(fmriprep_dir, *, participant_label=(), session_label=(), task="rest", space="fsLR",
                       den="91k", layout=None) -> Collection:
    """Every run of ``task`` as a CIFTI-2 dense time series ``*_space-<space>_den-<den>_bold.dtseries.nii``.

    A run is known by its confounds file (fMRIPrep writes one for every run); a run whose dtseries is missing is
    a :class:`Problem` naming the file expected. The participant's fs_LR 32k midthickness surfaces
    (``sub-*_hemi-{L,R}_space-fsLR_den-32k_midthickness.surf.gii``, the session's when it has its own) are
    recorded in ``RunInputs.surfaces``; none means the group-average surfaces.
    """
    layout = layout or index_derivatives(fmriprep_dir)
    wanted, problems = _wanted_subjects(layout, participant_label, fmriprep_dir)
    sessions = list(dict.fromkeys(_strip(s, "ses-") for s in session_label))
    runs = []
    for lab in wanted:
        query = dict(subject=lab, task=task, datatype="func")
        if sessions:
            query["session"] = sessions
        dtseries = _by_run(f.path for f in layout.get(suffix="bold", space=space, den=den,
                                                       extension=".dtseries.nii", **query))
        confounds = _by_run(f.path for f in layout.get(suffix=["timeseries", "regressors"], desc="confounds",
                                                        extension=".tsv", **query))
        if not dtseries and not confounds:
            problems.append(Problem(f"sub-{lab} has no '{task}' runs (no confounds file and no "
                                    f"space-{space}_den-{den} dense time series)", subject=lab))
            continue
        surfaces = _surfaces_of(layout, lab)
        for key in sorted(set(dtseries) | set(confounds)):
            run_entities = dict(key)
            where = dict(subject=lab, session=run_entities.get("session"), run=run_label(run_entities))
            try:
                runs.append(_cifti_run(dtseries.get(key, []), confounds.get(key, []), run_entities, space, den,
                                       surfaces))
            except InputError as err:
                problems.append(Problem(str(err), **where))
    return Collection(runs, problems)


def _cifti_run(dtseries, confounds, run_entities, space, den, surfaces) -> RunInputs:
    label = run_label(run_entities)
    if not dtseries:
        conf = Path(confounds[0])
        expected = conf.with_name(f"{label}_space-{space}_den-{den}_bold.dtseries.nii")
        raise InputError(f"this run has no CIFTI dense time series in space {space} (den-{den}): expected {expected.name} "
                         f"beside its confounds; run fMRIPrep with --cifti-output {den}, or process this dataset "
                         "with a volume --space", path=expected)
    if len(dtseries) > 1:
        raise InputError(f"the run has {len(dtseries)} dense time series in space-{space}_den-{den} "
                         f"({', '.join(Path(p).name for p in dtseries)}); remove the extra copies", path=dtseries[0])
    bold = Path(dtseries[0])
    stem = bold.name.split("_space-")[0]
    conf = _existing(*(bold.with_name(stem + suffix) for suffix in CONFOUNDS_SUFFIXES))
    if conf is None:
        raise InputError(f"the confounds file is missing (expected {stem}_desc-confounds_timeseries.tsv in the same "
                         "folder)", path=bold)
    session = run_entities.get("session")
    own = surfaces.get(session) or surfaces.get(None) or {}
    if isinstance(own, str):  # an ambiguity found while looking for the surfaces
        raise InputError(own)
    return RunInputs(entities=run_entities, bold=str(bold), mask="", confounds=str(conf), space=space,
                     kind="cifti", den=den, surfaces=dict(own))


def _surfaces_of(layout, subject) -> dict:
    """Session (None: the participant's anat) -> ``{"L": path, "R": path}``, or a sentence when ambiguous."""
    found: dict = {}
    for f in layout.get(subject=subject, suffix="midthickness", space="fsLR", den="32k", extension=".surf.gii"):
        hemi = f.entities.get("hemi")
        if hemi in ("L", "R"):
            found.setdefault(f.entities.get("session"), {}).setdefault(hemi, []).append(f.path)
    out: dict = {}
    for session, hemis in found.items():
        several = {h: p for h, p in hemis.items() if len(p) > 1}
        if several:
            h, paths = next(iter(several.items()))
            out[session] = (f"sub-{subject} has {len(paths)} fs_LR 32k midthickness surfaces of hemisphere {h} "
                            f"({', '.join(Path(p).name for p in sorted(paths))}); keep one")
        elif set(hemis) == {"L", "R"}:
            out[session] = {h: p[0] for h, p in hemis.items()}
        else:
            LOGGER.warning("sub-%s: only the %s fs_LR midthickness surface was found; the group-average surfaces "
                           "are used for both hemispheres", subject, next(iter(hemis)))
    return out
