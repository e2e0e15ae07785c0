"""Settings: one vocabulary for the command line, the ``--config`` TOML, the sidecars and Python.

Every setting is a dataclass field whose metadata holds its flag, help text, converter and option group;
the parser (:mod:`ketamine_fc.cli.parser`) is built from these fields, so each default is written once,
here. A field is named after its flag (``--fd-thresh`` <-> ``fd_thresh``); the TOML keys and the
sidecars' ``Parameters`` use the same names. Defaults follow the methods reference (``methods.md``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

from ketamine_fc.core.confounds import STRATEGIES
from ketamine_fc.core.denoise import ORDERS, PADTYPES
from ketamine_fc.core.motion import MOTION_FILTERS
from ketamine_fc.errors import InputError

TEMPLATES = ("MNI152NLin6Asym", "MNI152NLin2009cAsym")
ATLAS_TEMPLATE = "MNI152NLin6Asym"  # the template the atlas images are defined in
#: surface spaces (CIFTI-2 grayordinates) and their one supported density: fMRIPrep's ``--cifti-output 91k``
#: (fs_LR 32k cortex + subcortical voxels at 2 mm in MNI152NLin6Asym)
SURFACE_SPACES = {"fsLR": "91k"}
#: the paper's atlas (``--atlas`` default; its name is the ``atlas-``/``seg-`` label of the outputs)
DEFAULT_ATLAS = "GordonSeitzman"


def _default_sgacc() -> tuple[dict, tuple]:
    """The sgACC presets and index range of the paper's atlas, read from its description (atlas_descriptions.toml;
    config imports no atlas code)."""
    from importlib import resources

    text = resources.files("ketamine_fc.data").joinpath("atlas_descriptions.toml").read_text(encoding="utf-8")
    gordon = tomllib.loads(text)["gordon333"]
    presets = {name: tuple(sorted(int(p) for p in parcels)) for name, parcels in gordon["sgacc"].items()}
    return presets, tuple(int(i) for i in gordon["table"]["expect_indices"])


SGACC_PRESETS, SGACC_RANGE = _default_sgacc()
TIMEPOINTS = ("baseline", "day1", "week2", "week4", "week6", "week8")

#: option groups: help title -> TOML section
SECTIONS = {"Selecting data": "selection", "Censoring": "censoring", "Denoising": "denoising",
            "Regions": "regions", "Session inclusion": "inclusion", "Group level": "group",
            "Execution": "execution"}


# ---------------------------------------------------------------------------------------------- converters
# Each takes a command-line string or a TOML value and returns the field's value, or raises ValueError.

def _float(value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def nonneg_float(value) -> float:
    number = _float(value)
    if not number >= 0:
        raise ValueError(f"must be >= 0, got {value}")
    return number


def positive_float(value) -> float:
    number = _float(value)
    if not number > 0:
        raise ValueError(f"must be > 0, got {value}")
    return number


def fraction(value) -> float:
    number = _float(value)
    if not 0 <= number <= 1:
        raise ValueError(f"must lie between 0 and 1, got {value}")
    return number


def open_fraction(value) -> float:
    number = _float(value)
    if not 0 < number <= 1:
        raise ValueError(f"must lie in (0, 1], got {value}")
    return number


def nonneg_int(value) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"expected a whole number, got {value!r}")
    number = int(value)
    if number < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return number


def positive_int(value) -> int:
    number = nonneg_int(value)
    if number < 1:
        raise ValueError(f"must be >= 1, got {value}")
    return number


def text(value) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError(f"expected text, got {value!r}")
    return str(value)


def boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def abs_path(value) -> Path:
    """A path made absolute against the current directory (Nipype runs every node in its own folder)."""
    return Path(str(value)).expanduser().absolute()


def derivatives_path(value) -> Path:
    """``fmriprep=PATH`` (the flag's form) or a plain path."""
    name, sep, path = str(value).partition("=")
    if sep and name != "fmriprep":
        raise ValueError(f"expected fmriprep=PATH, got {value!r}")
    return abs_path(path if sep else value)


def label(prefix):
    def convert(value) -> str:
        value = text(value).strip()
        return value[len(prefix):] if value.startswith(prefix) else value
    return convert


def dummy_scans(value):
    if str(value) == "auto":
        return "auto"
    try:
        return nonneg_int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be 'auto' or a number of frames >= 0, got {value!r}") from None


def space(value) -> str:
    """``TEMPLATE`` or ``TEMPLATE:res-N`` (MNI volumes), or ``fsLR`` / ``fsLR:den-91k`` (CIFTI grayordinates)."""
    template, _, res = text(value).partition(":")
    if template in SURFACE_SPACES:
        den = SURFACE_SPACES[template]
        if res and res != f"den-{den}":
            raise ValueError(f"{template} is read as fMRIPrep's den-{den} CIFTI grayordinates (--cifti-output {den}); "
                             f"got {res!r}")
        return template
    if template not in TEMPLATES:
        raise ValueError(f"{template} is not supported: the atlases are defined in MNI space "
                         f"({' or '.join(TEMPLATES)}) and on fs_LR ({', '.join(SURFACE_SPACES)})")
    if res and not (res.startswith("res-") and res[4:].strip()):
        raise ValueError(f"the resolution must be written res-N (e.g. {template}:res-2), got {res!r}")
    return text(value)


def sgacc(value) -> tuple:
    """``core`` / ``extended`` / Gordon parcel numbers (a comma-separated string or a list) -> sorted tuple."""
    if isinstance(value, (list, tuple)):
        if len(value) == 1 and str(value[0]) in SGACC_PRESETS:
            return SGACC_PRESETS[str(value[0])]
        items = value
    elif str(value) in SGACC_PRESETS:
        return SGACC_PRESETS[str(value)]
    else:
        items = str(value).replace(" ", "").split(",")
    try:
        parcels = tuple(sorted({int(v) for v in items}))
    except (TypeError, ValueError):
        raise ValueError(f"must be 'core', 'extended' or parcel numbers like 123,280,286, got {value!r}") from None
    first, last = SGACC_RANGE
    if not parcels or any(not first <= p <= last for p in parcels):
        raise ValueError(f"must be Gordon parcel numbers {first}-{last}, got {value!r}")
    return parcels


def json_dict(value) -> dict:
    if isinstance(value, dict):
        return dict(value)
    try:
        parsed = json.loads(str(value))
    except json.JSONDecodeError as err:
        raise ValueError(f"is not valid JSON ({err})") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"must be a JSON object such as '{{\"n_procs\": 2}}', got {value!r}")
    return parsed


