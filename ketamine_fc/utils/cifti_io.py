"""Read and write CIFTI-2 files of the surface path (fs_LR 32k, 91k grayordinates) and GIFTI surfaces.

What leaves this module is plain arrays in small dataclasses: :class:`Grayordinates` (for each brain model
its CIFTI structure name, its columns, and either surface vertex indices or voxel ijk on a volume grid with
its affine), :class:`Dtseries` (a time series with its TR) and :class:`SurfaceLabels` (a dlabel's parcel id per
mesh vertex). The numerical work on them is in :mod:`ketamine_fc.core.cifti`.

Every problem with a file raises :class:`~ketamine_fc.errors.InputError` (participant data, surfaces) or
:class:`~ketamine_fc.errors.AtlasError` (the parcellation), naming the file and what is wrong with it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import nibabel as nb
import numpy as np
from nibabel.cifti2 import cifti2_axes

from ketamine_fc.errors import AtlasError, InputError

CORTEX = ("CIFTI_STRUCTURE_CORTEX_LEFT", "CIFTI_STRUCTURE_CORTEX_RIGHT")
#: vertices of one fs_LR 32k hemisphere (the mesh of the 91k grayordinates)
FSLR32K_VERTICES = 32492
#: CIFTI-2 intents (NIfTI-2 intent names) and the file kinds users know them by
KINDS = {"ConnDenseSeries": "dense time series (.dtseries.nii)", "ConnDenseLabel": "dense label file (.dlabel.nii)",
         "ConnDenseScalar": "dense scalar file (.dscalar.nii)", "ConnParcelSries": "parcellated time series "
         "(.ptseries.nii)", "ConnParcelScalr": "parcellated scalar file (.pscalar.nii)",
         "ConnDense": "dense connectome (.dconn.nii)", "ConnParcels": "parcellated connectome (.pconn.nii)"}
PARCEL_LABEL = re.compile(r"Parcel_(\d+)")
#: label names that mean "no parcel" in a dlabel (Workbench's default name of key 0 is "???")
UNLABELLED = ("???", "", "Unknown", "unknown", "medial_wall", "Medial_Wall", "???_medial_wall")
CHUNK_BYTES = 32 * 2**20


def structure_name(name: str) -> str:
    """The full CIFTI structure name: ``"cortex_left"``, ``"CORTEX_LEFT"`` -> ``"CIFTI_STRUCTURE_CORTEX_LEFT"``."""
    return cifti2_axes.BrainModelAxis.to_cifti_brain_structure_name(name)


@dataclass(frozen=True)
class BrainModel:
    """One brain structure of a CIFTI file: which columns hold it and where they are.

    Surface models have ``vertices`` (the mesh vertex of each column) and ``n_vertices`` (the mesh size);
    volume models have ``ijk`` (the voxel of each column on the file's volume grid).
    """

    name: str
    columns: slice
    vertices: np.ndarray | None = None
    n_vertices: int | None = None
    ijk: np.ndarray | None = None

    @property
    def is_surface(self) -> bool:
        return self.vertices is not None

    @property
    def size(self) -> int:
        return self.columns.stop - self.columns.start


@dataclass(frozen=True)
class Grayordinates:
    """The brain models of a dense CIFTI axis, in file order, plus the volume grid of the voxel models."""

    models: tuple[BrainModel, ...]
    affine: np.ndarray | None = None  # (4, 4) voxel -> world (mm) of the volume models
    volume_shape: tuple[int, int, int] | None = None

    @property
    def size(self) -> int:
        return self.models[-1].columns.stop if self.models else 0

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def has(self, name: str) -> bool:
        return structure_name(name) in self.names

    def model(self, name: str) -> BrainModel:
        """The brain model of a structure (short names such as ``"CORTEX_LEFT"`` accepted)."""
        full = structure_name(name)
        for m in self.models:
            if m.name == full:
                return m
        raise KeyError(f"no brain model {full} (present: {', '.join(self.names)})")

    @property
    def volume_models(self) -> list[BrainModel]:
        return [m for m in self.models if not m.is_surface]

    @property
    def voxel_columns(self) -> np.ndarray:
        """Columns of every voxel grayordinate, in file order."""
        return np.concatenate([np.arange(m.columns.start, m.columns.stop) for m in self.volume_models]
                              or [np.zeros(0, dtype=np.intp)])

    @property
    def voxel_ijk(self) -> np.ndarray:
        """(n_voxels, 3) voxel indices of the voxel grayordinates, in the order of :attr:`voxel_columns`."""
        return np.concatenate([m.ijk for m in self.volume_models] or [np.zeros((0, 3), dtype=np.intp)])

    @property
    def voxel_structure(self) -> np.ndarray:
        """(n_voxels,) CIFTI structure name of each voxel grayordinate, in the order of :attr:`voxel_columns`."""
        return np.concatenate([np.full(m.size, m.name) for m in self.volume_models] or [np.zeros(0, dtype="U1")])

    def same_as(self, other: Grayordinates) -> bool:
        """Whether ``other`` holds the same brain models, columns, vertices, voxels and volume grid."""
        if self.names != other.names or self.size != other.size or self.volume_shape != other.volume_shape:
            return False
        if (self.affine is None) != (other.affine is None) or (
                self.affine is not None and not np.allclose(self.affine, other.affine, atol=1e-4)):
            return False
        for a, b in zip(self.models, other.models):
            if a.columns != b.columns or a.n_vertices != b.n_vertices:
                return False
            for x, y in ((a.vertices, b.vertices), (a.ijk, b.ijk)):
                if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
                    return False
        return True

    def describe(self) -> str:
        """One line for messages: ``91282 grayordinates (CORTEX_LEFT 29696 of 32492 vertices, ...)``."""
        parts = [f"{m.name.removeprefix('CIFTI_STRUCTURE_')} {m.size}" + (f" of {m.n_vertices} vertices"
                                                                          if m.is_surface else " voxels")
                 for m in self.models]
        return f"{self.size} grayordinates ({', '.join(parts)})"

    def digest(self) -> str:
        """A short hash of the layout: files sharing it share one atlas on their grayordinates."""
        import hashlib

        h = hashlib.sha1()
        for m in self.models:
            h.update(f"{m.name}:{m.columns.start}:{m.columns.stop}:{m.n_vertices}".encode())
            h.update(np.ascontiguousarray(m.vertices if m.is_surface else m.ijk, dtype=np.int64).tobytes())
        if self.affine is not None:
            h.update(np.round(self.affine, 3).tobytes())
            h.update(repr(self.volume_shape).encode())
        return h.hexdigest()[:12]

    def to_axis(self) -> cifti2_axes.BrainModelAxis:
        """The nibabel :class:`~nibabel.cifti2.cifti2_axes.BrainModelAxis` of these grayordinates."""
        axes = []
        for m in self.models:
            if m.is_surface:
                axes.append(cifti2_axes.BrainModelAxis.from_surface(m.vertices, m.n_vertices, m.name))
            else:
                axes.append(cifti2_axes.BrainModelAxis(m.name, voxel=m.ijk, affine=self.affine,
                                                       volume_shape=self.volume_shape))
        out = axes[0]
        for axis in axes[1:]:
            out = out + axis
        return out


def make_grayordinates(surfaces: Sequence = (), volumes: Sequence = (), *, affine=None, volume_shape=None,
                       ) -> Grayordinates:
    """Grayordinates from parts, surfaces first (the CIFTI order of a 91k file).

    Parameters
    ----------
    surfaces : sequence of ``(name, vertices, n_vertices)``
    volumes : sequence of ``(name, ijk)`` with ``ijk`` an (n, 3) int array on the grid of ``affine``
    affine, volume_shape : the volume grid (needed when ``volumes`` is not empty)
    """
    models, start = [], 0
    for name, vertices, n_vertices in surfaces:
        vertices = np.asarray(vertices, dtype=np.intp).ravel()
        models.append(BrainModel(structure_name(name), slice(start, start + vertices.size), vertices=vertices,
                                 n_vertices=int(n_vertices)))
        start += vertices.size
    for name, ijk in volumes:
        ijk = np.asarray(ijk, dtype=np.intp).reshape(-1, 3)
        models.append(BrainModel(structure_name(name), slice(start, start + len(ijk)), ijk=ijk))
        start += len(ijk)
    if volumes and (affine is None or volume_shape is None):
        raise ValueError("voxel brain models need the volume grid (affine and volume_shape)")
    return Grayordinates(tuple(models), None if affine is None else np.asarray(affine, dtype=np.float64),
                         None if volume_shape is None else tuple(int(n) for n in volume_shape))


@dataclass
class Dtseries:
    """A dense CIFTI time series: ``data`` (T, n_grayordinates) float32, its TR and its grayordinates."""

    data: np.ndarray
    tr: float
    grayordinates: Grayordinates
    start: float = 0.0
    path: str | None = field(default=None, repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.data.shape[0])


@lru_cache(maxsize=4)
def _cached_load(path: str, stamp: tuple):
    # nibabel logs "pixdim[1,2,3] should be non-zero; setting 0 dims to 1" for CIFTI files whose (unused) voxel
    # sizes are 0, as in XCP-D's Gordon dlabel; it repairs them itself, so the line only alarms users
    quiet = logging.getLogger("nibabel.global")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return nb.load(path)
    finally:
        quiet.setLevel(level)


def _load_cifti(path, what, error):
    """``nb.load`` of a CIFTI-2 file, remembered per process by (path, mtime, size): parsing a 91k header costs
    about half a second, and one run's header is needed by the plan, the atlas and the read."""
    path = Path(path)
    if not path.is_file():
        raise error(f"the {what} does not exist", path=path)
    stat = path.stat()
    try:
        img = _cached_load(str(path.resolve()), (stat.st_mtime_ns, stat.st_size))
    except Exception as err:  # nibabel raises ImageFileError, ValueError, struct errors for damaged headers
        raise error(f"cannot be read as a {what} ({type(err).__name__}: {err})", path=path) from None
    if not isinstance(img, nb.Cifti2Image):
        raise error(f"is not a CIFTI-2 file (nibabel reads it as {type(img).__name__}); a {what} is expected",
                    path=path)
    return img


def _kind(img) -> str:
    intent = img.nifti_header.get_intent()[0]
    return KINDS.get(intent, f"CIFTI-2 file with intent {intent!r}")


def _check_cortex(grays: Grayordinates, path, error, *, n_vertices=FSLR32K_VERTICES, require_cortex=True):
    for name in CORTEX:
        if name not in grays.names:
            if require_cortex:
                raise error(f"has no {name} brain model (present: {', '.join(grays.names) or 'none'}); the "
                            "surface path needs both cortical hemispheres on fs_LR 32k", path=path)
            continue
        model = grays.model(name)
        if not model.is_surface:
            raise error(f"its {name} brain model holds voxels, not surface vertices", path=path)
        if n_vertices is not None and model.n_vertices != n_vertices:
            raise error(f"its {name} mesh has {model.n_vertices} vertices, not the {n_vertices} of fs_LR 32k "
                        "(91k grayordinates); resample the data to fs_LR 32k first", path=path)
        if model.vertices.size and (model.vertices.min() < 0 or model.vertices.max() >= model.n_vertices):
            raise error(f"its {name} vertex indices run outside the {model.n_vertices}-vertex mesh", path=path)


def _dense_series(img, path):
    """The series axis and the brain-model index map of a dtseries (or an InputError saying what it is)."""
    try:
        series = img.header.get_axis(0)
        dense = img.header.matrix.get_index_map(1)
    except Exception as err:
        raise InputError(f"its CIFTI-2 header cannot be interpreted ({type(err).__name__}: {err})",
                         path=path) from None
    if not (isinstance(series, cifti2_axes.SeriesAxis)
            and dense.indices_map_to_data_type == "CIFTI_INDEX_TYPE_BRAIN_MODELS"):
        raise InputError(f"is a {_kind(img)}, not a dense time series (.dtseries.nii: series x brain models)",
                         path=path)
    if series.unit != "SECOND":
        raise InputError(f"its series axis counts {series.unit}, not seconds: this is not a time series",
                         path=path)
    if not np.isfinite(series.step) or series.step <= 0:
        raise InputError(f"its repetition time (series step) is {series.step}; it must be a positive number of "
                         "seconds", path=path)
    return series, dense


def _grayordinates_from_map(index_map) -> Grayordinates:
    """:class:`Grayordinates` straight from a brain-model index map of the header (no per-column name arrays)."""
    models, affine, shape = [], None, None
    for bm in sorted(index_map.brain_models, key=lambda b: b.index_offset):
        columns = slice(int(bm.index_offset), int(bm.index_offset + bm.index_count))
        if bm.model_type == "CIFTI_MODEL_TYPE_SURFACE":
            models.append(BrainModel(str(bm.brain_structure), columns,
                                     vertices=np.asarray(bm.vertex_indices, dtype=np.intp).reshape(-1),
                                     n_vertices=int(bm.surface_number_of_vertices)))
        else:
            models.append(BrainModel(str(bm.brain_structure), columns,
                                     ijk=np.asarray(bm.voxel_indices_ijk, dtype=np.intp).reshape(-1, 3)))
            if affine is None:
                xform = index_map.volume.transformation_matrix_voxel_indices_ijk_to_xyz
                affine = np.asarray(xform.matrix, dtype=np.float64).copy()
                affine[:3] *= 10.0 ** (int(xform.meter_exponent) + 3)  # CIFTI units: 10^exponent m; here mm
                shape = tuple(int(n) for n in index_map.volume.volume_dimensions)
    return Grayordinates(tuple(models), affine, shape)


def read_grayordinates(path, *, n_vertices=FSLR32K_VERTICES, require_cortex=True) -> tuple[Grayordinates, float, int]:
    """The grayordinates, TR (s) and number of frames of a dtseries, from its header only.

    Raises :class:`InputError` when the file is missing, not CIFTI-2, not a dense time series, lacks a
    cortical hemisphere (with ``require_cortex``) or is on a mesh other than ``n_vertices`` per hemisphere
    (``None`` accepts any).
    """
    img = _load_cifti(path, "CIFTI-2 dense time series", InputError)
    series, dense = _dense_series(img, path)
    grays = _grayordinates_from_map(dense)
    _check_cortex(grays, path, InputError, n_vertices=n_vertices, require_cortex=require_cortex)
    return grays, float(series.step), int(series.size)


def read_dtseries(path, *, n_vertices=FSLR32K_VERTICES, require_cortex=True) -> Dtseries:
    """A dtseries with its grayordinates and TR; checks as :func:`read_grayordinates`.

    ``data`` is (T, n_grayordinates) float32. For an uncompressed float32 file (the usual case) it is a
    copy-on-write memory map (changes never reach the file): nothing is read until used, and column ranges are contiguous on disk (CIFTI stores
    each grayordinate's series as one run), so :func:`ketamine_fc.core.cifti.parcel_means` reads the file once
    in chunks. Other files are read into memory as float32. Values are not checked here (NaN and
    infinities pass through); :func:`iter_dtseries` checks them while it reads.
    """
    img = _load_cifti(path, "CIFTI-2 dense time series", InputError)
    series, dense = _dense_series(img, path)
    grays = _grayordinates_from_map(dense)
    _check_cortex(grays, path, InputError, n_vertices=n_vertices, require_cortex=require_cortex)
    data = np.asanyarray(img.dataobj)
    if data.dtype != np.float32:
        data = data.astype(np.float32)
    return Dtseries(data, float(series.step), grays, start=float(series.start), path=str(path))


def iter_dtseries(path, *, chunk_bytes=CHUNK_BYTES) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(columns, block)`` over a dtseries: ``block`` = float32 (T, k) data of grayordinates ``columns``.

    CIFTI-2 stores each grayordinate's series as one contiguous run, so a range of grayordinates is one
    contiguous read; memory stays near ``chunk_bytes``. Raises :class:`InputError` at the first NaN or
    infinite value.
    """
    img = _load_cifti(path, "CIFTI-2 dense time series", InputError)
    _dense_series(img, path)
    n_frames, n_cols = img.shape
    per_chunk = max(1, min(n_cols, chunk_bytes // max(1, 4 * n_frames)))
    for c0 in range(0, n_cols, per_chunk):
        columns = slice(c0, min(n_cols, c0 + per_chunk))
        block = np.asarray(img.dataobj[:, columns], dtype=np.float32)
        finite = np.isfinite(block)
        if not finite.all():
            bad = c0 + int(np.flatnonzero(~finite.all(axis=0))[0])
            raise InputError(f"the time series contains NaN or infinite values (first at grayordinate {bad})",
                             path=path)
        yield columns, block


def write_dtseries(path, data, grayordinates: Grayordinates, tr: float, *, start: float = 0.0) -> Path:
    """Write a CIFTI-2 dense time series (float32) with a series axis in seconds and the given brain models.

    Parameters
    ----------
    path : output file, normally ``*.dtseries.nii``
    data : (T, n_grayordinates) array
    grayordinates : the brain models (see :func:`make_grayordinates`)
    tr : repetition time in seconds
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2 or data.shape[1] != grayordinates.size:
        raise ValueError(f"data of shape {data.shape} do not match {grayordinates.size} grayordinates (T x n)")
    series = cifti2_axes.SeriesAxis(start=float(start), step=float(tr), size=data.shape[0], unit="SECOND")
    img = nb.Cifti2Image(data, header=(series, grayordinates.to_axis()))
    img.nifti_header.set_intent("ConnDenseSeries", name="ConnDenseSeries")
    path = Path(path)
    img.to_filename(str(path))
    return path


def write_dscalar(path, data, names: Sequence[str], grayordinates: Grayordinates) -> Path:
    """Write maps (k, n_grayordinates) as a CIFTI-2 dense scalar file (``.dscalar.nii``), float32."""
    data = np.atleast_2d(np.asarray(data, dtype=np.float32))
    if data.shape != (len(names), grayordinates.size):
        raise ValueError(f"data of shape {data.shape} do not match {len(names)} maps x {grayordinates.size} "
                         "grayordinates")
    img = nb.Cifti2Image(data, header=(cifti2_axes.ScalarAxis(list(names)), grayordinates.to_axis()))
    img.nifti_header.set_intent("ConnDenseScalar", name="ConnDenseScalar")
    path = Path(path)
    img.to_filename(str(path))
    return path


def write_dense_labels(path, keys, names: dict, grayordinates: Grayordinates, *, colors: dict | None = None,
                       map_name: str = "labels") -> Path:
    """Write one label per grayordinate as a CIFTI-2 dlabel; ``names`` maps each key (> 0) to its label name.

    Key 0 is "???" (no region), as Workbench writes it. ``colors`` maps keys to RGBA tuples (grey by default).
    """
    keys = np.asarray(keys).ravel()
    if keys.size != grayordinates.size:
        raise ValueError(f"{keys.size} labels for {grayordinates.size} grayordinates")
    table = {0: ("???", (1.0, 1.0, 1.0, 0.0))}
    table.update({int(k): (str(v), tuple((colors or {}).get(int(k), (0.5, 0.5, 0.5, 1.0)))) for k, v in names.items()})
    img = nb.Cifti2Image(keys[None].astype(np.float32),
                         header=(cifti2_axes.LabelAxis([map_name], [table]), grayordinates.to_axis()))
    img.nifti_header.set_intent("ConnDenseLabel", name="ConnDenseLabel")
    path = Path(path)
    img.to_filename(str(path))
    return path


def read_dense_labels(path, *, error=AtlasError) -> tuple[np.ndarray, dict, Grayordinates]:
    """The label key of every grayordinate (int32), the key -> name table and the grayordinates of a dlabel.

    Unlike :func:`read_dlabel` (parcels of the cortex, by name) this keeps the keys as written, on every brain
    model, surface or voxel; it reads back :func:`write_dense_labels`.
    """
    img = _load_cifti(path, "CIFTI-2 dense label file", error)
    try:
        labels_axis, dense = img.header.get_axis(0), img.header.matrix.get_index_map(1)
    except Exception as err:
        raise error(f"its CIFTI-2 header cannot be interpreted ({type(err).__name__}: {err})", path=path) from None
    if not (isinstance(labels_axis, cifti2_axes.LabelAxis)
            and dense.indices_map_to_data_type == "CIFTI_INDEX_TYPE_BRAIN_MODELS"):
        raise error(f"is a {_kind(img)}, not a dense label file (.dlabel.nii)", path=path)
    values = np.asarray(img.dataobj[0], dtype=np.float64)
    keys = np.rint(values).astype(np.int64)
    if np.any(keys != values):
        raise error("holds label values that are not whole numbers", path=path)
    names = {int(k): str(v[0]) for k, v in labels_axis.label[0].items() if int(k) != 0}
    return keys.astype(np.int32), names, _grayordinates_from_map(dense)


@dataclass(frozen=True)
class SurfaceLabels:
    """Parcel id per mesh vertex of each hemisphere (0 = unlabelled or absent), read from a dlabel."""

    left: np.ndarray
    right: np.ndarray
    names: dict  # parcel id -> label name in the file

    def hemisphere(self, name: str) -> np.ndarray:
        """Labels of ``CORTEX_LEFT`` or ``CORTEX_RIGHT`` (any spelling :func:`structure_name` accepts)."""
        return {CORTEX[0]: self.left, CORTEX[1]: self.right}[structure_name(name)]

    @property
    def parcel_ids(self) -> np.ndarray:
        return np.array(sorted(self.names), dtype=np.int64)


def _parcel_ids(label_table: dict, path, label_pattern) -> tuple[np.ndarray, dict]:
    """Lookup key -> parcel id (0 for unlabelled keys) and parcel id -> name."""
    keys = np.array(sorted(label_table), dtype=np.int64)
    if keys.size and keys.min() < 0:
        raise AtlasError(f"has a negative label key ({keys.min()})", path=path)
    lut = np.zeros(int(keys.max(initial=0)) + 1, dtype=np.int32)
    names, bad = {}, []
    for key in keys:
        name = str(label_table[key][0])
        match = label_pattern.fullmatch(name)
        if match:
            pid = int(match.group(1))
            if pid in names:
                raise AtlasError(f"labels {names[pid]!r} and {name!r} both name parcel {pid}", path=path)
            lut[key], names[pid] = pid, name
        elif name not in UNLABELLED:
            bad.append(f"{key}={name!r}")
    if bad:
        raise AtlasError(f"label names must be '{label_pattern.pattern}' (or '???' for none); found "
                         f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}", path=path)
    if not names:
        raise AtlasError(f"no label is named like '{label_pattern.pattern}'", path=path)
    return lut, names


def read_dlabel(path, *, n_vertices=FSLR32K_VERTICES, map_index=0, label_pattern=PARCEL_LABEL) -> SurfaceLabels:
    """Parcel id per vertex of the left and right cortex from a CIFTI-2 dlabel (e.g. Gordon fs_LR 32k).

    Label keys are mapped to parcel ids through their names (``Parcel_<id>`` by default), never assumed to be
    the id; keys named ``???`` (Workbench's "unlabelled") and vertices absent from the file become 0.

    Raises :class:`AtlasError` when the file is missing, not a dlabel, lacks a cortical hemisphere, is on a
    mesh other than ``n_vertices`` per hemisphere, or has label names that are not parcel ids.
    """
    img = _load_cifti(path, "CIFTI-2 dense label file", AtlasError)
    try:
        labels_axis, dense = img.header.get_axis(0), img.header.matrix.get_index_map(1)
    except Exception as err:
        raise AtlasError(f"its CIFTI-2 header cannot be interpreted ({type(err).__name__}: {err})",
                         path=path) from None
    if not (isinstance(labels_axis, cifti2_axes.LabelAxis)
            and dense.indices_map_to_data_type == "CIFTI_INDEX_TYPE_BRAIN_MODELS"):
        raise AtlasError(f"is a {_kind(img)}, not a dense label file (.dlabel.nii)", path=path)
    if not 0 <= map_index < len(labels_axis):
        raise AtlasError(f"has {len(labels_axis)} label map(s); map {map_index} was asked for", path=path)
    grays = _grayordinates_from_map(dense)
    _check_cortex(grays, path, AtlasError, n_vertices=n_vertices)
    lut, names = _parcel_ids(labels_axis.label[map_index], path, label_pattern)
    values = np.asarray(img.dataobj[map_index], dtype=np.float64)
    keys = np.rint(values).astype(np.int64)
    if np.any(keys != values) or keys.min(initial=0) < 0 or keys.max(initial=0) >= lut.size:
        raise AtlasError("holds values that are not keys of its label table", path=path)
    out = []
    for name in CORTEX:
        model = grays.model(name)
        per_vertex = np.zeros(model.n_vertices, dtype=np.int32)
        per_vertex[model.vertices] = lut[keys[model.columns]]
        out.append(per_vertex)
    return SurfaceLabels(out[0], out[1], names)


def read_surface_coords(path, *, n_vertices=FSLR32K_VERTICES) -> np.ndarray:
    """World (mm) coordinates (n_vertices, 3) float64 of a GIFTI surface (``*.surf.gii``).

    The coordinates are taken as stored, as Workbench does (HCP and fMRIPrep fs_LR surfaces store world mm;
    the GIFTI ``coordsys`` transform is ignored). Raises :class:`InputError` when the file is missing, not GIFTI, has no
    pointset array, or has a vertex count other than ``n_vertices`` (``None`` accepts any).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("the surface file does not exist", path=path)
    try:
        img = nb.load(str(path))
    except Exception as err:
        raise InputError(f"cannot be read as a GIFTI surface ({type(err).__name__}: {err})", path=path) from None
    if not isinstance(img, nb.GiftiImage):
        raise InputError(f"is not a GIFTI surface (nibabel reads it as {type(img).__name__})", path=path)
    points = [d for d in img.darrays if d.intent == nb.nifti1.intent_codes["NIFTI_INTENT_POINTSET"]]
    if not points:
        raise InputError("has no pointset (vertex coordinate) array: it is not a surface", path=path)
    coords = np.asarray(points[0].data, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise InputError(f"its pointset has shape {coords.shape}, not (n_vertices, 3)", path=path)
    if n_vertices is not None and len(coords) != n_vertices:
        raise InputError(f"has {len(coords)} vertices, not the {n_vertices} of fs_LR 32k", path=path)
    return coords
