"""A cohort shaped like the paper's, with planted effects, written as a BIDS dataset plus an FC table.

23 patients (sessions pre1, pre2, post; 23/18/20 imaged), 27 controls (7 with a second visit); MADRS at six
timepoints with dropouts (about 29 -> 9 -> 13 -> 15, SD about 4 then 8); CGI-I, BPRS, analytes, side effects,
volumes. Planted: patients' limbic, DMN and sgACC-DMN FC above controls' at baseline; limbic and DMN fall after
treatment in every patient; sgACC-DMN falls more in responders; visual FC unchanged (the null effect);
right hippocampus / ICV correlates with MADRS change; in the region-level limbic matrices the left-right
amygdala edge falls after treatment and no other edge changes.
``write_participant_outputs`` and ``write_aseg_stats`` lay the same cohort out as the participant level and
FreeSurfer would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc.utils.derivatives import bids_path

TIMEPOINTS = ["baseline", "day1", "week2", "week4", "week6", "week8"]
LIMBIC = [f"limbic_{s}_{h}" for s in ("amygdala", "hippocampus_ant", "hippocampus_post", "accumbens", "thalamus")
          for h in "LR"]
PLANTED_EDGE = ("limbic_amygdala_L", "limbic_amygdala_R")
MISSING = {"sub-P01": {"day1", "week2", "week4", "week6", "week8"}, "sub-P02": {"week2"}, "sub-P03": {"week8"}}


def _madrs(rng, pts):
    base = np.clip(rng.normal(29, 4, len(pts)), 20, 45).round()
    improve = rng.uniform(0.05, 1.0, len(pts))  # fraction of baseline lost at week 2
    day1 = np.clip(rng.normal(0.7, 0.3, len(pts)), 0, 1)
    rows = []
    for i, p in enumerate(pts):
        for k, tp in enumerate(TIMEPOINTS):
            if tp in MISSING.get(p, ()):
                continue
            frac = [0, day1[i], improve[i], improve[i] * 0.95, improve[i] * 0.9, improve[i] * 0.85][k]
            score = base[i] * (1 - frac) + (0 if k == 0 else rng.normal(0, 2))
            rows.append({"participant_id": p, "timepoint": tp, "madrs": max(round(score), 0)})
    return pd.DataFrame(rows), base, improve


def make_cohort(root, seed=7, n_patients=23, n_controls=27, null=False):
    """Write the cohort under ``root``; return paths, responder status and the planted values."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "phenotype").mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "cohort", "BIDSVersion": "1.9.0"}))
    pts = [f"sub-P{i:02d}" for i in range(1, n_patients + 1)]
    ctl = [f"sub-C{i:02d}" for i in range(1, n_controls + 1)]
    pd.DataFrame({"participant_id": pts + ctl, "group": ["patient"] * len(pts) + ["control"] * len(ctl),
                  "age": rng.integers(20, 60, len(pts) + len(ctl))}).to_csv(root / "participants.tsv", sep="\t",
                                                                            index=False)
    madrs, base, improve = _madrs(rng, pts)
    madrs.to_csv(root / "phenotype" / "madrs.tsv", sep="\t", index=False)
    wk2 = madrs[madrs.timepoint == "week2"].set_index("participant_id")["madrs"].reindex(pts).to_numpy()
    resp = (base - wk2) / base >= 0.5  # NaN (not assessed) compares False
    cgi = [{"participant_id": p, "timepoint": tp, "cgi_i": int(np.clip(round(1 + 2 * (1 - improve[i]) +
                                                                               rng.normal(0, 0.5)), 1, 7))}
           for i, p in enumerate(pts) for tp in TIMEPOINTS[1:] if tp not in MISSING.get(p, ())]
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
    change = (wk2 - base) / base
    hip_r = icv * (2.6e-3 + (0 if null else 4e-4) * np.nan_to_num(change, nan=-0.5) + rng.normal(0, 1e-4, len(pts)))
    vols = pd.DataFrame({"participant_id": pts, "hippocampus_l": icv * 2.6e-3 * rng.normal(1, 0.05, len(pts)),
                         "hippocampus_r": hip_r, "amygdala_l": icv * 1.1e-3 * rng.normal(1, 0.05, len(pts)),
                         "amygdala_r": icv * 1.1e-3 * rng.normal(1, 0.05, len(pts)),
                         "accumbens_l": icv * 4e-4 * rng.normal(1, 0.05, len(pts)),
                         "accumbens_r": icv * 4e-4 * rng.normal(1, 0.05, len(pts)), "icv": icv})
    vols.to_csv(root / "phenotype" / "volumes.tsv", sep="\t", index=False)
    fc = _fc_table(rng, pts, ctl, resp, 0.0 if null else 1.0)
    fc.to_csv(root / "network_fc.tsv", sep="\t", index=False)
    return {"root": root, "fc": root / "network_fc.tsv", "responders": dict(zip(pts, resp)), "volumes": vols,
            "patients": pts, "controls": ctl, "null": null, "seed": seed}


