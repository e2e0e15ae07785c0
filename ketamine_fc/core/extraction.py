"""What one read of a run hands on: :class:`ExtractedSignals`, the typed contract between reading and cleaning.

Both readers produce it: the volume reader (a NIfTI BOLD streamed through the brain mask,
:func:`ketamine_fc.utils.signals.extract_volume`) and the surface reader (a CIFTI-2 dtseries on fs_LR 91k
grayordinates, :func:`ketamine_fc.utils.signals.extract_cifti`). Cleaning
(:func:`ketamine_fc.core.regions.denoise_run`) and the report take it and nothing else, through its fields.

Between Nipype nodes it travels as one ``.npz`` file (:meth:`ExtractedSignals.save` / :meth:`ExtractedSignals.load`):
the arrays under their field names plus a JSON record of the scalar fields and the format (``schema``,
``version``). :meth:`~ExtractedSignals.load` checks all of it and says what is wrong; nobody reads the file by
string keys. This is the only file access of :mod:`ketamine_fc.core`: the serialisation of its own contract.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ketamine_fc.errors import InputError

SCHEMA = "ketamine-fc extracted signals"
VERSION = 1
#: the two readers: ``volume`` (positions are flat Fortran-order voxel indices of a 3-D grid) and ``cifti``
#: (positions are grayordinate columns of a dense CIFTI file)
KINDS = ("volume", "cifti")
#: the per-frame arrays (rows = frames): what dropping frames slices
FRAME_FIELDS = ("region_means", "sub_adjacent", "sub_voxels", "sample")
#: arrays and their dtypes, in file order
ARRAYS = {"region_index": np.int64, "region_means": np.float64, "region_voxels": np.int64,
          "atlas_voxels": np.int64, "region_tsnr": np.float64, "sub_region": np.int64, "sub_has_cortex": bool,
          "sub_voxels": np.float32, "sub_adjacent": np.float64, "sample": np.float32, "mean": np.float32,
          "positions": np.int64}
#: scalar fields, kept in the JSON record
SCALARS = ("kind", "space", "tr", "brain_tsnr", "grid_shape", "affine", "source")
_META = "__meta__"


def _empty(*shape, dtype=np.float64):
    return field(default_factory=lambda: np.zeros(shape, dtype=dtype))


@dataclass(frozen=True, eq=False)
class ExtractedSignals:
    """The raw signals of one run, reduced while it was read (T frames, R regions).

    Regions are the rows of the atlas table, in its order (``region_index`` = its ``index`` column). The
    subcortical positions cleaned one by one (the adjacent-cortex regression) and the DVARS sample are kept
    individually; everything else is already averaged.

    Attributes
    ----------
    kind : {"volume", "cifti"}
        Which reader produced it.
    space : str
        The space of the input (``MNI152NLin6Asym``; ``fsLR`` for 91k grayordinates).
    tr : float
        Repetition time in seconds.
    region_index : (R,) int
        Region index of each column (the atlas table's ``index``).
    region_means : (T, R) float64
        Raw mean of each region over its voxels (grayordinates) inside the brain mask, every frame.
    region_voxels, atlas_voxels : (R,) int
        Voxels (grayordinates) of each region inside the brain mask and on the whole grid (coverage).
        A CIFTI file has no mask: a grayordinate counts as inside when its series is not constant.
    region_tsnr : (R,) float64
        Mean temporal SNR of the region's voxels.
    brain_tsnr : float
        Median temporal SNR over every voxel read (NaN when none).
    sub_region : (n_sub,) int
        Row (0..R-1) of the region each individually kept subcortical voxel belongs to.
    sub_has_cortex : (n_sub,) bool
        Whether cortex lies within the adjacent-cortex radius of it.
    sub_voxels : (T, n_sub) float32
        Raw series of those subcortical voxels.
    sub_adjacent : (T, n_sub) float64
        Raw mean of the cortex within the radius of each.
    sample : (T, n_sample) float32
        Raw series of a fixed voxel sample, for DVARS.
    mean : (P,) float32
        Temporal mean at every position read (the mean image, or its surface equivalent).
    positions : (P,) int
        Where those are: flat Fortran-order voxel indices on ``grid_shape`` (volume) or grayordinate columns
        (CIFTI).
    grid_shape : tuple of int
        The 3-D grid (volume) or ``(n_grayordinates,)`` (CIFTI).
    affine : (4, 4) float64 or None
        Voxel-to-world (mm) transform of the volume grid (of a CIFTI file's voxel part).
    source : str
        The file that was read, for messages.
    """

    kind: str
    space: str
    tr: float
    region_index: np.ndarray
    region_means: np.ndarray
    region_voxels: np.ndarray
    atlas_voxels: np.ndarray
    region_tsnr: np.ndarray
    brain_tsnr: float = float("nan")
    sub_region: np.ndarray = _empty(0, dtype=np.int64)
    sub_has_cortex: np.ndarray = _empty(0, dtype=bool)
    sub_voxels: np.ndarray | None = None
    sub_adjacent: np.ndarray | None = None
    sample: np.ndarray | None = None
    mean: np.ndarray = _empty(0, dtype=np.float32)
    positions: np.ndarray = _empty(0, dtype=np.int64)
    grid_shape: tuple = ()
    affine: np.ndarray | None = None
    source: str = ""

    def __post_init__(self):
        n_frames = np.asarray(self.region_means).shape[0] if np.ndim(self.region_means) == 2 else 0
        for name in ("sub_voxels", "sub_adjacent", "sample"):  # absent per-frame arrays: no columns
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros((n_frames, 0)))
        for name, dtype in ARRAYS.items():
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
        object.__setattr__(self, "tr", float(self.tr))
        object.__setattr__(self, "brain_tsnr", float(self.brain_tsnr))
        object.__setattr__(self, "grid_shape", tuple(int(n) for n in self.grid_shape))
        object.__setattr__(self, "space", str(self.space))
        object.__setattr__(self, "source", str(self.source))
        if self.affine is not None:
            object.__setattr__(self, "affine", np.asarray(self.affine, dtype=np.float64))
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    # ------------------------------------------------------------------------------------------ checks
    def problems(self) -> list[str]:
        """Every inconsistency between the fields, as sentences (empty when the signals are coherent)."""
        out = []
        if self.kind not in KINDS:
            out.append(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not (math.isfinite(self.tr) and self.tr > 0):
            out.append(f"the repetition time must be a positive number of seconds, got {self.tr}")
        if self.region_means.ndim != 2:
            return out + [f"region_means must be frames x regions, got shape {self.region_means.shape}"]
        n_frames, n_regions = self.region_means.shape
        for name in ("region_index", "region_voxels", "atlas_voxels", "region_tsnr"):
            if getattr(self, name).shape != (n_regions,):
                out.append(f"{name} has shape {getattr(self, name).shape}, not ({n_regions},) for the "
                           f"{n_regions} regions of region_means")
        n_sub = self.sub_region.shape[0] if self.sub_region.ndim == 1 else -1
        if n_sub < 0:
            out.append(f"sub_region must be one-dimensional, got shape {self.sub_region.shape}")
        if self.sub_has_cortex.shape != (max(n_sub, 0),):
            out.append(f"sub_has_cortex has shape {self.sub_has_cortex.shape}, not ({n_sub},)")
        for name in ("sub_voxels", "sub_adjacent"):
            if getattr(self, name).shape != (n_frames, n_sub):
                out.append(f"{name} has shape {getattr(self, name).shape}, not ({n_frames}, {n_sub}): frames x "
                           "subcortical voxels")
        if self.sample.ndim != 2 or self.sample.shape[0] != n_frames:
            out.append(f"sample has shape {self.sample.shape}, not ({n_frames}, n): frames x sampled voxels")
        if n_sub > 0 and (self.sub_region.min() < 0 or self.sub_region.max() >= n_regions):
            out.append(f"sub_region points outside the {n_regions} regions")
        if self.mean.ndim != 1 or self.mean.shape != self.positions.shape:
            out.append(f"mean {self.mean.shape} and positions {self.positions.shape} must be one value per position")
        if self.affine is not None and self.affine.shape != (4, 4):
            out.append(f"the affine must be 4 x 4, got {self.affine.shape}")
        if self.kind == "volume" and self.positions.size:
            if len(self.grid_shape) != 3:
                out.append(f"a volume's grid_shape must be 3-D, got {self.grid_shape}")
            elif self.positions.min() < 0 or self.positions.max() >= int(np.prod(self.grid_shape)):
                out.append(f"positions run outside the {self.grid_shape} grid")
        return out

    # ------------------------------------------------------------------------------------------ views
    @property
    def n_frames(self) -> int:
        return int(self.region_means.shape[0])

    @property
    def n_regions(self) -> int:
        return int(self.region_means.shape[1])

    @property
    def n_sub(self) -> int:
        return int(self.sub_region.size)

    def drop_frames(self, start: int) -> ExtractedSignals:
        """The same signals from frame ``start`` on (the dummy scans removed)."""
        return dataclasses.replace(self, **{name: getattr(self, name)[start:] for name in FRAME_FIELDS})

    def mean_volume(self) -> np.ndarray:
        """The temporal mean as a 3-D float32 array on ``grid_shape`` (0 outside the positions read)."""
        if self.kind != "volume":
            raise ValueError(f"{self.kind} signals have no mean volume (the mean is per grayordinate)")
        flat = np.zeros(int(np.prod(self.grid_shape)), dtype=np.float32)
        flat[self.positions] = self.mean
        return flat.reshape(self.grid_shape, order="F")

    # ------------------------------------------------------------------------------------------ files
    def save(self, path) -> Path:
        """Write to ``path`` (an ``.npz``; the name is kept exactly as given)."""
        path = Path(path)
        meta = {"schema": SCHEMA, "version": VERSION, **{k: getattr(self, k) for k in SCALARS}}
        meta["affine"] = None if self.affine is None else self.affine.tolist()
        meta["grid_shape"] = list(self.grid_shape)
        with open(path, "wb") as fobj:
            np.savez(fobj, **{name: getattr(self, name) for name in ARRAYS},
                     **{_META: np.array(json.dumps(meta))})
        return path

    @classmethod
    def load(cls, path) -> ExtractedSignals:
        """Read a file written by :meth:`save`; :class:`InputError` naming the file says what is wrong with it."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise InputError("the extracted-signals file does not exist", path=path) from None
        except Exception as err:  # zipfile, pickle and format errors of numpy
            raise InputError(f"cannot be read as extracted signals (.npz): {type(err).__name__}: {err}",
                             path=path) from None
        if _META not in arrays:
            raise InputError("is not an extracted-signals file of this version of ketamine-fc (it has no format "
                             f"record; keys {', '.join(sorted(arrays)) or 'none'}). If it comes from a work directory "
                             "of an earlier version, remove that work directory and run again", path=path)
        try:
            meta = json.loads(str(arrays.pop(_META)))
        except ValueError as err:
            raise InputError(f"its format record is not JSON ({err})", path=path) from None
        if meta.get("schema") != SCHEMA or meta.get("version") != VERSION:
            raise InputError(f"holds {meta.get('schema')!r} version {meta.get('version')!r}, not {SCHEMA!r} version "
                             f"{VERSION}", path=path)
        missing = [k for k in (*ARRAYS, *SCALARS) if k not in arrays and k not in meta]
        unknown = sorted(set(arrays) - set(ARRAYS))
        if missing or unknown:
            raise InputError("does not hold the extracted-signals fields"
                             + (f"; missing: {', '.join(missing)}" if missing else "")
                             + (f"; unknown: {', '.join(unknown)}" if unknown else ""), path=path)
        try:
            return cls(**arrays, **{k: meta[k] for k in SCALARS})
        except (TypeError, ValueError) as err:
            raise InputError(f"holds inconsistent extracted signals: {err}", path=path) from None

    @classmethod
    def from_mapping(cls, values: Mapping, *, tr: float, region_index, kind: str = "volume",
                     space: str = "") -> ExtractedSignals:
        """Signals from a mapping of field names (the arrays of a hand-made reduction, as in simulations)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown extracted-signals field(s): {', '.join(unknown)}")
        given = dict(values)
        given.setdefault("region_index", region_index)
        given.setdefault("kind", kind)
        given.setdefault("space", space)
        given.setdefault("tr", tr)
        if "region_voxels" in given:
            given.setdefault("atlas_voxels", given["region_voxels"])
        return cls(**given)
