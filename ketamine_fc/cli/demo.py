"""``ketamine-fc-demo``: simulate a small study, run the participant and group levels, summarise the findings.

Everything goes under ``--out`` (default ``./ketamine-fc-demo``): ``bids/`` (the simulated raw dataset with
``derivatives/fmriprep``), ``ketamine-fc/`` (the pipeline's outputs, with ``group/report.html`` and a ``sub-<label>.html`` report per participant) and ``work/``.
``--space fsLR`` runs the surface path: the simulated runs are CIFTI-2 dense time series on 91k-shaped
grayordinates and the participant level reads them with ``--space fsLR``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc.simulate.design import Effects

#: a small cohort needs larger effects than the paper's to show them: Fisher-z units of the simulation
DEMO_EFFECTS = Effects(baseline_excess=0.15, limbic_decrease=0.25, dmn_decrease=0.2, sgacc_decrease_responder=0.4,
                       sgacc_decrease_nonresponder=0.05, hippocampus_r=0.6, between_sd=0.04)
MEASURES = {"limbic": "within-limbic", "dmn": "within-DMN", "sgacc_dmn": "sgACC-DMN", "visual": "within-visual"}


def build_parser():
    p = argparse.ArgumentParser(prog="ketamine-fc-demo", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("ketamine-fc-demo"), help="folder for everything the demo writes")
    p.add_argument("--n-patients", type=int, default=16)
    p.add_argument("--n-controls", type=int, default=10)
    p.add_argument("--n-frames", type=int, default=180, help="frames per run (TR 2 s)")
    p.add_argument("--space", choices=["MNI152NLin6Asym", "fsLR"], default="MNI152NLin6Asym",
                   help="the simulated fMRIPrep output, and the participant level's --space: MNI volumes, or fsLR "
                        "for CIFTI-2 dense time series on 91k-shaped grayordinates (the surface path: Gordon parcels "
                        "on the cortical surface; about 0.3 MB per frame on disk)")
    p.add_argument("--resolution", type=int, choices=[2, 3, 4], default=3,
                   help="MNI grid (mm); with --space fsLR, of the volume run (not written) the confounds come "
                        "from")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--null", action="store_true", help="plant no FC effect (no imaging outcome should be found; the "
                   "clinical course stays)")
    p.add_argument("--null-clinical", action="store_true", help="with --null: no clinical course either")
    p.add_argument("--nprocs", type=int, default=2, help="processes for the participant level (MultiProc)")
    p.add_argument("--atlas-dir", help="atlas files (else KETAMINE_FC_DATA, the cache, or a download)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out")
    p.add_argument("--nbs-permutations", type=int, default=300,
                   help="permutations of the network-based statistic at the group level (the pipeline's default "
                        "is 5000; fewer keep the demo short)")
    return p


def nbs_summary(group_dir) -> str:
    """The network-based statistic's components with p_FWE < .05, one line each."""
    path = Path(group_dir) / "nbs_components.tsv"
    if not path.exists():
        return "\nWhole connectome: not computed (see the report)."
    comps = pd.read_csv(path, sep="\t")
    lines = ["\nWhole connectome, network-based statistic (components with p_FWE < .05):"]
    for _, c in comps[comps["p_fwe"] < 0.05].iterrows():
        lines.append(f"  {c['term']:<14} {c['sign']:<8} {int(c['size']):>5} edges among {int(c['n_nodes']):>3} "
                     f"regions  p_FWE = {c['p_fwe']:.3g}")
    return "\n".join(lines if len(lines) > 1 else lines + ["  none"])


def subnetwork_summary(group_dir, subnetwork_path) -> str:
    """How much of the planted limbic-DMN subnetwork the significant NBS components of ``time`` hold.

    Planted edges: every limbic x subnetwork-DMN pair of ``simulation_subnetwork.tsv`` (their FC falls at post).
    Control edges: limbic x the other DMN parcels (FC unchanged by construction): in a component, false links.
    """
    path = Path(group_dir) / "nbs_edges.tsv"
    if not path.exists() or not Path(subnetwork_path).exists():
        return ""
    comps = pd.read_csv(Path(group_dir) / "nbs_components.tsv", sep="\t")
    regions = pd.read_csv(Path(group_dir) / "connectome_regions.tsv", sep="\t")
    sub = pd.read_csv(subnetwork_path, sep="\t")
    limbic = set(sub.loc[sub["role"] == "limbic", "region"])
    sub_dmn = set(sub.loc[sub["role"] == "dmn", "region"])
    other_dmn = set(regions.loc[regions["network"] == "Default", "label"]) - sub_dmn
    keep = comps[(comps["term"] == "time") & (comps["p_fwe"] < 0.05) & (comps["sign"] == "negative")]
    edges = pd.read_csv(path, sep="\t")
    edges = edges[(edges["term"] == "time") & edges["component"].isin(keep["component"])]
    found = {frozenset(e) for e in zip(edges["label_i"], edges["label_j"])}
    present = set(regions["label"])
    planted = {frozenset((a, b)) for a in limbic & present for b in sub_dmn & present}
    control = {frozenset((a, b)) for a in limbic & present for b in other_dmn & present}
    return (f"  Planted limbic-DMN subnetwork (FC falls at post): {len(found & planted)} of its {len(planted)} "
            f"edges in these components of time; limbic edges to the other DMN parcels (no change planted): "
            f"{len(found & control)} of {len(control)}.")


