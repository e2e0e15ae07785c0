"""Settings: one frozen object built from defaults, a TOML file and the command line (which wins).

Defaults follow ``methods.md``; every value ends up in the outputs' JSON sidecars.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

from ketamine_fc.errors import InputError

SPACES = ("MNI152NLin6Asym", "MNI152NLin2009cAsym")
SGACC_PRESETS = {"core": (123, 280, 286), "extended": (117, 123, 125, 279, 280, 286)}


@dataclass(frozen=True)
class DenoiseParams:
    """Everything that decides how one run is censored and cleaned (recorded in sidecars)."""

    fd_thresh: float = 0.2
    fd_radius: float = 50.0
    motion_filter_type: str = "none"
    band_stop_min: float | None = None
    band_stop_max: float | None = None
    motion_filter_order: int = 4
    min_contig: int = 5
    dummy_scans: str | int = "auto"
    nuisance_regressors: str = "36P"
    bandpass: bool = True
    lower_bpf: float = 0.009
    upper_bpf: float = 0.08
    bpf_order: int = 2
    denoise_order: str = "regress-filter"
    detrend: bool = True
    subcortical_cleanup: bool = True
    adjacent_cortex_mm: float = 20.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AtlasParams:
    """How the regions are defined."""

    atlas_dir: str | None = None
    hippocampus_split_y: float = -21.0
    min_region_voxels: int = 3
    sgacc: tuple = SGACC_PRESETS["core"]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Settings:
    """The whole run: paths, selection, parameters and execution."""

    bids_dir: Path
    output_dir: Path
    analysis_level: str = "participant"
    fmriprep_dir: Path | None = None
    work_dir: Path | None = None
    participant_label: tuple = ()
    session_label: tuple = ()
    task: str = "rest"
    space: str = "MNI152NLin6Asym"
    res: str | None = None
    min_frames: int = 240
    min_time: float | None = None
    denoise: DenoiseParams = field(default_factory=DenoiseParams)
    atlas: AtlasParams = field(default_factory=AtlasParams)
    group: dict = field(default_factory=dict)
    fc_table: Path | None = None
    nprocs: int = 1
    mem_gb: float | None = None
    plugin: str | None = None
    plugin_args: dict = field(default_factory=dict)
    verbose: int = 0

    @property
    def derivatives(self) -> Path:
        return self.fmriprep_dir or (self.bids_dir / "derivatives" / "fmriprep")

    def min_frames_for(self, tr: float) -> int:
        """Minimum retained frames per session: ``--min-time`` (seconds) wins over ``--min-frames``."""
        if self.min_time is not None:
            return int(-(-self.min_time // tr))
        return int(self.min_frames)

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                value = value.to_dict()
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def parse_sgacc(value) -> tuple:
    """``core`` / ``extended`` / a comma-separated list of Gordon parcel numbers -> tuple of ints."""
    if isinstance(value, (list, tuple)):
        items = value
    elif str(value) in SGACC_PRESETS:
        return SGACC_PRESETS[str(value)]
    else:
        items = str(value).replace(" ", "").split(",")
    try:
        parcels = tuple(sorted({int(v) for v in items}))
    except ValueError:
        raise InputError(f"--sgacc must be 'core', 'extended' or parcel numbers like 123,280,286, got {value!r}")
    bad = [p for p in parcels if not 1 <= p <= 333]
    if bad or not parcels:
        raise InputError(f"--sgacc parcels must be Gordon parcel numbers 1-333, got {value!r}")
    return parcels


def load_toml(path) -> dict:
    """Read a settings file; keys use the long option names with ``-`` or ``_``."""
    path = Path(path)
    try:
        with open(path, "rb") as fobj:
            data = tomllib.load(fobj)
    except FileNotFoundError:
        raise InputError("the --config file does not exist", path=path)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"not a valid TOML file ({err})", path=path)
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):  # sections are only for readability
            flat.update({k.replace("-", "_"): v for k, v in value.items()})
        else:
            flat[key.replace("-", "_")] = value
    return flat


def dump_toml(settings: Settings, path) -> Path:
    """Write the settings actually used, as TOML, into the work directory (for the record)."""
    from ketamine_fc.utils.derivatives import atomic_path

    def fmt(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(fmt(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{k} = {fmt(v)}" for k, v in value.items() if v is not None) + " }"
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines, sections = [], []
    for key, value in settings.to_dict().items():
        if value is None:
            continue
        if isinstance(value, dict) and key in ("denoise", "atlas", "group"):
            sections.append((key, value))
        else:
            lines.append(f"{key} = {fmt(value)}")
    for name, section in sections:
        lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {fmt(v)}" for k, v in section.items() if v is not None)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path