def _fc_table(rng, pts, ctl, resp, eff):
    rows = []
    for i, p in enumerate(pts):
        subj = rng.normal(0, 0.03, 4)
        for ses in ("pre1", "pre2", "post"):
            if (ses == "pre2" and i >= 18) or (ses == "post" and i >= 20):  # 23 / 18 / 20 imaged
                continue
            post = ses == "post"
            rows.append({"participant_id": p, "session_id": f"ses-{ses}",
                         "dmn": 0.35 + 0.05 * eff + subj[0] - eff * 0.06 * post + rng.normal(0, 0.02),
                         "sgacc_dmn": 0.15 + 0.05 * eff + subj[1] - eff * post * (0.10 if resp[i] else 0.02)
                         + rng.normal(0, 0.02),
                         "limbic": 0.30 + 0.05 * eff + subj[2] - eff * 0.06 * post + rng.normal(0, 0.02),
                         "visual": 0.50 + subj[3] + rng.normal(0, 0.02),
                         "n_frames": 300, "mean_fd": 0.1, "included": True, "exclusion_reason": "n/a"})
    for i, c in enumerate(ctl):
        subj = rng.normal(0, 0.03, 4)
        for ses in (("pre1", "pre2") if i < 7 else ("pre1",)):
            rows.append({"participant_id": c, "session_id": f"ses-{ses}", "dmn": 0.35 + subj[0],
                         "sgacc_dmn": 0.15 + subj[1], "limbic": 0.30 + subj[2], "visual": 0.50 + subj[3],
                         "n_frames": 300, "mean_fd": 0.1, "included": True, "exclusion_reason": "n/a"})
    rows.append({"participant_id": "sub-C01", "session_id": "ses-pre3", "dmn": 9.0, "sgacc_dmn": 9.0, "limbic": 9.0,
                 "visual": 9.0, "n_frames": 40, "mean_fd": 0.6, "included": False,
                 "exclusion_reason": "40 retained frames < minimum 240"})
    return pd.DataFrame(rows)


def write_participant_outputs(cohort, output_dir, drop=0.15):
    """Lay the FC table out as participant-level outputs, with limbic matrices (planted edge falls by ``drop``)."""
    rng = np.random.default_rng(cohort["seed"] + 1)
    fc = pd.read_csv(cohort["fc"], sep="\t", keep_default_na=False)
    n = len(LIMBIC)
    i, j = LIMBIC.index(PLANTED_EDGE[0]), LIMBIC.index(PLANTED_EDGE[1])
    subject_mean = {p: 0.3 + rng.normal(0, 0.05, (n, n)) for p in fc["participant_id"].unique()}
    for _, row in fc.iterrows():
        ents = {"subject": row["participant_id"].removeprefix("sub-"),
                "session": row["session_id"].removeprefix("ses-"), "space": "MNI152NLin2009cAsym",
                "segmentation": "GordonSeitzman"}
        path = bids_path(output_dir, {**ents, "desc": "network"}, "measures", ".tsv")
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([row]).to_csv(path, sep="\t", index=False)
        m = subject_mean[row["participant_id"]] + rng.normal(0, 0.03, (n, n))
        if row["session_id"] == "ses-post" and not cohort["null"]:
            m[i, j] -= drop
            m[j, i] -= drop
        m = (m + m.T) / 2
        np.fill_diagonal(m, 8.4)
        rel = bids_path(output_dir, {**ents, "stat": "pearsoncorrelation", "desc": "limbicfisherz"}, "relmat", ".tsv")
        pd.DataFrame(m, index=LIMBIC, columns=LIMBIC).to_csv(rel, sep="\t", index_label="region",
                                                             float_format="%.8g")
    return output_dir


ASEG_OTHER = [("Left-Lateral-Ventricle", 4, 6563.4), ("Left-Thalamus", 10, 7812.0), ("Brain-Stem", 16, 20344.7),
              ("CSF", 24, 1022.3), ("Right-Thalamus", 49, 7610.2), ("WM-hypointensities", 77, 1510.0)]
ASEG_LIMBIC = [("Left-Hippocampus", 17, "hippocampus_l"), ("Left-Amygdala", 18, "amygdala_l"),
               ("Left-Accumbens-area", 26, "accumbens_l"), ("Right-Hippocampus", 53, "hippocampus_r"),
               ("Right-Amygdala", 54, "amygdala_r"), ("Right-Accumbens-area", 58, "accumbens_r")]


def write_aseg_stats(cohort, fmriprep_dir, skip=()):
    """FreeSurfer 7 style ``aseg.stats`` per patient from the cohort's volumes (participants in ``skip`` left out)."""
    for _, v in cohort["volumes"].iterrows():
        if v["participant_id"] in skip:
            continue
        lines = ["# Title Segmentation Statistics ", "# generating_program mri_segstats",
                 "# Measure BrainSeg, BrainSegVol, Brain Segmentation Volume, 1181090.000000, mm^3",
                 "# Measure Mask, MaskVol, Mask Volume, 1639522.000000, mm^3",
                 "# Measure EstimatedTotalIntraCranialVol, eTIV, Estimated Total Intracranial Volume, "
                 f"{v['icv']:.6f}, mm^3",
                 "# NTableCols 10",
                 "# ColHeaders  Index SegId NVoxels Volume_mm3 StructName normMean normStdDev normMin normMax "
                 "normRange "]
        structs = [(name, seg, round(v[col], 1)) for name, seg, col in ASEG_LIMBIC] + ASEG_OTHER
        for k, (name, seg, vol) in enumerate(sorted(structs, key=lambda s: s[1]), start=1):
            lines.append(f"{k:3d} {seg:4d} {int(round(vol)):8d} {vol:10.1f}  {name:<30s} 78.7 9.6 33.0 108.0 75.0")
        path = Path(fmriprep_dir) / "sourcedata" / "freesurfer" / v["participant_id"] / "stats" / "aseg.stats"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return fmriprep_dir
