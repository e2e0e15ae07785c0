"""Adjacent-cortex weights against brute-force distances; the regression against numpy lstsq and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.spatial.distance import cdist

from ketamine_fc.core.subcortical import adjacent_cortex_weights, regress_adjacent


def test_weights_average_the_cortex_within_the_radius(rng):
    sub = rng.uniform(-30, 30, size=(40, 3))
    ctx = rng.uniform(-60, 60, size=(900, 3))
    sub[0] = [500, 500, 500]  # no cortex in reach
    w = adjacent_cortex_weights(sub, ctx, radius_mm=20.0)
    assert w.shape == (40, 900) and w.format == "csr"
    near = cdist(sub, ctx) <= 20.0
    expected = near / np.maximum(near.sum(axis=1, keepdims=True), 1)
    np.testing.assert_allclose(w.toarray(), expected, rtol=1e-12)
    assert w[0].nnz == 0
    np.testing.assert_allclose(np.asarray(w.sum(axis=1)).ravel()[1:], 1.0)
    # the product is the mean of the nearby cortical series
    ts = rng.normal(size=(900, 5))
    np.testing.assert_allclose((w @ ts)[5], ts[near[5]].mean(axis=0))


def test_weights_radius_is_inclusive_and_empty_inputs_work():
    ctx = np.array([[0.0, 0, 20.0], [0, 0, 20.5]])
    w = adjacent_cortex_weights([[0.0, 0, 0]], ctx, 20.0)
    assert w.toarray().tolist() == [[1.0, 0.0]]
    assert adjacent_cortex_weights(np.zeros((0, 3)), ctx).shape == (0, 2)
    assert adjacent_cortex_weights([[0.0, 0, 0]], np.zeros((0, 3))).shape == (1, 0)


def test_planted_bleed_in_is_removed(rng):
    t, v = 400, 30
    own = rng.normal(size=(t, v)) + 3.0
    scale = rng.uniform(0.5, 2, size=v)
    adjacent = rng.normal(size=(t, v)) * scale + 10.0
    sub = own + 0.7 * adjacent
    resid = regress_adjacent(sub, adjacent)
    for j in range(v):
        assert abs(np.corrcoef(resid[:, j], adjacent[:, j])[0, 1]) < 1e-10
        assert np.corrcoef(resid[:, j], own[:, j])[0, 1] > 0.95
    np.testing.assert_allclose(resid.mean(axis=0), 0, atol=1e-10)
    # the part removed is (planted coefficient) x adjacent, up to the chance covariance of own and adjacent
    removed = sub - resid
    slopes = np.array([np.polyfit(adjacent[:, j], removed[:, j], 1)[0] for j in range(v)])
    standard_error = 1.0 / (scale * np.sqrt(t))
    assert np.all(np.abs(slopes - 0.7) < 4 * standard_error)


def test_matches_lstsq_per_column_with_censored_frames(rng):
    t, v = 120, 8
    y = rng.normal(size=(t, v)).cumsum(axis=0)
    x = rng.normal(size=(t, v)).cumsum(axis=0)
    keep = rng.random(t) > 0.3
    ours = regress_adjacent(y, x, keep=keep)
    for j in (0, 3, 7):
        design = np.column_stack([np.ones(t), x[:, j]])
        beta = np.linalg.lstsq(design[keep], y[keep, j], rcond=None)[0]
        np.testing.assert_allclose(ours[:, j], y[:, j] - design @ beta, rtol=1e-9, atol=1e-9)
    fit = sm.OLS(y[keep, 2], sm.add_constant(x[keep, 2])).fit()
    np.testing.assert_allclose(ours[keep, 2], fit.resid, rtol=1e-9, atol=1e-9)
    # integer frame indices work like the boolean mask
    np.testing.assert_allclose(regress_adjacent(y, x, keep=np.flatnonzero(keep)), ours)


def test_columns_without_adjacent_signal_are_only_demeaned(rng):
    y = rng.normal(size=(50, 3)) + 5
    x = rng.normal(size=(50, 3))
    x[:, 1] = 0.0  # absent
    x[:, 2] = 4.2  # constant
    out = regress_adjacent(y, x)
    np.testing.assert_allclose(out[:, 1:], y[:, 1:] - y[:, 1:].mean(axis=0))
    assert np.all(np.isfinite(out))
    with pytest.raises(ValueError, match="shape"):
        regress_adjacent(y, x[:, :2])
