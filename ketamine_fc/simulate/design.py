"""The simulated study: who is scanned when, clinical ratings like the paper's, and the planted FC targets."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

TIMEPOINTS = ("baseline", "day1", "week2", "week4", "week6", "week8")
#: MADRS means of the paper (29 -> 9 -> 13 -> 15): expected fraction of baseline lost per timepoint
IMPROVEMENT = {"baseline": 0.0, "day1": 0.69, "week2": 0.55, "week4": 0.52, "week6": 0.50, "week8": 0.48}


@dataclass(frozen=True)
class Effects:
    """Planted effects, in Fisher z except ``hippocampus_r`` (a Pearson r); :meth:`null` plants no FC effect.

    Session targets (see :data:`CONTROL_FC`): patients' limbic, DMN and sgACC-DMN FC exceed controls' by
    ``baseline_excess`` at both pre sessions; at ``post`` limbic and DMN fall in every patient, sgACC-DMN
    falls by ``sgacc_decrease_responder`` in responders and ``sgacc_decrease_nonresponder`` in the others;
    visual FC never changes. The edge-level effect (for the network-based statistic): FC of the limbic-DMN
    subnetwork (the 10 limbic regions x the DMN parcels :data:`SUBNETWORK_DMN`) sits at :data:`LIMBIC_DMN_FC` in
    everyone before treatment and in controls, and falls by ``limbic_dmn_decrease`` at ``post`` in every patient.
    ``between_sd`` is the SD of each participant's own offset of every network measure.
    ``clinical`` plants the clinical course (MADRS improvement like the paper's, CGI-I, BPRS and side effects
    following it); without it MADRS only varies around baseline and nothing clinical is related to anything.
    """

    baseline_excess: float = 0.12  # patients above controls at baseline (limbic, DMN, sgACC-DMN)
    limbic_decrease: float = 0.15  # after treatment, every patient
    dmn_decrease: float = 0.12
    sgacc_decrease_responder: float = 0.20
    sgacc_decrease_nonresponder: float = 0.03
    limbic_dmn_decrease: float = 0.15  # limbic x DMN-subnetwork edges after treatment, every patient
    hippocampus_r: float = 0.5  # correlation of right hippocampus / ICV with MADRS change
    between_sd: float = 0.04  # between-participant SD of every measure
    clinical: bool = True  # the MADRS course improves as in the paper

    @classmethod
    def null(cls, clinical: bool = True) -> "Effects":
        """No FC group difference and no FC change (``between_sd`` kept); the clinical course (and the volume
        correlation that goes with it) stays unless ``clinical`` is False."""
        return cls(baseline_excess=0.0, limbic_decrease=0.0, dmn_decrease=0.0, sgacc_decrease_responder=0.0,
                   sgacc_decrease_nonresponder=0.0, limbic_dmn_decrease=0.0,
                   hippocampus_r=cls.hippocampus_r if clinical else 0.0, clinical=clinical)


#: baseline Fisher-z targets of controls
CONTROL_FC = {"dmn": 0.35, "sgacc_dmn": 0.15, "limbic": 0.30, "visual": 0.45}
#: baseline Fisher z of the limbic-DMN subnetwork (mean over its limbic x DMN edges), before treatment and in controls
LIMBIC_DMN_FC = 0.2
#: Gordon parcels (``Default`` community) of the limbic-DMN subnetwork: in each hemisphere the four Default
#: parcels, sgACC candidates (117, 279) excluded, whose centroids (Gordon 1 mm image) lie nearest on average to the
#: centres of the 10 limbic regions (Seitzman coordinates): posterior/mid cingulate (1, 26, 186), pregenual
#: ACC / medial prefrontal (152, 184) and anterior lateral temporal cortex (127, 290, 331). Fixed here so that the
#: simulation needs no image; tests/simulate/test_sim_subnetwork.py recomputes it from the atlas.
SUBNETWORK_DMN = (1, 26, 127, 152, 184, 186, 290, 331)


@dataclass
class Study:
    """Everything the writer needs: participants, imaging sessions, phenotype tables, volumes, planted targets."""

    participants: pd.DataFrame
    sessions: dict  # participant_id -> list of session labels
    phenotype: dict  # name -> long/wide DataFrame
    volumes: pd.DataFrame
    targets: pd.DataFrame  # participant_id, session_id, dmn, sgacc_dmn, limbic, visual, limbic_dmn_subnetwork
    responders: dict = field(default_factory=dict)


def _madrs(rng, patients, clinical=True):
    """Long MADRS table: baseline 29 +/- 4, then the paper's mean course with individual improvement."""
    n = len(patients)
    base = np.clip(rng.normal(29, 4, n), 20, 42).round()
    # fraction of baseline lost at week 2: N(0.55, 0.28) quantiles in random order, so that about 57 % of
    # any cohort respond (paper: 11/21) and small cohorts still have both responders and non-responders
    fraction = np.clip(0.55 + 0.28 * stats.norm.ppf((rng.permutation(n) + 0.5) / n), -0.1, 1.0)
    n_drop = max(1, round(n * 2 / 23)) if n > 4 else 0
    dropped = rng.choice(n, size=n_drop, replace=False)
    first_missing = {int(i): (1 if k % 2 else 2) for k, i in enumerate(dropped)}  # from day1 or from week2
    rows = []
    for i, pid in enumerate(patients):
        for k, tp in enumerate(TIMEPOINTS):
            if k >= first_missing.get(i, len(TIMEPOINTS)):
                break
            drop = min(fraction[i] * IMPROVEMENT[tp] / IMPROVEMENT["week2"], 0.98) if clinical else 0.0
            noise = 0.0 if k == 0 else rng.normal(0, 2.5)
            rows.append({"participant_id": pid, "timepoint": tp, "madrs": int(max(round(base[i] * (1 - drop) + noise),
                                                                                 0))})
    return pd.DataFrame(rows), base