def _step(k, text):
    print(f"\n[{k}/3] {text}", flush=True)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ketamine_fc.cli.run import main as run_main
    from ketamine_fc.errors import KetamineFCError
    from ketamine_fc.simulate.writer import simulate_study

    if args.null_clinical and not args.null:
        print("ketamine-fc-demo: error: --null-clinical goes with --null", file=sys.stderr)
        return 2
    out = args.out.absolute()
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            print(f"ketamine-fc-demo: error: {out} is not empty: choose another --out or pass --overwrite",
                  file=sys.stderr)
            return 1
        shutil.rmtree(out)
    bids, results, work = out / "bids", out / "ketamine-fc", out / "work"
    common = ["-w", str(work)] + (["--atlas-dir", args.atlas_dir] if args.atlas_dir else [])
    start = time.time()
    _step(1, f"Simulating {args.n_patients} patients and {args.n_controls} controls "
             f"({'no effect planted' if args.null else 'planted effects'}"
             f"{', fs_LR 91k grayordinates' if args.space == 'fsLR' else ''}) in {bids}")
    try:
        simulate_study(bids, n_patients=args.n_patients, n_controls=args.n_controls, n_frames=args.n_frames,
                       resolution=args.resolution, seed=args.seed, atlas_dir=args.atlas_dir, nprocs=args.nprocs,
                       space=args.space,
                       effects=Effects.null(clinical=not args.null_clinical) if args.null else DEMO_EFFECTS,
                       progress=lambda msg: print("  " + msg, flush=True))
    except KetamineFCError as err:
        print(f"ketamine-fc-demo: error: {err}", file=sys.stderr)
        return 1
    space = ["--space", args.space] if args.space != "MNI152NLin6Asym" else []  # the volume run as it always was
    _step(2, f"Participant level (MultiProc, {args.nprocs} processes): ketamine-fc {bids} {results} participant"
             + "".join(" " + a for a in space))
    code = run_main([str(bids), str(results), "participant", "--nprocs", str(args.nprocs),
                     "--min-frames", str(args.n_frames // 2)] + space + common)
    if code != 0:
        print(f"ketamine-fc-demo: the participant level failed (exit code {code})", file=sys.stderr)
        return code
    _step(3, f"Group level: ketamine-fc {bids} {results} group")
    code = run_main([str(bids), str(results), "group", "--nbs-permutations", str(args.nbs_permutations)] + common)
    if code != 0:
        print(f"ketamine-fc-demo: the group level failed (exit code {code})", file=sys.stderr)
        return code
    print(summary(results / "group", planted=not args.null))
    print(recovery(results / "group" / "network_fc.tsv", bids / "derivatives" / "simulation_truth.tsv"))
    print(nbs_summary(results / "group"))
    if not args.null:
        print(subnetwork_summary(results / "group", bids / "derivatives" / "simulation_subnetwork.tsv"))
    print(f"  Planted values per session: {bids / 'derivatives' / 'simulation_truth.tsv'}")
    n_reports = len(list(results.glob("sub-*.html")))
    print(f"\nDemo finished in {(time.time() - start) / 60:.1f} min. Report: {results / 'group' / 'report.html'}; "
          f"{n_reports} participant reports: {results / 'sub-*.html'}")
    return 0


def summary(group_dir: Path, planted: bool = True) -> str:
    """A few lines on the LME terms of each network measure and the Bonferroni verdict of the primary outcomes."""
    from ketamine_fc.utils.derivatives import read_tsv

    lme = read_tsv(group_dir / "lme.tsv").set_index(["measure", "term"])
    primary = read_tsv(group_dir / "primary_outcomes.tsv")
    threshold = float(primary["bonferroni_threshold"].iloc[0])
    passes = dict(zip(primary["outcome"], primary["passes_bonferroni"].astype(str).str.lower() == "true"))
    lines = ["", "Findings (patients, FC ~ time + time:response + (1 | participant); "
             f"Bonferroni threshold p < {threshold:.5f}):"]
    for measure, name in MEASURES.items():
        for term in ("time", "time:response"):
            if (measure, term) not in lme.index:
                continue
            row = lme.loc[(measure, term)]
            key = f"{measure} {term}"
            if not np.isfinite(row["estimate"]):
                lines.append(f"  {name:<14s} {term:<14s} not computed ({row.get('warning', 'n/a')})")
                continue
            verdict = ("passes Bonferroni" if passes.get(key) else "fails Bonferroni") if key in passes else \
                ("p < 0.05" if row["p"] < 0.05 else "not significant") + " (not a primary outcome)"
            lines.append(f"  {name:<14s} {term:<14s} estimate {row['estimate']:+.3f}  t({row['df']:.0f}) = "
                         f"{row['t']:+.2f}  p = {row['p']:.2g}  {verdict}")
    for _, row in primary[~primary["outcome"].str.contains(" ")].iterrows():
        lines.append(f"  {row['outcome']:<29s} p = {row['p']:.2g}  "
                     f"{'passes' if passes[row['outcome']] else 'fails'} Bonferroni")
    differ = primary.loc[primary["decision_differs"].astype(str).str.lower() == "true", "outcome"].tolist()
    lines.append(f"  Decided by the {lme['inference'].iloc[0]} LME convention; the other would change "
                 + (", ".join(differ) if differ else "no decision") + ".")
    lines.append("  Planted: limbic and DMN FC fall in every patient (negative time), sgACC-DMN falls more in "
                 "responders (negative time:response), visual FC does not change; edge-level, the limbic-DMN "
                 "subnetwork's FC falls in every patient." if planted else
                 "  Planted: no FC effect at all (--null): no imaging outcome should pass Bonferroni.")
    return "\n".join(lines)


def paired_changes(table: pd.DataFrame, measures) -> pd.DataFrame:
    """Per patient with pre and post sessions: post minus the mean of the pre sessions, and responder status."""
    t = table[table["participant_id"].str.startswith("sub-P")].copy()
    t["phase"] = np.where(t["session_id"].str.startswith("ses-pre"), "pre", "post")
    means = t.groupby(["participant_id", "phase"])[list(measures)].mean().unstack("phase")
    change = pd.DataFrame({m: means[(m, "post")] - means[(m, "pre")] for m in measures}).dropna()
    return change


def recovery(measured_path: Path, truth_path: Path) -> str:
    """Measured against planted paired FC changes of the patients (sessions the participant level included)."""
    from ketamine_fc.utils.derivatives import read_tsv

    measured = read_tsv(measured_path)
    measured = measured[measured["included"].astype(str).str.lower().isin(["true", "1"])]
    truth = read_tsv(truth_path)
    keys = set(zip(measured["participant_id"], measured["session_id"]))
    truth = truth[[k in keys for k in zip(truth["participant_id"], truth["session_id"])]]
    got, planted = paired_changes(measured, MEASURES), paired_changes(truth, MEASURES)
    got = got.reindex(planted.index).dropna()
    planted = planted.loc[got.index]
    responder = truth.drop_duplicates("participant_id").set_index("participant_id")["responder"].astype(str)
    responder = responder.reindex(got.index).str.lower() == "true"
    lines = ["", f"Measured vs planted FC change, post minus pre ({len(got)} patients; +/- one standard error: a "
             "small cohort of short runs measures with sampling noise):"]
    rows = [(name, m, slice(None)) for m, name in MEASURES.items()]
    rows.append(("sgACC-DMN, responders minus non-responders", "sgacc_dmn", "interaction"))
    for name, m, which in rows:
        if which == "interaction":
            a, b = got.loc[responder, m], got.loc[~responder, m]
            if len(a) < 2 or len(b) < 2:
                lines.append(f"  {name:<44s} not measured ({len(a)} responders, {len(b)} non-responders)")
                continue
            g, se = a.mean() - b.mean(), np.sqrt(a.var() / len(a) + b.var() / len(b))
            p = planted.loc[responder, m].mean() - planted.loc[~responder, m].mean()
        else:
            g, se, p = got[m].mean(), got[m].std() / np.sqrt(max(len(got), 1)), planted[m].mean()
        share = f"({100 * g / p:.0f} +/- {100 * se / abs(p):.0f} % of planted)" if abs(p) > 1e-6 else \
            "(nothing planted)"
        lines.append(f"  {name:<44s} measured {g:+.3f} +/- {se:.3f}  planted {p:+.3f}  {share}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
