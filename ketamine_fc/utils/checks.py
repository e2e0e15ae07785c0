"""Check one run's inputs before any workflow runs: headers, grids, repetition time, confounds.

Each check reads headers and tables only (never the BOLD data; for a CIFTI run also the small midthickness
surfaces) and raises
:class:`~ketamine_fc.errors.InputError` with one sentence naming the file and the problem.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import nibabel as nb
import numpy as np

from ketamine_fc.errors import InputError
from ketamine_fc.utils.bids import RunInputs

TR_TOLERANCE = 0.01  # relative disagreement allowed between the sidecar and the header
TR_MAX_SECONDS = 100.0  # above this a repetition time is taken for milliseconds
_TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


def _describe(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def read_header(path, what="image"):
    """``nib.load`` with one clear error for an unreadable, truncated or non-NIfTI file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"the {what} does not exist", path=path)
    try:
        img = nb.load(str(path))
    except Exception as err:  # nibabel, gzip and zlib raise many types for damaged files
        raise InputError(f"cannot read the {what}: the file is damaged or not NIfTI ({_describe(err)})",
                         path=path) from None
    if path.suffix == ".nii":
        expected = int(img.dataobj.offset) + int(np.prod(img.shape)) * img.get_data_dtype().itemsize
        size = path.stat().st_size
        if size < expected:
            raise InputError(f"the {what} is truncated: {size} bytes of the {expected} its header announces",
                             path=path)
    return img


def grid_signature(img) -> tuple:
    """Shape and affine (rounded to 0.01 mm) of an image's voxel grid: runs sharing it share one atlas."""
    return tuple(int(n) for n in img.shape[:3]) + tuple(np.round(img.affine[:3].ravel(), 2).tolist())


def _grid_text(img) -> str:
    zooms = "x".join(f"{z:g}" for z in img.header.get_zooms()[:3])
    return f"{'x'.join(map(str, img.shape[:3]))} voxels of {zooms} mm"


def check_bold(path):
    """The BOLD header: readable, 4-D, at least 2 frames, a numeric data type."""
    img = read_header(path, "BOLD image")
    if img.ndim != 4:
        raise InputError(f"the BOLD image is not 4-D (shape {img.shape})", path=path)
    if img.shape[3] < 2:
        raise InputError(f"the BOLD series has {img.shape[3]} frame(s)", path=path)
    if not np.issubdtype(img.get_data_dtype(), np.number):
        raise InputError(f"the BOLD data type {img.get_data_dtype()} is not numeric", path=path)
    return img


def check_mask(path, bold_img, bold_path):
    """The brain mask: readable, finite, not empty, on the BOLD's voxel grid."""
    img = read_header(path, "brain mask")
    if img.ndim == 4 and img.shape[3] != 1 or img.ndim not in (3, 4):
        raise InputError(f"the brain mask is not a 3-D image (shape {img.shape})", path=path)
    if tuple(img.shape[:3]) != tuple(bold_img.shape[:3]) or not np.allclose(img.affine, bold_img.affine, atol=1e-3):
        raise InputError(f"the brain mask is on another voxel grid ({_grid_text(img)}) than its BOLD "
                         f"{Path(bold_path).name} ({_grid_text(bold_img)}); use the mask fMRIPrep wrote for this run",
                         path=path)
    try:
        data = np.asarray(img.dataobj)
    except Exception as err:
        raise InputError(f"cannot read the brain mask's data ({_describe(err)})", path=path) from None
    if not np.isfinite(data).all():
        raise InputError("the brain mask contains NaN or infinite values", path=path)
    if not (data > 0).any():
        raise InputError("the brain mask is empty", path=path)


