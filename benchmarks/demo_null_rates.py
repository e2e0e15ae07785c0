"""False-positive rates of the network-measure LMEs through the whole pipeline (voxels) and at the region level.

Run:  python benchmarks/demo_null_rates.py [--seeds 2-16] [--region-sims 300] [--keep DIR]

Each seed is a ``ketamine-fc-demo --null`` study of the end-to-end test's size (14 patients, 6 controls, 240
frames, 3 mm; no FC effect planted, the clinical course kept): simulated BOLD volumes, the participant level
(censoring, 36P, band-pass, subcortical cleanup, regions) and the group level's LMEs of the network measures.
Its ``lme.tsv`` is kept under ``--keep`` (``s<seed>/lme.tsv``), and a seed already kept is not run again. The peer,
measured in the same run: the same studies without the voxel layer (``ketamine_fc.simulate.bold.region_signals``
straight to Fisher-z matrices and the same network measures and model), ``--region-sims`` of them.

Printed per measure and term: the share of studies with p < .05 and p < .00625 (the Bonferroni threshold of the
primary outcomes) under the paper's convention (ML, residual DF), with its Monte Carlo SE, for both layers.
About 3 min per voxel study on 2 cores; the region level takes about 0.7 s per study.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
MEASURES = ("dmn", "sgacc_dmn", "limbic", "visual")
TERMS = ("time", "time:response")
SMALL = {"n_patients": 14, "n_controls": 6, "n_frames": 240}


def _seeds(text: str) -> list:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def voxel_study(seed: int, keep: Path) -> pd.DataFrame:
    """The paper-convention LME rows of one null demo study (run unless kept)."""
    from ketamine_fc.cli.demo import main as demo

    kept = keep / f"s{seed}" / "lme.tsv"
    if not kept.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "demo"
            code = demo(["--out", str(out), "--null", "--seed", str(seed), "--n-patients", str(SMALL["n_patients"]),
                         "--n-controls", str(SMALL["n_controls"]), "--n-frames", str(SMALL["n_frames"]),
                         "--resolution", "3", "--nbs-permutations", "0"])
            if code != 0:
                raise SystemExit(f"the demo failed for seed {seed} (exit code {code})")
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / "ketamine-fc" / "group" / "lme.tsv", kept)
    lme = pd.read_csv(kept, sep="\t", na_values=["n/a"])
    return lme[(lme["inference"] == "paper") & lme["term"].isin(TERMS)][["measure", "term", "p"]]


def region_study(seed: int, table, sets) -> pd.DataFrame:
    """The same study's network measures without voxels, through the same model."""
    from ketamine_fc.core.networks import network_measures
    from ketamine_fc.core.stats.lme import fit_random_intercept_many
    from ketamine_fc.simulate.bold import plant_what_the_model_can, region_signals, subnetwork_pair_fraction
    from ketamine_fc.simulate.design import Effects, make_study

    study = make_study(n_patients=SMALL["n_patients"], n_controls=SMALL["n_controls"], seed=seed,
                       effects=Effects.null())
    targets = study.targets[study.targets["participant_id"].str.startswith("sub-P")].copy()
    plant_what_the_model_can(targets, subnetwork_pair_fraction(table, sets))
    rng = np.random.default_rng([seed, 1])
    rows, design, groups = [], [], []
    for _, row in targets.iterrows():
        x = region_signals(rng, table, sets, row, SMALL["n_frames"], 2.0)
        z = np.arctanh(np.clip(np.corrcoef(x.T), -0.999999, 0.999999))
        np.fill_diagonal(z, np.nan)
        measures = network_measures(z, table["index"].to_numpy(), sets)
        rows.append([measures[m] for m in MEASURES])
        post = float(row["session_id"] == "ses-post")
        design.append([1.0, post, post * float(str(row["responder"]).lower() == "true")])
        groups.append(row["participant_id"])
    fit = fit_random_intercept_many(np.array(rows), np.array(design), np.unique(groups, return_inverse=True)[1],
                                    term_names=["intercept", *TERMS], method="ml", df_method="residual")
    return pd.DataFrame([{"measure": m, "term": t, "p": fit["p"][j, k + 1]}
                         for j, m in enumerate(MEASURES) for k, t in enumerate(TERMS)])


def rates(p: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (measure, term), g in p.groupby(["measure", "term"], sort=False):
        row = {"measure": measure, "term": term, "studies": len(g)}
        for alpha in (0.05, 0.00625):
            r = float(np.mean(g["p"] < alpha))
            row[f"p<{alpha:g}"] = f"{100 * r:5.1f} % +/- {100 * np.sqrt(r * (1 - r) / len(g)):4.1f}"
        out.append(row)
    return pd.DataFrame(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="2-16", help="voxel studies: a seed or a range FIRST-LAST")
    p.add_argument("--region-sims", type=int, default=300)
    p.add_argument("--keep", type=Path, default=Path("demo_null_rates"))
    args = p.parse_args(argv)
    os.environ.setdefault("KETAMINE_FC_DATA", os.pathsep.join([str(HERE.parents[1] / "shared" / "data" / "atlases"),
                                                              str(HERE.parents[1] / "shared" / "data")]))
    sys.path.insert(0, str(HERE))
    from nbs_null_simulations import atlas

    table, sets = atlas(subset=True)  # the network sets and the regions they need
    region = pd.concat([region_study(s, table, sets) for s in range(args.region_sims)])
    voxel = []
    for seed in _seeds(args.seeds):
        voxel.append(voxel_study(seed, args.keep))
        print(f"  voxel study {seed} done", flush=True)
    voxel = pd.concat(voxel)
    nominal = "nominal 5 % and 0.625 %; the paper's convention is anti-conservative in small samples"
    print(f"Region level (no voxels), {args.region_sims} null studies ({nominal}):")
    print(rates(region).to_string(index=False))
    print(f"\nWhole pipeline (voxels), {voxel.groupby(['measure', 'term']).size().iloc[0]} null studies:")
    print(rates(voxel).to_string(index=False))


if __name__ == "__main__":
    main()