def make_study(n_patients=23, n_controls=27, seed=0, effects: Effects = Effects()) -> Study:
    """The study design of Siegel et al. 2021, scaled to ``n_patients`` and ``n_controls``.

    Patients have imaging sessions ``pre1``, ``pre2`` and ``post`` (about 5/23 miss pre2 and 3/23 miss
    post, as in the paper's 23/18/20); controls have ``pre1`` and about 7/27 also ``pre2``, so that the group
    level's default prefixes (``pre*``, ``post*``) map them. Responders: MADRS at week2 at least 50 % below
    baseline (inclusive), from the simulated MADRS table itself. The limbic-DMN subnetwork has no participant
    offset (:data:`LIMBIC_DMN_FC` in everyone): the paired change is what the network-based statistic tests, and
    offsets against weak limbic FC would exceed what the signal model can plant (see
    :func:`ketamine_fc.simulate.bold.subnetwork_mixing`).
    """
    rng = np.random.default_rng(seed)
    patients = [f"sub-P{i:02d}" for i in range(1, n_patients + 1)]
    controls = [f"sub-C{i:02d}" for i in range(1, n_controls + 1)]
    participants = pd.DataFrame({
        "participant_id": patients + controls,
        "group": ["patient"] * n_patients + ["control"] * n_controls,
        "age": rng.integers(22, 62, n_patients + n_controls),
        "sex": rng.choice(["F", "M"], n_patients + n_controls),
    })
    madrs, base = _madrs(rng, patients, effects.clinical)
    wide = madrs.pivot(index="participant_id", columns="timepoint", values="madrs").reindex(patients)
    change = (wide["week2"] - wide["baseline"]) / wide["baseline"]
    responders = {p: bool(c <= -0.5) for p, c in change.items() if np.isfinite(c)}
    # imaging sessions: like the paper, 23 / 18 / 20 of 23 patients at pre1 / pre2 / post
    no_pre2 = set(rng.choice(n_patients, size=round(n_patients * 5 / 23), replace=False).tolist())
    no_post = set(rng.choice(n_patients, size=round(n_patients * 3 / 23), replace=False).tolist())
    sessions = {p: ["pre1"] + ([] if i in no_pre2 else ["pre2"]) + ([] if i in no_post else ["post"])
                for i, p in enumerate(patients)}
    second = set(rng.choice(n_controls, size=round(n_controls * 7 / 27), replace=False).tolist())
    sessions.update({c: ["pre1"] + (["pre2"] if i in second else []) for i, c in enumerate(controls)})
    rows = []
    for pid, labels in sessions.items():
        is_patient = pid.startswith("sub-P")
        person = {k: v + rng.normal(0, effects.between_sd) for k, v in CONTROL_FC.items()}
        for ses in labels:
            t = dict(person)
            if is_patient:
                for k in ("dmn", "sgacc_dmn", "limbic"):
                    t[k] += effects.baseline_excess
                if ses == "post":
                    t["limbic"] -= effects.limbic_decrease
                    t["dmn"] -= effects.dmn_decrease
                    t["sgacc_dmn"] -= (effects.sgacc_decrease_responder if responders.get(pid)
                                       else effects.sgacc_decrease_nonresponder)
            for k in ("dmn", "limbic", "visual"):  # a shared signal cannot make a network anticorrelated
                t[k] = max(t[k], 0.0)
            t["limbic_dmn_subnetwork"] = LIMBIC_DMN_FC - (effects.limbic_dmn_decrease if is_patient and ses == "post"
                                                          else 0.0)
            rows.append({"participant_id": pid, "session_id": f"ses-{ses}", **t,
                         "responder": responders.get(pid, "n/a") if is_patient else "n/a"})
    return Study(participants, sessions, _phenotype(rng, patients, wide, madrs, responders, change, effects.clinical),
                 _volumes(rng, patients + controls, change, effects), pd.DataFrame(rows), responders)


