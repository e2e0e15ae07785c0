"""Plan, then run: turn the settings into a checked list of sessions before any workflow node exists.

The participant-level plan finds every run once (:func:`ketamine_fc.utils.bids.collect_runs`), checks each run's
inputs (:func:`ketamine_fc.utils.checks.check_run`: headers, grids, repetition time, confounds), verifies that
the atlas files can be found, and groups the good runs into sessions. It decides per run how it is read: a NIfTI
volume in MNI space, or (``--space fsLR``) a CIFTI-2 dense time series on fs_LR 91k grayordinates
(``RunInputs.kind == "cifti"``), with the midthickness surfaces that place its cortical vertices. A session with a bad run is left out
whole (its FC would otherwise rest on fewer runs without anyone noticing); every problem is one
:class:`~ketamine_fc.utils.bids.Problem`. The workflow factories only wire this plan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ketamine_fc.errors import InputError
from ketamine_fc.utils.bids import Problem, RunInputs, collect_runs, safe

LOGGER = logging.getLogger("ketamine_fc")


@dataclass
class SessionPlan:
    """The checked runs of one session, in run order, and the frames it needs to be included."""

    subject: str
    session: str | None
    runs: list
    min_frames: int

    @property
    def name(self) -> str:
        """Node-safe name within the participant (``ses_pre1``; ``nosession`` without sessions)."""
        return f"ses_{safe(self.session)}" if self.session else "nosession"

    @property
    def label(self) -> str:
        return f"sub-{self.subject}" + (f"_ses-{self.session}" if self.session else "")

    @property
    def entities(self) -> dict:
        out = {"subject": self.subject, "session": self.session, "task": self.runs[0].task}
        return {k: v for k, v in out.items() if v}


@dataclass
class ParticipantPlan:
    """Every session to process, and every problem found while planning."""

    sessions: list
    problems: list = field(default_factory=list)

    def participants(self) -> dict:
        """Participant label -> its sessions."""
        out: dict = {}
        for ses in self.sessions:
            out.setdefault(ses.subject, []).append(ses)
        return out

    @property
    def runs(self) -> list:
        return [run for ses in self.sessions for run in ses.runs]

    def locate(self, node_fullname: str):
        """``(subject, session, run)`` a Nipype node belongs to: ``run`` None for a node of a session, ``session``
        None for a node of the participant but of no session (its atlas, its report), all None for the others."""
        parts = node_fullname.split(".")
        for subject, sessions in self.participants().items():
            if f"sub_{safe(subject)}_wf" not in parts:
                continue
            for ses in sessions:
                for run in ses.runs:
                    if any(p.startswith(f"{run.name}_") for p in parts):
                        return subject, ses, run
                if any(p.startswith(f"{ses.name}_") for p in parts):
                    return subject, ses, None
            return subject, None, None
        return None, None, None


def _sort_key(run: RunInputs):
    return tuple(str(run.entities.get(k, "")) for k in ("session", "task", "acquisition", "run")) + (run.label,)


def check_template(settings) -> None:
    """Stop before anything runs when the BOLD template is not the atlases' and the mismatch was not accepted."""
    from ketamine_fc.config import ATLAS_TEMPLATE

    if settings.surface:  # fs_LR grayordinates: Gordon's own fs_LR parcels; the voxels are MNI152NLin6Asym
        return
    if settings.template != ATLAS_TEMPLATE and not settings.allow_template_mismatch:
        raise InputError(f"the BOLD is in {settings.template} but the atlases are defined in {ATLAS_TEMPLATE}, and no "
                         "transform between the two templates is applied: the regions would sit a few mm off. Rerun "
                         f"fMRIPrep with --output-spaces {ATLAS_TEMPLATE}:res-2 (and use --space {ATLAS_TEMPLATE}), "
                         "or pass --allow-template-mismatch to accept the offset (it is recorded in every sidecar "
                         "and the report)")
    if settings.template != ATLAS_TEMPLATE:
        LOGGER.warning("Using the %s atlases on %s BOLD without a transform (--allow-template-mismatch)",
                       ATLAS_TEMPLATE, settings.template)


def plan_participants(settings) -> ParticipantPlan:
    """Find and check every run of the selected participants; group the good ones into sessions.

    Raises
    ------
    InputError or AtlasError
        Only for problems that stop everything (no derivatives, atlas files that cannot be found).
    """
    from ketamine_fc.atlases.build import resolve_build_files
    from ketamine_fc.utils.checks import check_run

    check_template(settings)
    # every atlas file found (or downloaded) before anything runs
    resolve_build_files(settings.atlas.atlas_dir, surface=settings.surface, atlas=settings.atlas.atlas)
    collection = collect_runs(settings.fmriprep_dir, participant_label=settings.participant_label,
                              session_label=settings.session_label, task=settings.task, space=settings.template,
                              res=settings.res, den=settings.den)
    problems = list(collection.problems)
    bad = {(p.subject, p.session) for p in problems if p.run}
    good: dict = {}
    for run in sorted(collection.runs, key=_sort_key):
        try:
            check_run(run, settings.denoise, settings.atlas.atlas_dir)
        except InputError as err:
            problems.append(Problem(str(err), subject=run.subject, session=run.session, run=run.label))
            bad.add((run.subject, run.session))
            continue
        good.setdefault((run.subject, run.session), []).append(run)
    sessions = []
    for (subject, session), runs in sorted(good.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        if (subject, session) in bad:
            names = ", ".join(r.label for r in runs)
            problems.append(Problem(f"not processed, because another run of this session has a problem ({names})",
                                    subject=subject, session=session, kind="skipped"))
            continue
        sessions.append(SessionPlan(subject, session, runs, settings.inclusion.min_frames_for(runs[0].tr)))
    return ParticipantPlan(sessions, problems)