# ---------------------------------------------------------------------------------------------- options

def option(default=None, help="", *, group, convert=text, flags=None, choices=None, nargs=None, action=None,
           metavar=None, factory=None, level="participant", processing=True, shown=None):
    """A settings field with its command-line description.

    Parameters
    ----------
    group : str
        Option group (help section and TOML section, see :data:`SECTIONS`).
    convert : callable
        Turns a command-line string or a TOML value into the field's value (raises ValueError).
    flags : list of str, optional
        Command-line flags; default ``--<name with dashes>``.
    action : {"store_true", "negatable", "count"}, optional
        Boolean switches (``negatable`` gives ``--x`` and ``--no-x``) and counters.
    level : {"participant", "group", "both"}
        The analysis level that uses the setting.
    processing : bool
        Whether it changes the outputs (recorded in sidecars, compared on reruns).
    shown : str, optional
        How the default reads in ``--help`` when the value alone would not say it (e.g. ``./work``).
    """
    meta = {"help": help, "group": group, "convert": convert, "flags": flags, "choices": choices, "nargs": nargs,
            "action": action, "metavar": metavar, "level": level, "processing": processing, "shown": shown}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def positional(help, convert=text, choices=None):
    return field(metadata={"help": help, "group": None, "convert": convert, "positional": True, "choices": choices,
                           "level": "both", "processing": False})


