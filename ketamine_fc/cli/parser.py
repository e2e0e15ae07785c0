"""Command-line parser (BIDS-App shape) and its translation into :class:`ketamine_fc.config.Settings`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ketamine_fc import __version__
from ketamine_fc.config import SPACES, AtlasParams, DenoiseParams, Settings, load_toml, parse_sgacc
from ketamine_fc.errors import InputError

NUISANCE = ("36P", "24P", "27P", "acompcor", "none")


def _positive_float(value):
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def _dummy(value):
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number of frames, got {value!r}")
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return n


def _derivatives(value):
    name, sep, path = value.partition("=")
    if not sep or name != "fmriprep":
        raise argparse.ArgumentTypeError(f"expected fmriprep=PATH, got {value!r}")
    return Path(path)


def build_parser() -> argparse.ArgumentParser:
    """The ``ketamine-fc`` parser; every long option can also be a key of the ``--config`` TOML file."""
    p = argparse.ArgumentParser(
        prog="ketamine-fc",
        description="Resting-state FC before and after treatment (Siegel et al. 2021) from fMRIPrep derivatives.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("bids_dir", type=Path, help="raw BIDS dataset (participants.tsv, phenotype/, sessions)")
    p.add_argument("output_dir", type=Path, help="where the derivatives are written")
    p.add_argument("analysis_level", choices=["participant", "group"], help="processing stage")
    p.add_argument("--version", action="version", version=f"ketamine-fc {__version__}")
    p.add_argument("--config", type=Path, help="TOML file with any of the options below (the command line wins)")

    g = p.add_argument_group("Selecting data")
    g.add_argument("--derivatives", type=_derivatives, metavar="fmriprep=PATH",
                   help="fMRIPrep derivatives (default: BIDS_DIR/derivatives/fmriprep)")
    g.add_argument("--participant-label", "--participant_label", nargs="+", default=[], metavar="LABEL")
    g.add_argument("--session-label", nargs="+", default=[], metavar="LABEL")
    g.add_argument("--task", default="rest", help="task label of the resting-state runs")
    g.add_argument("--space", default="MNI152NLin6Asym", help=f"output space of fMRIPrep: {', '.join(SPACES)}; "
                   "add :res-N to pick a resolution (e.g. MNI152NLin6Asym:res-2)")

    g = p.add_argument_group("Censoring (methods.md rows 1-6)")
    g.add_argument("--fd-thresh", type=_positive_float, default=0.2, help="FD censoring threshold in mm; 0 disables")
    g.add_argument("--head-radius", type=float, default=50.0, help="head radius (mm) for rotational FD")
    g.add_argument("--motion-filter-type", choices=["none", "notch", "lp"], default="none",
                   help="filter the motion parameters before FD (respiration-contaminated traces)")
    g.add_argument("--band-stop-min", type=float, help="lower breathing rate (breaths/min) for notch; cutoff for lp")
    g.add_argument("--band-stop-max", type=float, help="upper breathing rate (breaths/min) for notch")
    g.add_argument("--motion-filter-order", type=int, default=4)
    g.add_argument("--min-contig", type=int, default=5, help="censor retained segments shorter than this")
    g.add_argument("--dummy-scans", type=_dummy, default="auto",
                   help="initial frames to drop: 'auto' (fMRIPrep non_steady_state_outlier) or a number")
    g.add_argument("--min-frames", type=int, default=240,
                   help="sessions with fewer retained frames are flagged and excluded from group analysis")
    g.add_argument("--min-time", type=float, help="the same threshold in seconds (wins over --min-frames)")

    g = p.add_argument_group("Denoising (methods.md rows 7-10, 14)")
    g.add_argument("--nuisance-regressors", choices=NUISANCE, default="36P")
    g.add_argument("--lower-bpf", type=float, default=0.009, help="high-pass cutoff (Hz)")
    g.add_argument("--upper-bpf", type=float, default=0.08, help="low-pass cutoff (Hz)")
    g.add_argument("--bpf-order", type=int, default=2, help="Butterworth filter order (applied forward and back)")
    g.add_argument("--disable-bandpass-filter", action="store_true")
    g.add_argument("--denoise-order", choices=["regress-filter", "filter-regress"], default="regress-filter")
    g.add_argument("--no-subcortical-cleanup", action="store_true",
                   help="do not regress adjacent cortical signal out of subcortical voxels")
    g.add_argument("--adjacent-cortex-mm", type=float, default=20.0)

    g = p.add_argument_group("Regions (methods.md section 3)")
    g.add_argument("--sgacc", default="core", help="'core' (123,280,286), 'extended', or Gordon parcel numbers")
    g.add_argument("--hippocampus-split-y", type=float, default=-21.0, help="MNI y (mm) splitting hippocampus")
    g.add_argument("--min-region-voxels", type=int, default=3, help="fewer voxels -> region reported as n/a")
    g.add_argument("--atlas-dir", help="directory holding the atlas files (else KETAMINE_FC_DATA, cache, download)")

    g = p.add_argument_group("Group level (issue: group statistics)")
    g.add_argument("--fc-table", type=Path, help="network-measure table to use instead of participant outputs")
    g.add_argument("--patient-group", default="patient")
    g.add_argument("--control-group", default="control")
    g.add_argument("--baseline-timepoint", default="baseline")
    g.add_argument("--response-timepoint", default="week2")
    g.add_argument("--pre-sessions", nargs="+", help="session labels counted as pre (default: starting with 'pre')")
    g.add_argument("--post-sessions", nargs="+", help="session labels counted as post (default: starting 'post')")
    g.add_argument("--cohens-d", choices=["dz", "av", "pooled"], default="dz")
    g.add_argument("--lme-df", choices=["residual", "satterthwaite"], default="residual")
    g.add_argument("--lme-fit", choices=["ml", "reml"], default="ml")

    g = p.add_argument_group("Execution")
    g.add_argument("-w", "--work-dir", type=Path, help="working directory; reuse it to resume")
    g.add_argument("--nprocs", type=int, default=1, help="processes for MultiProc")
    g.add_argument("--mem-gb", type=float, help="memory limit for MultiProc (GB)")
    g.add_argument("--plugin", help="Nipype plugin: Linear, MultiProc, SLURM, SGE, ... (default: MultiProc "
                   "when --nprocs > 1, else Linear)")
    g.add_argument("--plugin-args", default="{}", help="JSON dict passed to the plugin, e.g. '{\"sbatch_args\": "
                   "\"-p normal\"}'")
    g.add_argument("-v", "--verbose", action="count", default=0, help="more output (-vv for Nipype's)")
    return p


GROUP_KEYS = ("patient_group", "control_group", "baseline_timepoint", "response_timepoint", "pre_sessions",
              "post_sessions", "cohens_d", "lme_df", "lme_fit")


def parse_args(argv=None) -> Settings:
    """Parse the command line (and ``--config``) into frozen settings."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        values = load_toml(args.config)
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown option(s) {', '.join(unknown)} in the config file", path=args.config)
        parser.set_defaults(**values)
        args = parser.parse_args(argv)
    return settings_from_args(args)


