"""Region signals: plan what one read of the BOLD must keep, then clean it.

Every cleaning step (regression on retained frames, interpolation, band-pass, re-censoring) is linear and
identical for every voxel, so cleaning region means equals averaging cleaned voxels. The BOLD is therefore
reduced to region means while it is read; only subcortical voxels (for the adjacent-cortex regression) and a
fixed sample of voxels (for DVARS) are kept individually.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ketamine_fc.core.extraction import FRAME_FIELDS, ExtractedSignals
from ketamine_fc.core.qc import dvars

DVARS_SAMPLE = 10000
#: the per-frame arrays of the extracted signals (rows = frames)
FRAME_KEYS = FRAME_FIELDS


@dataclass
class ExtractionPlan:
    """Which voxels to read and how to reduce each frame (positions refer to in-mask voxels)."""

    mask_index: np.ndarray  # flat Fortran-order indices of in-mask voxels
    weights: sparse.csr_matrix  # (n_regions + n_sub, n_mask): region means, then adjacent-cortex means
    n_regions: int
    region_voxels: np.ndarray  # (n_regions,) in-mask voxel count per region
    sub_positions: np.ndarray  # in-mask positions of the subcortical voxels that are cleaned individually
    sub_region: np.ndarray  # (n_sub,) row of the region each of those voxels belongs to
    sub_has_cortex: np.ndarray  # (n_sub,) bool: cortex lies within the radius
    sample_positions: np.ndarray  # in-mask positions of the DVARS sample

    @property
    def gather(self) -> np.ndarray:
        return np.concatenate([self.sub_positions, self.sample_positions])


def plan_extraction(dseg, mask, affine, region_index, cortical, *, adjacent_cortex_mm=20.0,
                    subcortical_cleanup=True, n_sample=DVARS_SAMPLE, seed=0) -> ExtractionPlan:
    """Build the averaging matrix and voxel lists for one BOLD grid.

    Parameters
    ----------
    dseg : (X, Y, Z) int array
        Region labels on the BOLD grid (0 = none).
    mask : (X, Y, Z) bool array
        BOLD brain mask.
    affine : (4, 4) array
        Voxel-to-world (mm) transform of the grid.
    region_index : (R,) int array
        Label value of each region, in output column order.
    cortical : (R,) bool array
        True for cortical regions (their voxels are the "cortex" of the adjacent-cortex regression).
    """
    from ketamine_fc.core.parcellation import region_means_matrix
    from ketamine_fc.core.subcortical import adjacent_cortex_weights

    mask = np.asarray(mask, dtype=bool)
    dseg = np.asarray(dseg)
    mask_index = np.flatnonzero(mask.ravel(order="F"))
    labels = dseg.ravel(order="F")[mask_index]
    region_index = np.asarray(region_index)
    cortical = np.asarray(cortical, dtype=bool)
    w_regions = region_means_matrix(labels, region_index)
    n_regions = region_index.size
    counts = np.diff(w_regions.indptr)
    member = w_regions.tocoo()
    voxel_row = np.full(mask_index.size, -1)
    voxel_row[member.col] = member.row
    inside = np.flatnonzero(voxel_row >= 0)
    sub_positions = np.zeros(0, dtype=np.intp)
    sub_region = np.zeros(0, dtype=np.intp)
    has_cortex = np.zeros(0, dtype=bool)
    blocks = [w_regions]
    if subcortical_cleanup:
        is_sub = np.zeros(mask_index.size, dtype=bool)
        is_ctx = np.zeros(mask_index.size, dtype=bool)
        is_sub[inside] = ~cortical[voxel_row[inside]]
        is_ctx[inside] = cortical[voxel_row[inside]]
        sub_positions = np.flatnonzero(is_sub)
        sub_region = voxel_row[sub_positions]
        ijk = np.column_stack(np.unravel_index(mask_index, mask.shape, order="F"))
        xyz = ijk @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]
        ctx_positions = np.flatnonzero(is_ctx)
        adj = sparse.csr_matrix(adjacent_cortex_weights(xyz[sub_positions], xyz[ctx_positions], adjacent_cortex_mm))
        has_cortex = np.diff(adj.indptr) > 0
        adj = adj.tocoo()
        blocks.append(sparse.csr_matrix((adj.data, (adj.row, ctx_positions[adj.col])),
                                        shape=(sub_positions.size, mask_index.size)))
    rng = np.random.default_rng(seed)
    n_sample = min(n_sample, mask_index.size)
    sample = np.sort(rng.choice(mask_index.size, n_sample, replace=False)) if n_sample else np.zeros(0, int)
    return ExtractionPlan(
        mask_index=mask_index, weights=sparse.vstack(blocks, format="csr"), n_regions=n_regions,
        region_voxels=counts, sub_positions=sub_positions, sub_region=sub_region, sub_has_cortex=has_cortex,
        sample_positions=sample,
    )


def clean_region_signals(region_means, keep, operator, *, sub_voxels=None, sub_adjacent=None, sub_region=None,
                         sub_has_cortex=None, usable=None):
    """Apply a cleaning operator to region means and redo subcortical regions after the cortex regression.

    Parameters
    ----------
    region_means : (T, R) raw region means
    keep : (T,) bool, frames retained
    operator : (n_keep, T) linear cleaning operator (``denoise.cleaning_operator``)
    sub_voxels, sub_adjacent : (T, n_sub), optional
        Raw subcortical voxel series and the raw mean of the cortex within the radius of each.
    sub_region : (n_sub,) region row of each subcortical voxel.
    usable : (R,) bool, optional
        Regions covered well enough (:func:`region_status`); the others become NaN.

    Returns
    -------
    (n_keep, R) cleaned region time series (NaN columns for missing regions).
    """
    from ketamine_fc.core.subcortical import regress_adjacent

    cleaned = operator @ np.asarray(region_means, dtype=np.float64)
    if sub_voxels is not None and sub_voxels.shape[1]:
        vox = operator @ np.asarray(sub_voxels, dtype=np.float64)
        adj = operator @ np.asarray(sub_adjacent, dtype=np.float64)
        resid = vox.copy()
        if sub_has_cortex is not None and np.any(sub_has_cortex):
            resid[:, sub_has_cortex] = regress_adjacent(vox[:, sub_has_cortex], adj[:, sub_has_cortex])
        n_regions = cleaned.shape[1]
        member = sparse.csr_matrix((np.ones(sub_region.size), (sub_region, np.arange(sub_region.size))),
                                   shape=(n_regions, sub_region.size))
        rows = np.unique(sub_region)
        n = np.asarray(member.sum(axis=1)).ravel()
        cleaned[:, rows] = (member @ resid.T).T[:, rows] / n[rows]
    if usable is not None:
        cleaned[:, ~np.asarray(usable, dtype=bool)] = np.nan
    return cleaned


#: region status values, in the QC tables
STATUS = {"ok": "covered by the brain mask",
          "shrunk": "less than the minimum fraction of its atlas voxels inside the brain mask",
          "outside_mask": "fewer than the minimum number of voxels inside the brain mask",
          "too_small": "fewer than the minimum number of voxels on this grid even without a mask"}


def region_status(mask_voxels, atlas_voxels, *, min_voxels=3, min_coverage=0.5):
    """Whether each region can be used, given its voxels inside the brain mask and on the whole grid.

    Returns
    -------
    status : (R,) array of str
        ``ok``, ``shrunk`` (coverage below ``min_coverage``), ``outside_mask`` (fewer than ``min_voxels`` inside
        the mask) or ``too_small`` (fewer than ``min_voxels`` on the grid at all); see :data:`STATUS`.
    coverage : (R,) float array
        ``mask_voxels / atlas_voxels`` (NaN where the atlas has no voxel).
    """
    mask_voxels = np.asarray(mask_voxels, dtype=float)
    atlas_voxels = np.asarray(atlas_voxels, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(atlas_voxels > 0, mask_voxels / atlas_voxels, np.nan)
    status = np.full(mask_voxels.shape, "ok", dtype=object)
    status[np.nan_to_num(coverage, nan=0.0) < min_coverage] = "shrunk"
    status[mask_voxels < min_voxels] = "outside_mask"
    status[atlas_voxels < min_voxels] = "too_small"
    return status, coverage


def dvars_before_after(sample, keep, operator):
    """DVARS of the voxel sample before cleaning (all frames) and after (retained frames only)."""
    sample = np.asarray(sample, dtype=np.float64)
    before = dvars(sample)
    after_kept = dvars(operator @ sample, frames=np.flatnonzero(keep))
    after = np.full(sample.shape[0], np.nan)
    after[np.flatnonzero(keep)] = after_kept
    return before, after


def denoise_run(signals: ExtractedSignals, censoring: pd.DataFrame, nuisance: pd.DataFrame, table: pd.DataFrame,
                tr: float, params: dict, *, min_region_voxels: int = 3, min_region_coverage: float = 0.5) -> dict:
    """Clean one run's extracted signals; return the time series, design, region QC, run QC and per-frame DVARS.

    ``signals`` is the :class:`~ketamine_fc.core.extraction.ExtractedSignals` of the run (a mapping of its field
    names is accepted too, for hand-made reductions); its regions must be the rows of ``table``.

    ``params`` holds the denoising settings by name (``detrend``, ``lower_bpf``, ``upper_bpf``,
    ``disable_bandpass_filter``, ``bpf_order``, ``denoise_order``). A run whose retained frames cannot support
    the regression (fewer than the design's columns + 2) is not an error: it yields an empty time series, the
    QC flag ``too_few_frames`` and a sentence in ``qc["problems"]``.

    Dummy (non-steady-state) frames are removed before anything else, as XCP-D does: the detrending, the
    filter and its padding see the run from its first steady-state frame. The design keeps one row per frame
    (n/a for the dummy frames).
    """
    from ketamine_fc.core.denoise import cleaning_operator, regression_design

    n_frames = len(censoring)
    start = int(np.argmin(censoring["dummy"].to_numpy() != 0)) if (censoring["dummy"] == 0).any() else n_frames
    keep_all = censoring["retained"].to_numpy().astype(bool)
    keep = keep_all[start:]
    if not isinstance(signals, ExtractedSignals):
        signals = ExtractedSignals.from_mapping(signals, tr=tr, region_index=table["index"].to_numpy())
    if not np.array_equal(signals.region_index, table["index"].to_numpy()):
        raise ValueError(f"the extracted signals hold {signals.n_regions} regions that are not the {len(table)} rows "
                         "of the region table (another atlas?)")
    if signals.n_frames != n_frames:
        raise ValueError(f"the extracted signals have {signals.n_frames} frames, the censoring table {n_frames}")
    signals = signals.drop_frames(start)
    confounds = nuisance.to_numpy(dtype=float)[start:] if nuisance.shape[1] else None
    filtering = dict(low_pass=params["upper_bpf"], high_pass=params["lower_bpf"],
                     bandpass=not params["disable_bandpass_filter"], filter_order=params["bpf_order"],
                     detrend=params["detrend"], order=params["denoise_order"],
                     padtype=params.get("bpf_padtype", "constant"), padlen=params.get("bpf_padlen"))
    design = regression_design(confounds, keep if keep.any() else np.ones(keep.size, bool), tr, **filtering)
    names = list(nuisance.columns)
    if params["denoise_order"] == "regress-filter":
        names = ["intercept", "linear_trend"][: design.shape[1] - len(names)] + names
    labels = table["label"].tolist()
    atlas_voxels = signals.atlas_voxels
    status, coverage = region_status(signals.region_voxels, atlas_voxels, min_voxels=min_region_voxels,
                                     min_coverage=min_region_coverage)
    flags, problems = [], []
    n_keep = int(keep.sum())
    fd = censoring["framewise_displacement"].to_numpy(dtype=float)
    not_dummy = censoring["dummy"].to_numpy() == 0
    if n_keep < design.shape[1] + 2:
        flags.append("too_few_frames")
        problems.append("every frame is censored" if n_keep == 0 else
                        f"{n_keep} retained frames are too few for the {design.shape[1]} regressors of the design "
                        "(at least 2 more frames are needed)")
        cleaned = np.zeros((0, len(labels)))
        dv_before = np.full(n_frames, np.nan)
        dv_after = np.full(n_frames, np.nan)
    else:
        operator = cleaning_operator(confounds, keep, tr, **filtering)
        cleaned = clean_region_signals(
            signals.region_means, keep, operator,
            sub_voxels=signals.sub_voxels if signals.n_sub else None, sub_adjacent=signals.sub_adjacent,
            sub_region=signals.sub_region, sub_has_cortex=signals.sub_has_cortex, usable=status == "ok")
        dv_before, dv_after = (np.r_[np.full(start, np.nan), d] for d in
                               dvars_before_after(signals.sample, keep, operator))
    timeseries = pd.DataFrame(cleaned, columns=labels)
    lost = {kind: [lab for lab, s in zip(labels, status) if s == kind] for kind in ("outside_mask", "shrunk",
                                                                                   "too_small")}
    qc = {
        "n_frames": n_frames,
        "n_dummy": int((~not_dummy).sum()),
        "n_censored": int(n_frames - n_keep - (~not_dummy).sum()),
        "n_retained": n_keep,
        "retained_seconds": n_keep * tr,
        "mean_fd": float(np.mean(fd[not_dummy])) if not_dummy.any() else float("nan"),
        "max_fd": float(np.max(fd[not_dummy])) if not_dummy.any() else float("nan"),
        "mean_dvars_before": float(np.nanmean(dv_before)) if np.isfinite(dv_before).any() else float("nan"),
        "mean_dvars_after": float(np.nanmean(dv_after)) if np.isfinite(dv_after).any() else float("nan"),
        "median_tsnr": signals.brain_tsnr,
        "n_missing_regions": int(np.sum(status != "ok")),
        "missing_regions": lost["outside_mask"],
        "shrunk_regions": lost["shrunk"],
        "absent_regions": lost["too_small"],
        "retained_frames": np.flatnonzero(keep_all).tolist(),
        "flags": flags,
        "problems": problems,
    }
    regions_qc = pd.DataFrame({"index": table["index"], "label": labels, "n_voxels": signals.region_voxels,
                               "n_voxels_atlas": atlas_voxels, "coverage": coverage, "status": status,
                               "tsnr": signals.region_tsnr})
    design = np.vstack([np.full((start, design.shape[1]), np.nan), design])
    design = pd.DataFrame(design, columns=names)
    design.insert(0, "frame", np.arange(n_frames))
    frames = pd.DataFrame({"frame": np.arange(n_frames), "dvars_before": dv_before, "dvars_after": dv_after})
    return {"timeseries": timeseries, "design": design, "regions_qc": regions_qc, "qc": qc, "frames": frames}