def subnetwork_sets(sets: dict) -> dict:
    """``limbic`` and ``dmn`` members (atlas indices) of the planted limbic-DMN subnetwork.

    ``sets`` is the output of :func:`ketamine_fc.core.networks.network_sets`: every limbic region, and the
    parcels of :data:`SUBNETWORK_DMN` in the DMN set and not in the sgACC set (``sets["subnetwork_dmn"]``, if
    given, replaces them).
    """
    dmn = sets.get("subnetwork_dmn", [p for p in SUBNETWORK_DMN if p in set(sets.get("dmn", []))
                                      and p not in set(sets.get("sgacc", []))])
    return {"limbic": sorted(int(i) for i in sets.get("limbic", [])), "dmn": sorted(int(i) for i in dmn)}


def subnetwork_table(table: pd.DataFrame, sets: dict) -> pd.DataFrame:
    """The subnetwork's regions (limbic first): ``region`` label, atlas ``index``, ``role`` (limbic or dmn), and
    the atlas table's ``network``, ``structure``, ``hemisphere`` and ``limbic_role``."""
    members = subnetwork_sets(sets)
    rows = table.set_index("index")
    out = []
    for role in ("limbic", "dmn"):
        for i in members[role]:
            if i in rows.index:
                row = rows.loc[i]
                out.append({"region": row["label"], "index": i, "role": role, "network": row["network"],
                            "structure": row["structure"], "hemisphere": row["hemisphere"],
                            "limbic_role": row.get("limbic_role", "") or "n/a"})
    return pd.DataFrame(out, columns=["region", "index", "role", "network", "structure", "hemisphere",
                                      "limbic_role"])


def _phenotype(rng, patients, wide, madrs, responders, change, clinical=True):
    cgi = []
    for pid in patients:
        for tp in TIMEPOINTS[1:]:
            if pd.isna(wide.loc[pid, tp]):
                continue
            drop = 1 - wide.loc[pid, tp] / wide.loc[pid, "baseline"] if clinical else rng.normal(0, 0.15)
            cgi.append({"participant_id": pid, "timepoint": tp,
                        "cgi_i": int(np.clip(round(4 - 4 * drop + rng.normal(0, 0.6)), 1, 7))})
    improvement = (-change.reindex(patients).fillna(change.mean())).to_numpy() if clinical else np.zeros(len(patients))
    bprs = [{"participant_id": p, "timepoint": f"infusion_day{d}",
             "bprs_positive": round(float(max(4 + 3 * improvement[i] + rng.normal(0, 1.0), 4)), 1)}
            for i, p in enumerate(patients) for d in range(1, 5)]
    ketamine = rng.lognormal(np.log(120), 0.3, len(patients))
    levels = pd.DataFrame({"participant_id": patients, "ketamine_r": ketamine / 2, "ketamine_s": ketamine / 2,
                           "norketamine_r": rng.lognormal(np.log(110), 0.3, len(patients)),
                           "norketamine_s": rng.lognormal(np.log(110), 0.3, len(patients))})
    prob = 1 / (1 + np.exp(-(ketamine - 120) / 30)) if clinical else np.full(len(patients), 0.4)
    side = pd.DataFrame({"participant_id": patients, "dissociation": (rng.random(len(patients)) < prob).astype(int),
                         "nausea": (rng.random(len(patients)) < 0.3).astype(int)})
    return {"madrs": madrs, "cgi": pd.DataFrame(cgi), "bprs": pd.DataFrame(bprs), "ketamine_levels": levels,
            "side_effects": side}


def _volumes(rng, participants, change, effects):
    icv = rng.normal(1.5e6, 1.2e5, len(participants))
    z = rng.standard_normal(len(participants))
    c = change.reindex(participants).to_numpy()
    cz = np.where(np.isfinite(c), (c - np.nanmean(c)) / (np.nanstd(c) or 1), 0.0)
    rho = effects.hippocampus_r
    hip_r = 2.9e-3 * (1 + 0.08 * (rho * cz + np.sqrt(1 - rho**2) * z))
    vols = {"Left-Hippocampus": 2.85e-3, "Left-Amygdala": 1.1e-3, "Right-Amygdala": 1.15e-3,
            "Left-Accumbens-area": 0.35e-3, "Right-Accumbens-area": 0.34e-3}
    out = pd.DataFrame({"participant_id": participants, "EstimatedTotalIntraCranialVol": icv,
                        "Right-Hippocampus": icv * hip_r})
    for name, frac in vols.items():
        out[name] = icv * frac * rng.normal(1, 0.08, len(participants))
    return out