class _Params:
    def __post_init__(self):
        """Every value goes through its setting's converter, as on the command line (``"0.3"`` becomes 0.3,
        ``"extended"`` the sgACC parcels, ``ses-pre1`` the label ``pre1``)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            try:
                object.__setattr__(self, f.name, convert_value(dict(f.metadata, name=f.name), value))
            except (TypeError, ValueError) as err:
                raise InputError(f"--{f.name.replace('_', '-')}: {err}") from None

    def to_dict(self) -> dict:
        """JSON-ready values by name (tuples as lists, paths as text)."""
        return _plain(dataclasses.asdict(self))


CENSOR, DENOISE, REGIONS, INCLUDE, GROUP, SELECT, EXEC = ("Censoring", "Denoising", "Regions", "Session inclusion",
                                                          "Group level", "Selecting data", "Execution")


@dataclass(frozen=True)
class DenoiseParams(_Params):
    """How each run is censored and cleaned (methods.md rows 1-10 and 14)."""

    fd_thresh: float = option(0.2, "framewise-displacement censoring threshold in mm (Power et al. 2014); 0 "
                              "disables FD censoring", group=CENSOR, convert=nonneg_float)
    head_radius: float = option(50.0, "head radius in mm turning rotations into displacement for FD (fMRIPrep and "
                                "XCP-D use 50)", group=CENSOR, convert=positive_float)
    motion_filter_type: str = option("none", "filter the motion parameters before FD, for respiration-contaminated "
                                     "traces: notch (Fair 2020) or lp low-pass (Gratton 2020)", group=CENSOR,
                                     choices=MOTION_FILTERS)
    band_stop_min: float | None = option(None, "lower breathing rate (breaths per minute) of the notch filter, or the "
                                         "low-pass cutoff", group=CENSOR, convert=positive_float, metavar="BPM")
    band_stop_max: float | None = option(None, "upper breathing rate (breaths per minute) of the notch filter",
                                         group=CENSOR, convert=positive_float, metavar="BPM")
    motion_filter_order: int = option(4, "order of the motion filter", group=CENSOR, convert=positive_int)
    min_contig: int = option(5, "also censor retained segments shorter than this many frames (Power et al. 2014); "
                             "0 disables", group=CENSOR, convert=nonneg_int)
    dummy_scans: str | int = option("auto", "initial frames to drop: 'auto' (fMRIPrep's non_steady_state_outlier "
                                    "columns) or a number", group=CENSOR, convert=dummy_scans, metavar="auto|N")
    motion_regressors: str = option("filtered", "with --motion-filter-type, the motion regressors of the design: "
                                    "the filtered motion parameters with their derivatives and squares recomputed "
                                    "(XCP-D) or the raw ones of the confounds file", group=DENOISE,
                                    choices=("filtered", "raw"))
    nuisance_regressors: str = option("36P", "nuisance-regression strategy (XCP-D's definitions); see "
                                      "ketamine_fc/data/nuisance/", group=DENOISE, choices=STRATEGIES)
    disable_bandpass_filter: bool = option(False, "do not band-pass filter", group=DENOISE, convert=boolean,
                                           action="store_true")
    lower_bpf: float = option(0.009, "high-pass cutoff of the band-pass filter (Hz); 0 disables", group=DENOISE,
                              convert=nonneg_float)
    upper_bpf: float = option(0.08, "low-pass cutoff of the band-pass filter (Hz); 0 disables", group=DENOISE,
                              convert=nonneg_float)
    bpf_order: int = option(2, "Butterworth filter order (applied forward and back)", group=DENOISE,
                            convert=positive_int)
    bpf_padtype: str = option("constant", "padding of the band-pass filter at the run edges (XCP-D: constant, "
                              "the edge value)", group=DENOISE, choices=PADTYPES)
    bpf_padlen: int | None = option(None, "frames of padding at each edge", group=DENOISE, convert=nonneg_int,
                                    shown="T - 1, the most possible", metavar="FRAMES")
    denoise_order: str = option("filter-regress", "filter-regress (XCP-D's algorithm): interpolate censored frames of "
                                "data and regressors, detrend, band-pass both alike, then regress on the retained "
                                "frames; regress-filter: regress on the retained frames first (with intercept and "
                                "trend), then interpolate and band-pass the residuals", group=DENOISE, choices=ORDERS)
    detrend: bool = option(True, "remove a linear trend (filter-regress: from data and regressors before "
                           "filtering; regress-filter: a trend column in the regression)", group=DENOISE,
                           convert=boolean, action="negatable")
    subcortical_cleanup: bool = option(True, "regress the mean cortical signal within --adjacent-cortex-mm out of "
                                       "every subcortical voxel", group=DENOISE, convert=boolean, action="negatable")
    adjacent_cortex_mm: float = option(20.0, "radius (mm) of the adjacent cortex for the subcortical cleanup",
                                       group=DENOISE, convert=positive_float)

    def __post_init__(self):
        super().__post_init__()
        if self.motion_filter_type != "none" and self.band_stop_min is None:
            raise InputError(f"--motion-filter-type {self.motion_filter_type} needs --band-stop-min (breaths per "
                             "minute)")
        if self.motion_filter_type == "notch" and (self.band_stop_max is None
                                                   or self.band_stop_max <= self.band_stop_min):
            raise InputError("--motion-filter-type notch needs --band-stop-max above --band-stop-min")
        if self.bandpass and 0 < self.upper_bpf <= self.lower_bpf:
            raise InputError(f"--lower-bpf ({self.lower_bpf} Hz) must be below --upper-bpf ({self.upper_bpf} Hz)")

    @property
    def bandpass(self) -> bool:
        return not self.disable_bandpass_filter

    def censoring(self) -> dict:
        """Keyword arguments of :func:`ketamine_fc.core.censoring.censoring_table`."""
        return {k: getattr(self, k) for k in ("fd_thresh", "head_radius", "motion_filter_type", "band_stop_min",
                                              "band_stop_max", "motion_filter_order", "min_contig", "dummy_scans")}


@dataclass(frozen=True)
class AtlasParams(_Params):
    """How the regions are defined and when a region counts as covered by the brain mask (methods.md 3)."""

    sgacc: tuple = option(SGACC_PRESETS["core"], "sgACC parcels: 'core' (123,280,286), 'extended' (adds "
                          "117,125,279) or Gordon parcel numbers separated by commas", group=REGIONS, convert=sgacc,
                          metavar="core|extended|N,N,...", shown="core (123,280,286)")
    hippocampus_split_y: float = option(-21.0, "MNI y (mm) dividing anterior from posterior hippocampus",
                                        group=REGIONS, convert=_float)
    min_region_voxels: int = option(3, "regions with fewer voxels inside the brain mask are n/a", group=REGIONS,
                                    convert=positive_int)
    min_region_coverage: float = option(0.5, "regions with a smaller fraction of their atlas voxels inside the "
                                        "brain mask are n/a (XCP-D's --min-coverage for parcels)", group=REGIONS,
                                        convert=fraction)
    atlas_dir: Path | None = option(None, "directory holding the atlas files (else $KETAMINE_FC_DATA, the cache, "
                                    "or a verified download) and further atlas descriptions (NAME.atlas.toml)",
                                    group=REGIONS, convert=abs_path, metavar="DIR", processing=False)
    atlas: str = option(DEFAULT_ATLAS, "the atlas: a description of ketamine_fc/data/atlas_descriptions.toml or a "
                        "NAME.atlas.toml in --atlas-dir or $KETAMINE_FC_ATLASES; it names the outputs (atlas-NAME, "
                        "seg-NAME). sgACC presets are the atlas's own", group=REGIONS, convert=text, metavar="NAME",
                        processing=False)


@dataclass(frozen=True)
class InclusionParams(_Params):
    """When a session enters the group analysis."""

    min_frames: int = option(240, "sessions with fewer retained frames are excluded from the group analysis "
                             "(4dfp default)", group=INCLUDE, convert=nonneg_int)
    min_time: float | None = option(None, "the same threshold in seconds (wins over --min-frames)", shown="not used", group=INCLUDE,
                                    convert=nonneg_float, metavar="SECONDS")
    min_coverage: float = option(0.5, "sessions that keep a smaller fraction of the regions of the sgACC, DMN, "
                                 "limbic or visual set are excluded", group=INCLUDE, convert=fraction)

    def min_frames_for(self, tr: float) -> int:
        """Minimum retained frames per session: ``min_time`` (seconds) wins over ``min_frames``."""
        if self.min_time is not None:
            return int(-(-self.min_time // tr))
        return int(self.min_frames)


@dataclass(frozen=True)
class GroupParams(_Params):
    """How participants, sessions and timepoints map onto the paper's analyses (methods.md section 1)."""

    patient_group: str = option("patient", "participants.tsv group label of the patients", group=GROUP,
                                level="group")
    control_group: str = option("control", "participants.tsv group label of the controls", group=GROUP,
                                level="group")
    baseline_timepoint: str = option("baseline", "MADRS baseline timepoint", group=GROUP, level="group")
    response_timepoint: str = option("week2", "MADRS timepoint defining response (and the responder groups)",
                                     group=GROUP, level="group")
    timepoints: tuple = option(TIMEPOINTS, "reporting order of the MADRS timepoints (others are appended)",
                               group=GROUP, nargs="+", level="group")
    pre_sessions: tuple | None = option(None, "session labels counted as pre", shown="labels starting with 'pre'",
                                        group=GROUP, nargs="+", level="group", convert=label("ses-"))
    post_sessions: tuple | None = option(None, "session labels counted as post",
                                         shown="labels starting with 'post'", group=GROUP, nargs="+", level="group", convert=label("ses-"))
    cohens_d: str = option("dz", "effect size of the MADRS change: dz (the paper's), av or pooled", group=GROUP,
                           choices=("dz", "av", "pooled"), level="group")
    lme_inference: str = option("paper", "which LME convention decides the primary outcomes (both are always in "
                                "lme.tsv): paper (ML fit, residual DF n_obs - 3, MATLAB fitlme's defaults, as the "
                                "paper; 7.0-7.4 % false positives at p < .05 on its design) or satterthwaite (REML fit, "
                                "Satterthwaite DF, lmerTest's; 5.2-6.0 %)", group=GROUP,
                                choices=("paper", "satterthwaite"), level="group")
    response_coding: str = option("responder", "which patients have response = 1 in time:response: responder (a "
                                  "larger fall in responders is a negative estimate) or nonresponder (the sign the "
                                  "paper's positive sgACC-DMN T implies)", group=GROUP,
                                  choices=("responder", "nonresponder"), level="group")
    measures: tuple | None = option(None, "FC columns analysed", shown="dmn sgacc_dmn limbic visual and any "
                                    "further numeric column", group=GROUP, nargs="+", level="group")
    alpha: float = option(0.05, "family-wise alpha of the primary outcomes", group=GROUP, convert=open_fraction,
                          level="group")
    n_primary: int = option(8, "number of primary outcomes (Bonferroni threshold alpha / n)", group=GROUP,
                            convert=positive_int, level="group")
    response_threshold: float = option(0.5, "response = MADRS reduction of at least this fraction", group=GROUP,
                                       convert=open_fraction, level="group")
    remission_cutoff: float = option(10.0, "remission = MADRS below this score", group=GROUP,
                                     convert=positive_float, level="group")
    limbic_edge_threshold_p: float = option(0.1, "the limbic change matrix figure shows t where p is below this",
                                            group=GROUP, convert=open_fraction, level="group")
    nbs_threshold: float = option(3.0, "primary threshold on the edge-wise LME t of the network-based statistic "
                                  "(Zalesky et al. 2010; positive and negative components tested apart)",
                                  group=GROUP, convert=positive_float, level="group")
    nbs_permutations: int = option(5000, "permutations of the network-based statistic (0 skips the whole-"
                                   "connectome statistics)", group=GROUP, convert=nonneg_int, level="group")
    seed: int = option(0, "seed of the permutations (a rerun with the same seed is identical)", group=GROUP,
                       convert=nonneg_int, level="group")

    def is_pre(self, session: str) -> bool:
        lab = str(session).removeprefix("ses-")
        return lab in set(self.pre_sessions) if self.pre_sessions else lab.startswith("pre")

    def is_post(self, session: str) -> bool:
        lab = str(session).removeprefix("ses-")
        return lab in set(self.post_sessions) if self.post_sessions else lab.startswith("post")


