"""Fisher-z FC and QC measures against numpy/scipy references and hand-computed values."""

import numpy as np
import pytest
from scipy import stats

from ketamine_fc.core.connectivity import R_CLIP, concatenate_runs, correlation_matrix, fisher_z
from ketamine_fc.core.qc import dvars, tsnr


def test_correlation_matches_scipy_pearson(rng):
    ts = rng.standard_normal((50, 6))
    ts[:, 1] += 0.8 * ts[:, 0]
    r = correlation_matrix(ts)
    for i in range(6):
        for j in range(6):
            assert r[i, j] == pytest.approx(stats.pearsonr(ts[:, i], ts[:, j])[0], abs=1e-12)


def test_missing_and_constant_regions_are_nan_not_zero(rng):
    ts = rng.standard_normal((30, 4))
    ts[:, 1] = np.nan
    ts[:, 3] = 5.0
    r = correlation_matrix(ts)
    assert np.isnan(r[1]).all() and np.isnan(r[:, 3]).all()
    assert r[0, 2] == pytest.approx(np.corrcoef(ts[:, 0], ts[:, 2])[0, 1])
    assert r[0, 0] == 1.0


def test_fisher_z_by_hand():
    r = np.array([[1.0, 0.5], [0.5, 1.0]])
    z = fisher_z(r)
    assert z[0, 1] == pytest.approx(0.5 * np.log(1.5 / 0.5))  # 0.549306...
    assert np.isfinite(z[0, 0]) and z[0, 0] == pytest.approx(np.arctanh(R_CLIP))
    assert fisher_z(np.array([-0.2]))[0] == pytest.approx(-0.2027325541)


def test_concatenate_runs_checks_width(rng):
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((7, 3))
    assert concatenate_runs([a, b]).shape == (12, 3)
    with pytest.raises(ValueError, match="different numbers of regions"):
        concatenate_runs([a, rng.standard_normal((4, 2))])


def test_dvars_by_hand_and_gaps():
    data = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0], [0.0, 0.0]])
    # rms of (3, 4) = sqrt(12.5)
    np.testing.assert_allclose(dvars(data), [np.nan, np.sqrt(12.5), 0.0, np.sqrt(12.5)])
    np.testing.assert_allclose(dvars(data, frames=[0, 1, 5, 6]), [np.nan, np.sqrt(12.5), np.nan, np.sqrt(12.5)])


def test_tsnr():
    np.testing.assert_allclose(tsnr([10.0, 5.0], [2.0, 0.0]), [5.0, np.nan])
