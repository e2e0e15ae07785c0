"""``ketamine-fc-simulate OUTPUT_DIR``: write a simulated study (raw BIDS + fMRIPrep-style derivatives)."""

from __future__ import annotations

import argparse
import sys
import time

from ketamine_fc.simulate.design import Effects


def build_parser():
    p = argparse.ArgumentParser(prog="ketamine-fc-simulate", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("output_dir", help="empty folder for the study")
    p.add_argument("--n-patients", type=int, default=23)
    p.add_argument("--n-controls", type=int, default=27)
    p.add_argument("--n-frames", type=int, default=200)
    p.add_argument("--n-runs", type=int, default=1, help="runs per session")
    p.add_argument("--tr", type=float, default=2.0)
    p.add_argument("--space", choices=["MNI152NLin6Asym", "fsLR"], default="MNI152NLin6Asym",
                   help="MNI152NLin6Asym: BOLD volumes (*_space-MNI152NLin6Asym_res-<N>_desc-preproc_bold.nii.gz); "
                        "fsLR: CIFTI-2 dense time series on 91k-shaped grayordinates "
                        "(*_space-fsLR_den-91k_bold.dtseries.nii, as fMRIPrep's --cifti-output 91k; fs_LR 32k "
                        "cortex and the Harvard-Oxford subcortical structures at 2 mm, float32, about 0.3 MB "
                        "per frame)")
    p.add_argument("--resolution", type=int, choices=[2, 3, 4], default=2,
                   help="MNI152NLin6Asym grid in mm (res-2 91x109x91, res-3 61x73x61, res-4 46x55x46); with "
                        "--space fsLR, the grid of the volume run (not written) whose confounds go with the "
                        "dtseries")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--null", action="store_true", help="plant no FC effect (the clinical course stays)")
    p.add_argument("--null-clinical", action="store_true", help="with --null: no clinical course either (MADRS "
                   "does not improve; CGI-I, BPRS, side effects and volumes relate to nothing)")
    defaults = Effects()
    for name in ("baseline_excess", "limbic_decrease", "dmn_decrease", "sgacc_decrease_responder",
                 "sgacc_decrease_nonresponder", "limbic_dmn_decrease", "hippocampus_r", "between_sd"):
        p.add_argument("--effect-" + name.replace("_", "-"), dest=name, type=float, default=getattr(defaults, name))
    p.add_argument("--atlas-dir", help="atlas files (else KETAMINE_FC_DATA, cache, download)")
    p.add_argument("--nprocs", type=int, default=1, help="participants written in parallel (same output)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ketamine_fc.errors import KetamineFCError
    from ketamine_fc.simulate.writer import simulate_study

    if args.null_clinical and not args.null:
        print("ketamine-fc-simulate: error: --null-clinical goes with --null", file=sys.stderr)
        return 2
    effects = Effects.null(clinical=not args.null_clinical) if args.null else Effects(
        **{k: getattr(args, k) for k in Effects.__dataclass_fields__ if k != "clinical"})
    start = time.time()
    try:
        out = simulate_study(args.output_dir, n_patients=args.n_patients, n_controls=args.n_controls,
                             n_frames=args.n_frames, tr=args.tr, n_runs=args.n_runs, resolution=args.resolution,
                             seed=args.seed, effects=effects, atlas_dir=args.atlas_dir, overwrite=args.overwrite,
                             nprocs=args.nprocs, space=args.space,
                             progress=lambda msg: print(msg, flush=True))
    except KetamineFCError as err:
        print(f"ketamine-fc-simulate: error: {err}", file=sys.stderr)
        return 1
    print(f"Simulated study written to {out['bids_dir']} in {time.time() - start:.0f} s "
          f"(derivatives in {out['fmriprep']})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