@dataclass(frozen=True)
class Settings:
    """One invocation: paths, selection, every parameter and the execution options."""

    bids_dir: Path = positional("raw BIDS dataset (participants.tsv, phenotype/, sessions)", abs_path)
    output_dir: Path = positional("where the derivatives are written", abs_path)
    analysis_level: str = positional("processing stage", choices=("participant", "group"))
    derivatives: Path | None = option(None, "fMRIPrep derivatives", shown="BIDS_DIR/derivatives/fmriprep",
                                      group=SELECT, convert=derivatives_path, metavar="fmriprep=PATH", level="both",
                                      processing=False)
    participant_label: tuple = option((), "participants to process", shown="all", group=SELECT, nargs="+",
                                      flags=["--participant-label", "--participant_label"], convert=label("sub-"),
                                      metavar="LABEL", processing=False)
    session_label: tuple = option((), "sessions to process", shown="all", group=SELECT, nargs="+",
                                  convert=label("ses-"), metavar="LABEL", processing=False)
    task: str = option("rest", "task label of the resting-state runs", group=SELECT)
    space: str = option("MNI152NLin6Asym", f"fMRIPrep output space: {' or '.join(TEMPLATES)} (volumes), optionally "
                        "with a resolution (e.g. MNI152NLin6Asym:res-2), or fsLR: the CIFTI-2 dense time series on "
                        "fs_LR 91k grayordinates (*_space-fsLR_den-91k_bold.dtseries.nii, fMRIPrep's --cifti-output "
                        "91k), Gordon parcels on the cortical surface", group=SELECT, convert=space)
    allow_template_mismatch: bool = option(False, f"use the atlases, defined in {ATLAS_TEMPLATE}, on BOLD in another "
                                           "template (MNI152NLin2009cAsym) without a transform: regions sit a few mm "
                                           "off; recorded in every sidecar and the report. The better fix is fMRIPrep's "
                                           f"--output-spaces {ATLAS_TEMPLATE}:res-2", group=SELECT, convert=boolean,
                                           action="store_true")
    denoise: DenoiseParams = field(default_factory=DenoiseParams)
    atlas: AtlasParams = field(default_factory=AtlasParams)
    inclusion: InclusionParams = field(default_factory=InclusionParams)
    group: GroupParams = field(default_factory=GroupParams)
    fc_table: Path | None = option(None, "network-measure table to analyse instead of the participant-level outputs",
                                   group=GROUP, convert=abs_path, metavar="TSV", level="group", processing=False)
    work_dir: Path | None = option(None, "working directory; rerun with the same one to resume", shown="./work",
                                   group=EXEC, flags=["-w", "--work-dir"], convert=abs_path, metavar="DIR",
                                   level="both", processing=False)
    nprocs: int = option(1, "processes for Nipype's MultiProc plugin", group=EXEC, convert=positive_int,
                         level="both", processing=False)
    mem_gb: float | None = option(None, "memory limit for MultiProc (GB)", group=EXEC, convert=positive_float,
                                  level="both", processing=False)
    plugin: str | None = option(None, "Nipype plugin: Linear, MultiProc, SLURM, SGE, ...",
                                shown="MultiProc when --nprocs > 1, else Linear", group=EXEC, level="both", processing=False)
    plugin_args: dict = option(None, "JSON object passed to the plugin, e.g. '{\"sbatch_args\": \"-p normal\"}'",
                               group=EXEC, convert=json_dict, factory=dict, level="both", processing=False)
    overwrite: bool = option(False, "replace outputs that OUTPUT_DIR holds from a run with other settings (by "
                             "default such a rerun stops and lists the differences)", group=EXEC, convert=boolean,
                             action="store_true", level="both", processing=False)
    verbose: int = option(0, "more output on the console (-vv adds Nipype's)", group=EXEC,
                          flags=["-v", "--verbose"], convert=nonneg_int, action="count", level="both",
                          processing=False)

    @property
    def fmriprep_dir(self) -> Path:
        return self.derivatives or (self.bids_dir / "derivatives" / "fmriprep")

    @property
    def template(self) -> str:
        return self.space.partition(":")[0]

    @property
    def surface(self) -> bool:
        """Whether the runs are CIFTI-2 grayordinates (``--space fsLR``) rather than MNI volumes."""
        return self.template in SURFACE_SPACES

    @property
    def den(self) -> str | None:
        """The grayordinate density of a surface space (``91k``), else None."""
        return SURFACE_SPACES.get(self.template)

    @property
    def template_mismatch(self) -> str | None:
        """A sentence for the sidecars when the atlases are used on BOLD of another template, else None."""
        if self.template == ATLAS_TEMPLATE or self.surface:
            return None
        return (f"the atlases, defined in {ATLAS_TEMPLATE}, were used on BOLD in {self.template} without a "
                "template-to-template transform (--allow-template-mismatch): regions can sit a few mm off")

    @property
    def res(self) -> str | None:
        if self.surface:
            return None
        return self.space.partition(":")[2].removeprefix("res-") or None

    def parameters(self, level: str = "participant") -> dict:
        """The settings that shape the outputs of ``level``, by name (the sidecars' ``Parameters``)."""
        return _plain({spec["name"]: value for spec, value in zip(option_list(), flat_values(self))
                       if spec["processing"] and spec["level"] in (level, "both")})

    def to_dict(self) -> dict:
        """Every setting by name, JSON-ready."""
        return _plain({spec["name"]: value for spec, value in zip(option_list(), flat_values(self))})


