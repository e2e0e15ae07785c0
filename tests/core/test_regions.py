"""Cleaning region means equals averaging voxels cleaned one by one (the shortcut the participant level takes)."""

import numpy as np
import pytest
from nilearn import signal as nsignal

from ketamine_fc.core.denoise import cleaning_operator
from ketamine_fc.core.regions import clean_region_signals, dvars_before_after, plan_extraction


@pytest.fixture
def grid(rng):
    shape = (7, 8, 9)
    dseg = np.zeros(shape, dtype=int)
    dseg[1:3, 1:4, 1:4] = 1  # "cortex" region 1
    dseg[4:6, 1:4, 1:4] = 2  # "cortex" region 2
    dseg[3, 4:6, 4:6] = 1001  # subcortical region next to them
    dseg[6, 6:8, 7:9] = 1002  # subcortical region far from cortex
    mask = np.ones(shape, bool)
    mask[0] = False
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    return dseg, mask, affine


def test_plan_counts_and_rows(grid):
    dseg, mask, affine = grid
    plan = plan_extraction(dseg, mask, affine, np.array([1, 2, 1001, 1002, 7]),
                           np.array([True, True, False, False, True]), adjacent_cortex_mm=9.0, n_sample=50)
    assert plan.region_voxels.tolist() == [2 * 3 * 3 - 0, 18, 4, 4, 0]
    assert plan.sub_positions.size == 8 and set(plan.sub_region.tolist()) == {2, 3}
    # voxels of 1001 have cortex within 9 mm; the far region 1002 has none
    assert plan.sub_has_cortex[plan.sub_region == 2].all() and not plan.sub_has_cortex[plan.sub_region == 3].any()
    rows = plan.weights[: plan.n_regions].toarray()
    np.testing.assert_allclose(rows[:4].sum(axis=1), 1.0)
    assert rows[4].sum() == 0


def test_region_cleaning_equals_voxelwise_nilearn_then_average(rng, grid):
    dseg, mask, affine = grid
    n_frames = 90
    index = np.array([1, 2])
    plan = plan_extraction(dseg, mask, affine, index, np.array([True, True]), subcortical_cleanup=False, n_sample=0)
    voxels = rng.standard_normal((n_frames, plan.mask_index.size)) + 100
    confounds = rng.standard_normal((n_frames, 4))
    keep = np.ones(n_frames, bool)
    keep[[10, 11, 12, 50]] = False
    means = (plan.weights @ voxels.T).T
    op = cleaning_operator(confounds, keep, 2.0, bandpass=False, order="regress-filter")
    ours = clean_region_signals(means, keep, op, usable=plan.region_voxels > 0)
    # reference: nilearn cleans every voxel (censored frames removed, detrended, confounds regressed), then average
    # (our trend is over the original frame times, so nilearn gets it as a confound; its residuals keep the mean)
    trend = np.arange(n_frames, dtype=float)[:, None]
    ref_vox = nsignal.clean(voxels, confounds=np.column_stack([confounds, trend]), sample_mask=np.flatnonzero(keep),
                            detrend=False, standardize=None, t_r=2.0, filter=False)
    ref = (plan.weights @ (ref_vox - ref_vox.mean(axis=0)).T).T
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-8)


def test_subcortical_bleed_in_removed(rng, grid):
    dseg, mask, affine = grid
    n_frames = 120
    index = np.array([1, 2, 1001])
    plan = plan_extraction(dseg, mask, affine, index, np.array([True, True, False]), adjacent_cortex_mm=9.0,
                           n_sample=0)
    cortex = rng.standard_normal(n_frames)
    own = rng.standard_normal(n_frames)
    voxels = rng.standard_normal((n_frames, plan.mask_index.size)) * 0.1 + 50
    labels = dseg.ravel(order="F")[plan.mask_index]
    voxels[:, np.isin(labels, [1, 2])] += cortex[:, None]
    voxels[:, labels == 1001] += own[:, None] + 0.8 * cortex[:, None]
    means = (plan.weights[: plan.n_regions] @ voxels.T).T
    keep = np.ones(n_frames, bool)
    op = cleaning_operator(None, keep, 2.0, bandpass=False)
    sub = voxels[:, plan.sub_positions]
    adj = (plan.weights[plan.n_regions:] @ voxels.T).T
    cleaned = clean_region_signals(means, keep, op, sub_voxels=sub, sub_adjacent=adj, sub_region=plan.sub_region,
                                   sub_has_cortex=plan.sub_has_cortex, usable=plan.region_voxels > 0)
    raw_r = np.corrcoef(op @ means[:, 2], cortex)[0, 1]
    clean_r = np.corrcoef(cleaned[:, 2], cortex)[0, 1]
    assert raw_r > 0.5 and abs(clean_r) < 0.05
    assert np.corrcoef(cleaned[:, 2], own)[0, 1] > 0.95


def test_dvars_after_cleaning_only_on_consecutive_retained_frames(rng):
    sample = rng.standard_normal((40, 30))
    keep = np.ones(40, bool)
    keep[[5, 20, 21]] = False
    op = cleaning_operator(None, keep, 2.0, bandpass=False)
    before, after = dvars_before_after(sample, keep, op)
    assert np.isnan(before[0]) and np.isfinite(before[1:]).all()
    assert np.isnan(after[[5, 6, 20, 21, 22]]).all() and np.isfinite(after[[1, 4, 7, 23]]).all()
