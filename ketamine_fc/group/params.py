"""Group-level options with their defaults (methods.md section 1), recorded in every group sidecar."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

MEASURES = ("dmn", "sgacc_dmn", "limbic", "visual")
TIMEPOINTS = ("baseline", "day1", "week2", "week4", "week6", "week8")


@dataclass(frozen=True)
class GroupParams:
    """How participants, sessions and timepoints map onto the paper's analyses."""

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

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def is_pre(self, session: str) -> bool:
        label = str(session).removeprefix("ses-")
        return label in self.pre_sessions if self.pre_sessions else label.startswith("pre")

    def is_post(self, session: str) -> bool:
        label = str(session).removeprefix("ses-")
        return label in self.post_sessions if self.post_sessions else label.startswith("post")