# ---------------------------------------------------------------------------------------------- flat view

NESTED = {"denoise": DenoiseParams, "atlas": AtlasParams, "inclusion": InclusionParams, "group": GroupParams}


def option_list() -> list[dict]:
    """Every setting in parser order: its metadata plus ``name`` (flat) and ``path`` (attribute chain)."""
    out = []
    for f in fields(Settings):
        if f.name in NESTED:
            out += [dict(g.metadata, name=g.name, path=(f.name, g.name), field=g) for g in fields(NESTED[f.name])]
        else:
            out.append(dict(f.metadata, name=f.name, path=(f.name,), field=f))
    return out


def flat_values(settings: Settings) -> list:
    values = []
    for spec in option_list():
        obj = settings
        for attr in spec["path"]:
            obj = getattr(obj, attr)
        values.append(obj)
    return values


def default_of(spec: dict):
    f = spec["field"]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def convert_value(spec: dict, value):
    """Apply a setting's converter (element-wise for lists); ValueError names nothing, the caller does."""
    convert = spec.get("convert") or text
    if spec.get("nargs"):
        if spec["name"] == "sgacc":
            return convert(value)
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(convert(v) for v in items)
    if spec.get("choices") is not None:
        value = text(value)
        if value not in spec["choices"]:
            raise ValueError(f"must be one of {', '.join(map(str, spec['choices']))}, got {value!r}")
        return value
    return convert(value)


