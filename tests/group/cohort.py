"""A cohort shaped like the paper's, with planted effects, written as a BIDS dataset plus an FC table.

23 patients (sessions pre1, pre2, post; 23/18/20 imaged), 27 controls (7 with a second visit); MADRS at six
timepoints with dropouts (29 -> 9 -> 13 -> 15); CGI-I, BPRS, analytes, side effects, volumes.
Planted: patients' limbic, DMN and sgACC-DMN FC above controls' at baseline; limbic and DMN fall after
treatment in every patient; sgACC-DMN falls more in responders; visual FC unchanged (the null effect);
right hippocampus / ICV correlates with MADRS change.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

TIMEPOINTS = ["baseline", "day1", "week2", "week4", "week6", "week8"]


def make_cohort(root, seed=7, n_patients=23, n_controls=27, null=False):
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "phenotype").mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "cohort", "BIDSVersion": "1.9.0"}))
    pts = [f"sub-P{i:02d}" for i in range(1, n_patients + 1)]
    ctl = [f"sub-C{i:02d}" for i in range(1, n_controls + 1)]
    pd.DataFrame({"participant_id": pts + ctl, "group": ["patient"] * len(pts) + ["control"] * len(ctl),
                  "age": rng.integers(20, 60, len(pts) + len(ctl))}).to_csv(root / "participants.tsv", sep="\t",
                                                                            index=False)
    base = np.clip(rng.normal(29, 4, len(pts)), 20, 45).round()
    improve = rng.uniform(0.2, 0.9, len(pts))  # fraction of baseline lost at week 2
    rows = []
    for i, p in enumerate(pts):
        for k, tp in enumerate(TIMEPOINTS):
            if k >= 2 and i == 0:  # dropout after day 1
                continue
            if tp == "week8" and i == 1:
                continue
            frac = {0: 0, 1: 0.7, 2: improve[i], 3: improve[i] * 0.95, 4: improve[i] * 0.9, 5: improve[i] * 0.85}[k]
            score = base[i] * (1 - frac) + (0 if k == 0 else rng.normal(0, 2))
            rows.append({"participant_id": p, "timepoint": tp, "madrs": max(round(score), 0)})
    madrs = pd.DataFrame(rows)
    madrs.to_csv(root / "phenotype" / "madrs.tsv", sep="\t", index=False)
    wk2 = madrs[madrs.timepoint == "week2"].set_index("participant_id")["madrs"]
    resp = (base[: len(pts)] - wk2.reindex(pts).to_numpy()) / base >= 0.5
    cgi = [{"participant_id": p, "timepoint": tp, "cgi_i": int(np.clip(round(1 + 4 * (1 - improve[i]) +
                                                                               rng.normal(0, 0.5)), 1, 7))}
           for i, p in enumerate(pts) for tp in TIMEPOINTS[1:] if i != 0]
    pd.DataFrame(cgi).to_csv(root / "phenotype" / "cgi.tsv", sep="\t", index=False)
    bprs = [{"participant_id": p, "timepoint": f"infusion_day{d}", "bprs_positive": 4 + 6 * improve[i] +
             rng.normal(0, 1)} for i, p in enumerate(pts) for d in (1, 2, 3, 4)]
    pd.DataFrame(bprs).to_csv(root / "phenotype" / "bprs.tsv", sep="\t", index=False)
    levels = pd.DataFrame({"participant_id": pts, "ketamine_r": rng.normal(100, 20, len(pts)),
                           "norketamine_r": rng.normal(200, 40, len(pts))})
    levels.to_csv(root / "phenotype" / "ketamine_levels.tsv", sep="\t", index=False)
    logit = 1 / (1 + np.exp(-(levels["ketamine_r"] - 100) / 10))
    pd.DataFrame({"participant_id": pts, "dissociation": (rng.random(len(pts)) < logit).astype(int)}).to_csv(
        root / "phenotype" / "side_effects.tsv", sep="\t", index=False)
    icv = rng.normal(1.5e6, 1e5, len(pts))
    change = (wk2.reindex(pts).to_numpy() - base) / base
    hip_r = icv * (2.6e-3 + (0 if null else 4e-4) * np.nan_to_num(change, nan=-0.5) + rng.normal(0, 1e-4, len(pts)))
    vols = pd.DataFrame({"participant_id": pts, "hippocampus_l": icv * 2.6e-3, "hippocampus_r": hip_r,
                         "amygdala_l": icv * 1.1e-3 * rng.normal(1, 0.05, len(pts)),
                         "amygdala_r": icv * 1.1e-3 * rng.normal(1, 0.05, len(pts)),
                         "accumbens_l": icv * 4e-4, "accumbens_r": icv * 4e-4 * rng.normal(1, 0.05, len(pts)),
                         "icv": icv})
    vols.to_csv(root / "phenotype" / "volumes.tsv", sep="\t", index=False)
    eff = 0.0 if null else 1.0
    fc_rows = []
    missing_pre2 = set(pts[18:])  # 18 with pre2
    missing_post = set(pts[20:])  # 20 with post
    for i, p in enumerate(pts):
        subj = rng.normal(0, 0.03, 4)
        for ses in ("pre1", "pre2", "post"):
            if (ses == "pre2" and p in missing_pre2) or (ses == "post" and p in missing_post):
                continue
            post = ses == "post"
            row = {"participant_id": p, "session_id": f"ses-{ses}",
                   "dmn": 0.35 + 0.05 * eff + subj[0] - eff * 0.06 * post + rng.normal(0, 0.02),
                   "sgacc_dmn": 0.15 + 0.05 * eff + subj[1] - eff * post * (0.10 if resp[i] else 0.02)
                   + rng.normal(0, 0.02),
                   "limbic": 0.30 + 0.05 * eff + subj[2] - eff * 0.06 * post + rng.normal(0, 0.02),
                   "visual": 0.50 + subj[3] + rng.normal(0, 0.02),
                   "n_frames": 300, "mean_fd": 0.1, "included": True}
            fc_rows.append(row)
    for i, c in enumerate(ctl):
        subj = rng.normal(0, 0.03, 4)
        for ses in (("pre1", "pre2") if i < 7 else ("pre1",)):
            fc_rows.append({"participant_id": c, "session_id": f"ses-{ses}", "dmn": 0.35 + subj[0],
                            "sgacc_dmn": 0.15 + subj[1], "limbic": 0.30 + subj[2], "visual": 0.50 + subj[3],
                            "n_frames": 300, "mean_fd": 0.1, "included": True})
    fc = pd.DataFrame(fc_rows)
    fc.loc[len(fc)] = {"participant_id": "sub-C01", "session_id": "ses-pre3", "dmn": 9.0, "sgacc_dmn": 9.0,
                       "limbic": 9.0, "visual": 9.0, "n_frames": 40, "mean_fd": 0.6, "included": False}
    fc.to_csv(root / "network_fc.tsv", sep="\t", index=False)
    return {"root": root, "fc": root / "network_fc.tsv", "responders": dict(zip(pts, resp))}
