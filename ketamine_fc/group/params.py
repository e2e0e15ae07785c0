"""Group-level options with their defaults (methods.md section 1), recorded in every group sidecar."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ketamine_fc.errors import InputError

MEASURES = ("dmn", "sgacc_dmn", "limbic", "visual")
TIMEPOINTS = ("baseline", "day1", "week2", "week4", "week6", "week8")
CHOICES = {"cohens_d": ("dz", "av", "pooled"), "lme_df": ("residual", "satterthwaite"), "lme_fit": ("ml", "reml")}


@dataclass(frozen=True)
class GroupParams:
    """How participants, sessions and timepoints map onto the paper's analyses.

    Attributes
    ----------
    patient_group, control_group : str
        ``participants.tsv`` ``group`` labels (``--patient-group``, ``--control-group``).
    baseline_timepoint, response_timepoint : str
        MADRS timepoints: the baseline, and where response (>= ``response_threshold`` drop) defines the
        responder groups of the LME and the CGI-I primary outcome.
    timepoints : tuple of str
        Reporting order; labels found in the data but not listed are appended in order of appearance.
    pre_sessions, post_sessions : tuple of str or None
        Session labels (with or without ``ses-``) counted as pre / post; None = labels starting with
        ``pre`` / ``post``.
    cohens_d : {"dz", "av", "pooled"}
        Effect size of the MADRS change (the paper's values are d_z).
    lme_df : {"residual", "satterthwaite"}
        LME degrees of freedom (residual = n_obs - 3, the paper's 37 for 40 observations).
    lme_fit : {"ml", "reml"}
        LME fit (ML is MATLAB fitlme's default).
    measures : tuple of str or None
        FC columns analysed; None = dmn, sgacc_dmn, limbic, visual plus any further numeric column.
    alpha, n_primary : float, int
        Family-wise alpha and the number of primary outcomes (Bonferroni threshold alpha / n_primary).
    response_threshold, remission_cutoff : float
        Response = reduction >= threshold (inclusive); remission = MADRS < cutoff.
    limbic_edge_threshold_p : float
        The limbic change matrix figure shows t where p < this value.
    """

    patient_group: str = "patient"
    control_group: str = "control"
    baseline_timepoint: str = "baseline"
    response_timepoint: str = "week2"
    timepoints: tuple = TIMEPOINTS
    pre_sessions: tuple | None = None
    post_sessions: tuple | None = None
    cohens_d: str = "dz"
    lme_df: str = "residual"
    lme_fit: str = "ml"
    measures: tuple | None = None
    alpha: float = 0.05
    n_primary: int = 8
    response_threshold: float = 0.5
    remission_cutoff: float = 10.0
    limbic_edge_threshold_p: float = 0.1

    def __post_init__(self):
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("alpha", "response_threshold", "limbic_edge_threshold_p"):
            if not 0 < getattr(self, name) <= 1:
                raise InputError(f"{name} must lie in (0, 1], got {getattr(self, name)!r}")
        if int(self.n_primary) < 1:
            raise InputError(f"n_primary must be at least 1, got {self.n_primary!r}")

    def to_dict(self) -> dict:
        """JSON-ready options (tuples as lists) for the sidecars."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def is_pre(self, session: str) -> bool:
        label = str(session).removeprefix("ses-")
        return label in _labels(self.pre_sessions) if self.pre_sessions else label.startswith("pre")

    def is_post(self, session: str) -> bool:
        label = str(session).removeprefix("ses-")
        return label in _labels(self.post_sessions) if self.post_sessions else label.startswith("post")


def _labels(sessions) -> set:
    return {str(s).removeprefix("ses-") for s in sessions}