def settings_from_values(values: dict) -> Settings:
    """Settings from flat ``name -> value`` (already converted); missing names take their defaults."""
    specs = {spec["name"]: spec for spec in option_list()}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(unknown)}")
    top, nested = {}, {key: {} for key in NESTED}
    for name, value in values.items():
        path = specs[name]["path"]
        (nested[path[0]] if len(path) == 2 else top)[path[-1]] = value
    for key, cls in NESTED.items():
        top[key] = cls(**nested[key])
    return Settings(**top)


def replace(settings: Settings, **changes) -> Settings:
    """A copy with some settings changed, by flat name."""
    values = {spec["name"]: value for spec, value in zip(option_list(), flat_values(settings))}
    values.update(changes)
    return settings_from_values(values)


def _plain(value):
    if dataclasses.is_dataclass(value):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# ---------------------------------------------------------------------------------------------- TOML

def load_toml(path) -> dict:
    """Read a settings file into flat ``name -> converted value``.

    Keys are the setting names (the long flags with ``_`` or ``-``); tables named after the option groups
    (``[censoring]``, ``[group]`` ...) are only for readability. An unknown key, or a value its setting does not
    accept, is an :class:`InputError` naming the file and the key.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fobj:
            data = tomllib.load(fobj)
    except FileNotFoundError:
        raise InputError("the --config file does not exist", path=path) from None
    except IsADirectoryError:
        raise InputError("the --config path is a directory, not a TOML file", path=path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"not a valid TOML file ({err})", path=path) from None
    specs = {spec["name"]: spec for spec in option_list()}
    flat = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in specs and name in SECTIONS.values() and isinstance(value, dict):
            flat.update({k.replace("-", "_"): v for k, v in value.items()})
        else:
            flat[name] = value
    unknown = sorted(set(flat) - set(specs))
    if unknown:
        hints = [f"{u} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(u, specs, 1)) else u
                 for u in unknown]
        raise InputError(f"unknown setting(s) {', '.join(hints)}", path=path)
    out = {}
    for name, value in flat.items():
        try:
            out[name] = convert_value(specs[name], value)
        except (TypeError, ValueError) as err:
            raise InputError(f"setting {name}: {err}", path=path) from None
    return out


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return _toml_value(json.dumps(value, sort_keys=True))
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def dump_toml(settings: Settings, header: str = "") -> str:
    """The complete settings as TOML that ``--config`` reads back (unset options and ``--overwrite`` and
    ``--verbose``, which act on one invocation only, are left out)."""
    by_section: dict = {}
    for spec, value in zip(option_list(), flat_values(settings)):
        if value is None or spec["name"] in ("verbose", "overwrite"):  # per-invocation actions
            continue
        section = "paths" if spec.get("positional") else SECTIONS[spec["group"]]
        by_section.setdefault(section, []).append(f"{spec['name']} = {_toml_value(_plain(value))}")
    lines = [f"# {line}" for line in header.splitlines()]
    for section in ["paths", *SECTIONS.values()]:
        if section not in by_section:
            continue
        if section == "paths":
            lines += ["# the command line's BIDS_DIR, OUTPUT_DIR and analysis level win over these"]
            lines += by_section[section]
        else:
            lines += ["", f"[{section}]", *by_section[section]]
    return "\n".join(lines) + "\n"