def _space(value):
    space, _, res = value.partition(":")
    if space not in SPACES:
        raise InputError(f"--space {space} is not supported: the atlases are defined in MNI space "
                         f"({' or '.join(SPACES)})")
    return space, (res.replace("res-", "") or None)


def settings_from_args(args) -> Settings:
    space, res = _space(args.space)
    try:
        plugin_args = json.loads(args.plugin_args) if isinstance(args.plugin_args, str) else dict(args.plugin_args)
    except json.JSONDecodeError as err:
        raise InputError(f"--plugin-args is not valid JSON ({err})")
    denoise = DenoiseParams(
        fd_thresh=args.fd_thresh, fd_radius=args.head_radius, motion_filter_type=args.motion_filter_type,
        band_stop_min=args.band_stop_min, band_stop_max=args.band_stop_max,
        motion_filter_order=args.motion_filter_order, min_contig=args.min_contig, dummy_scans=args.dummy_scans,
        nuisance_regressors=args.nuisance_regressors, bandpass=not args.disable_bandpass_filter,
        lower_bpf=args.lower_bpf, upper_bpf=args.upper_bpf, bpf_order=args.bpf_order,
        denoise_order=args.denoise_order, subcortical_cleanup=not args.no_subcortical_cleanup,
        adjacent_cortex_mm=args.adjacent_cortex_mm,
    )
    atlas = AtlasParams(atlas_dir=args.atlas_dir, hippocampus_split_y=args.hippocampus_split_y,
                        min_region_voxels=args.min_region_voxels, sgacc=parse_sgacc(args.sgacc))
    return Settings(
        bids_dir=args.bids_dir.absolute(), output_dir=args.output_dir.absolute(), analysis_level=args.analysis_level,
        fmriprep_dir=args.derivatives.absolute() if args.derivatives else None,
        work_dir=args.work_dir.absolute() if args.work_dir else None,
        participant_label=tuple(args.participant_label), session_label=tuple(args.session_label), task=args.task,
        space=space, res=res, min_frames=args.min_frames, min_time=args.min_time, denoise=denoise, atlas=atlas,
        group={k: getattr(args, k) for k in GROUP_KEYS}, fc_table=args.fc_table.absolute() if args.fc_table else None,
        nprocs=args.nprocs, mem_gb=args.mem_gb, plugin=args.plugin, plugin_args=plugin_args, verbose=args.verbose,
    )