def sidecar_tr(bold_path) -> float | None:
    """``RepetitionTime`` from the BOLD's JSON sidecar (None if there is no sidecar or no such key)."""
    sidecar = Path(str(bold_path).removesuffix(".gz").removesuffix(".nii") + ".json")
    if not sidecar.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"the JSON sidecar cannot be read ({_describe(err)})", path=sidecar) from None
    value = meta.get("RepetitionTime") if isinstance(meta, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InputError(f"RepetitionTime must be a positive number of seconds, got {value!r}", path=sidecar)
    if value > TR_MAX_SECONDS:
        raise InputError(f"RepetitionTime {value} looks like milliseconds; BIDS gives it in seconds "
                         f"({value / 1000:g})", path=sidecar)
    return float(value)


def header_tr(img) -> float | None:
    """The repetition time in the NIfTI header, in seconds (None if unset)."""
    zooms = img.header.get_zooms()
    if len(zooms) < 4 or not zooms[3] > 0:
        return None
    unit = img.header.get_xyzt_units()[1]
    return float(zooms[3]) * _TIME_UNITS.get(unit, 1.0)


def repetition_time(bold_img, bold_path, from_header: float | None = None) -> float:
    """The run's TR: the sidecar's, checked against the header (a disagreement above 1 % is an error).

    ``from_header`` gives the header's value directly (a CIFTI series step); else it is read from ``bold_img``.
    """
    from_sidecar = sidecar_tr(bold_path)
    if from_header is None and bold_img is not None:
        from_header = header_tr(bold_img)
    if from_header is not None and from_header > TR_MAX_SECONDS:
        raise InputError(f"the NIfTI header's repetition time {from_header:g} s looks like milliseconds (the header's "
                         "time unit is wrong)", path=bold_path)
    if from_sidecar is not None and from_header is not None:
        if abs(from_sidecar - from_header) > TR_TOLERANCE * from_sidecar:
            raise InputError(f"the repetition time disagrees: {from_sidecar:g} s in the JSON sidecar, "
                             f"{from_header:g} s in the NIfTI header", path=bold_path)
    tr = from_sidecar if from_sidecar is not None else from_header
    if tr is None:
        raise InputError("RepetitionTime is missing from the JSON sidecar and the NIfTI header", path=bold_path)
    return tr


def check_confounds(path, n_frames: int, tr: float, denoise) -> None:
    """The confounds table: readable, one row per frame, every used column finite, frames decidable."""
    from ketamine_fc.core.censoring import check_censoring_inputs
    from ketamine_fc.core.confounds import read_confounds, select_nuisance

    confounds = read_confounds(path)
    if len(confounds) != n_frames:
        raise InputError(f"the confounds file has {len(confounds)} rows but the BOLD series has {n_frames} frames",
                         path=path)
    select_nuisance(confounds, denoise.nuisance_regressors, path=path)
    try:
        check_censoring_inputs(confounds, tr, **denoise.censoring())
    except ValueError as err:
        if isinstance(err, InputError):
            raise
        raise InputError(str(err), path=path) from None


def check_run(run: RunInputs, denoise, atlas_dir=None) -> RunInputs:
    """Check every input of one run; fill in its frames, grid and repetition time."""
    if run.cifti:
        return check_cifti_run(run, denoise, atlas_dir)
    img = check_bold(run.bold)
    check_mask(run.mask, img, run.bold)
    run.n_frames = int(img.shape[3])
    run.grid = grid_signature(img)
    run.tr = repetition_time(img, run.bold)
    _check_band_and_confounds(run, denoise)
    return run


def _check_band_and_confounds(run: RunInputs, denoise) -> None:
    from ketamine_fc.core.denoise import check_band

    if denoise.bandpass:
        try:
            check_band(run.tr, denoise.lower_bpf, denoise.upper_bpf)
        except ValueError as err:
            raise InputError(f"{err}; change --lower-bpf / --upper-bpf", path=run.bold) from None
    check_confounds(run.confounds, run.n_frames, run.tr, denoise)


#: the participant's fs_LR midthickness must lie, vertex for vertex, within this median distance (mm) of the
#: group-average midthickness (MNI152NLin6Asym world mm, like the dtseries' voxels) to be used: fMRIPrep writes
#: its fs_LR surfaces in the participant's T1w space, whose coordinates do not match the MNI voxels of a 91k file
SURFACE_MAX_MEDIAN_MM = 10.0


def check_cifti_run(run: RunInputs, denoise, atlas_dir=None) -> RunInputs:
    """A CIFTI run: a dense time series on fs_LR 32k with subcortical voxels, its TR and confounds, its surfaces.

    The participant's surfaces are kept only when their coordinates are in the space of the dtseries' voxels
    (:func:`surfaces_in_template_space`); otherwise ``run.surface_note`` says why the group average is used.
    """
    from ketamine_fc.utils.cifti_io import read_grayordinates

    grays, step, n_frames = read_grayordinates(run.bold)
    if not grays.volume_models:
        raise InputError("has no subcortical voxels (volume brain models): the limbic regions cannot be placed; use "
                         "fMRIPrep's 91k grayordinates (--cifti-output 91k)", path=run.bold)
    if n_frames < 2:
        raise InputError(f"the dense time series has {n_frames} frame(s)", path=run.bold)
    run.n_frames = n_frames
    run.grid = ("cifti", grays.size, grays.digest())
    run.tr = repetition_time(None, run.bold, from_header=step)
    _check_band_and_confounds(run, denoise)
    if run.surfaces:
        median = surface_offset_mm(run.surfaces["L"], run.surfaces["R"], atlas_dir)
        if not median <= SURFACE_MAX_MEDIAN_MM:
            run.surface_note = (f"the participant's fs_LR midthickness surfaces ({Path(run.surfaces['L']).name}, "
                                f"{Path(run.surfaces['R']).name}) lie a median {median:.1f} mm from the group-average "
                                "surfaces, vertex for vertex: they are not in the MNI152NLin6Asym space of the "
                                "dtseries' voxels (fMRIPrep writes them in T1w space), so the group-average surfaces "
                                "were used")
            run.surfaces = {}
    return run


@lru_cache(maxsize=32)
def _surface_offset(left: str, right: str, stamp: tuple, atlas_dir) -> float:
    from ketamine_fc.atlases.surface import surface_coords

    own = surface_coords({"L": left, "R": right})
    group = surface_coords(None, atlas_dir)
    dist = np.concatenate([np.linalg.norm(own[h] - group[h], axis=1) for h in ("L", "R")])
    return float(np.median(dist))


def surface_offset_mm(left, right, atlas_dir=None) -> float:
    """Median distance (mm) between the vertices of a participant's fs_LR 32k midthickness and the group average's.

    Raises :class:`InputError` when a surface cannot be read or is not on the fs_LR 32k mesh.
    """
    stamp = tuple(Path(p).stat().st_mtime_ns for p in (left, right))
    return _surface_offset(str(left), str(right), stamp, None if atlas_dir is None else str(atlas_dir))
