"""Read a 4-D BOLD NIfTI (or a CIFTI-2 dtseries) once, as a stream, keeping only what the participant level needs.

gzip is a single sequential stream, so decompression is the floor of the read: the file is decompressed
in a background thread (``zlib-ng``) while this thread gathers in-mask voxels, forms the weighted sums
(region means, adjacent-cortex means) and accumulates voxel statistics for QC. Nothing of full-volume
size is kept beyond one chunk of frames, so memory stays near the size of the outputs.

A dtseries stores each grayordinate's whole series contiguously, so :func:`stream_dtseries` reads it in
ranges of grayordinates (:func:`ketamine_fc.utils.cifti_io.iter_dtseries`) and reduces each range the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from ketamine_fc.errors import InputError
from ketamine_fc.utils.checks import check_bold

LOGGER = logging.getLogger("ketamine_fc.bold")
CHUNK_BYTES = 32 * 2**20


@dataclass
class StreamResult:
    """What one pass over a BOLD series yields (T = number of frames)."""

    weighted: np.ndarray  # (T, n_weights) float64: ``weights @ frame`` for each frame
    gathered: np.ndarray  # (T, n_gather) float32: raw values of selected in-mask voxels
    voxel_mean: np.ndarray  # (n_mask,) temporal mean of every in-mask voxel
    voxel_std: np.ndarray  # (n_mask,) temporal standard deviation of every in-mask voxel


def _open_stream(path: Path):
    if path.name.endswith(".gz"):
        from zlib_ng import gzip_ng_threaded

        return gzip_ng_threaded.open(path, "rb", threads=1)
    return open(path, "rb")


def _scaling(img):
    slope = getattr(img.dataobj, "slope", 1.0)
    inter = getattr(img.dataobj, "inter", 0.0)
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    return slope, inter


def stream_bold(path, mask_index, weights=None, gather=None, chunk_bytes=CHUNK_BYTES) -> StreamResult:
    """Stream a BOLD series and reduce it frame by frame.

    Parameters
    ----------
    path : path-like
        4-D NIfTI-1/2, gzipped or not.
    mask_index : (n_mask,) int array
        Flat indices of in-mask voxels in file (Fortran) order: ``np.flatnonzero(mask.ravel(order="F"))``.
    weights : sparse (n_weights, n_mask), optional
        Each frame's in-mask values are multiplied by it (region means, adjacent-cortex means).
    gather : (n_gather,) int array, optional
        Positions within ``mask_index`` whose raw time series are returned.

    Returns
    -------
    StreamResult
    """
    path = Path(path)
    img = check_bold(path)
    nx, ny, nz, n_frames = img.shape
    frame_vox = nx * ny * nz
    dtype = img.get_data_dtype()
    frame_bytes = frame_vox * dtype.itemsize
    slope, inter = _scaling(img)
    mask_index = np.asarray(mask_index, dtype=np.intp)
    n_mask = mask_index.size
    weights = sparse.csr_matrix((0, n_mask)) if weights is None else sparse.csr_matrix(weights)
    if weights.shape[1] != n_mask:
        raise ValueError(f"weights have {weights.shape[1]} columns for {n_mask} mask voxels")
    weights = weights.astype(np.float64)
    gather = np.zeros(0, dtype=np.intp) if gather is None else np.asarray(gather, dtype=np.intp)

    out_w = np.empty((n_frames, weights.shape[0]), dtype=np.float64)
    out_g = np.empty((n_frames, gather.size), dtype=np.float32)
    vsum = np.zeros(n_mask, dtype=np.float64)
    vsq = np.zeros(n_mask, dtype=np.float64)

    per_chunk = max(1, min(n_frames, chunk_bytes // frame_bytes))
    buf = bytearray(per_chunk * frame_bytes)
    view = memoryview(buf)
    offset = int(img.dataobj.offset)
    origin = None
    try:
        stream = _open_stream(path)
        _skip(stream, offset, path)
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"cannot open the BOLD data ({type(err).__name__}: {err})", path=path) from None
    with stream as fobj:
        t0 = 0
        while t0 < n_frames:
            k = min(per_chunk, n_frames - t0)
            try:
                got = _read_exact(fobj, view[: k * frame_bytes])
            except Exception as err:  # gzip/zlib raise EOFError, OSError, zlib errors for damaged streams
                raise InputError(f"the compressed data is damaged after {t0} of {n_frames} frames "
                                 f"({type(err).__name__}: {err}); the file is truncated or corrupt, copy it again",
                                 path=path) from None
            if got < k * frame_bytes:
                raise InputError(
                    f"the file ends after {t0 + got // frame_bytes} of {n_frames} frames (truncated download?)",
                    path=path,
                )
            frames = np.frombuffer(buf, dtype=dtype, count=k * frame_vox).reshape(k, frame_vox)
            data = frames[:, mask_index].astype(np.float64)  # float64 sums: cleaned series are ~1e-3 of the mean
            if slope != 1.0 or inter != 0.0:
                data *= slope
                data += inter
            if not np.isfinite(data).all():
                bad = ~np.isfinite(data)
                raise InputError(f"the BOLD series contains NaN or infinite values inside the brain mask ({int(bad.sum())}"
                                 f" value(s), first in frame {t0 + int(np.flatnonzero(bad.any(axis=1))[0])})", path=path)
            out_g[t0 : t0 + k] = data[:, gather]
            if origin is None:  # sums of deviations from the first frame: the variances stay precise
                origin = data[0].copy()
            data -= origin
            out_w[t0 : t0 + k] = (weights @ data.T).T if weights.shape[0] else 0.0
            vsum += data.sum(axis=0)
            vsq += np.einsum("ij,ij->j", data, data)
            t0 += k
    dev_mean = vsum / n_frames
    var = np.maximum(vsq / n_frames - dev_mean**2, 0.0) * (n_frames / max(n_frames - 1, 1))
    mean = dev_mean + origin
    if weights.shape[0]:
        out_w += weights @ origin
    return StreamResult(out_w, out_g, mean, np.sqrt(var))


def stream_dtseries(path, weights=None, gather=None, chunk_bytes=CHUNK_BYTES) -> StreamResult:
    """Read a CIFTI-2 dtseries once, a range of grayordinates at a time, and reduce it as :func:`stream_bold` does.

    Parameters
    ----------
    path : path-like
        Dense time series (``.dtseries.nii``).
    weights : sparse (n_weights, n_grayordinates), optional
        Every frame is multiplied by it (region means, adjacent-cortex means), summed in float64.
    gather : (n_gather,) int array, optional
        Grayordinate columns whose raw series are returned.

    Returns
    -------
    StreamResult
        ``voxel_mean`` and ``voxel_std`` hold one value per grayordinate.
    """
    from ketamine_fc.utils.cifti_io import iter_dtseries, read_grayordinates

    grays, _, n_frames = read_grayordinates(path, n_vertices=None, require_cortex=False)
    n = grays.size
    weights = sparse.csc_matrix((0, n)) if weights is None else sparse.csc_matrix(weights, dtype=np.float64)
    if weights.shape[1] != n:
        raise ValueError(f"weights have {weights.shape[1]} columns for {n} grayordinates")
    gather = np.zeros(0, dtype=np.intp) if gather is None else np.asarray(gather, dtype=np.intp)
    order = np.argsort(gather, kind="stable")
    sorted_gather = gather[order]
    out_w = np.zeros((weights.shape[0], n_frames), dtype=np.float64)
    out_g = np.empty((n_frames, gather.size), dtype=np.float32)
    mean = np.empty(n, dtype=np.float64)
    std = np.empty(n, dtype=np.float64)
    for columns, block in iter_dtseries(path, chunk_bytes=chunk_bytes):
        c0, c1 = columns.start, columns.stop
        data = block.astype(np.float64)
        part = weights[:, c0:c1]
        if part.nnz:
            out_w += part @ data.T
        lo, hi = np.searchsorted(sorted_gather, [c0, c1])
        if hi > lo:
            out_g[:, order[lo:hi]] = block[:, sorted_gather[lo:hi] - c0]
        mean[c0:c1] = data.mean(axis=0)
        std[c0:c1] = data.std(axis=0, ddof=1) if n_frames > 1 else 0.0
    return StreamResult(out_w.T, out_g, mean, std)


def _skip(fobj, n_bytes, path):
    if n_bytes and len(fobj.read(n_bytes)) < n_bytes:
        raise InputError("the file ends inside its header", path=path)


def _read_exact(fobj, view) -> int:
    """Fill ``view`` from ``fobj``; return the number of bytes read (short only at end of file)."""
    total = 0
    while total < len(view):
        n = fobj.readinto(view[total:])
        if not n:
            break
        total += n
    return total


def mask_flat_index(mask: np.ndarray) -> np.ndarray:
    """Flat file-order (Fortran) indices of the True voxels of a 3-D mask."""
    return np.flatnonzero(np.asarray(mask, dtype=bool).ravel(order="F"))
