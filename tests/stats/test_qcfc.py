"""QC-FC and motion comparisons (ketamine_fc.core.stats.qcfc) against scipy, and on planted effects."""

import numpy as np
import pytest
from scipy import stats

from ketamine_fc.core.stats.qcfc import (compare_groups, compare_paired, edge_distances, participant_means, qcfc,
                                         qcfc_summary, spearman)


def _sessions(rng, n_sessions=60, n_edges=2000):
    fd = rng.gamma(4.0, 0.04, n_sessions)
    return fd, rng.normal(0.3, 0.1, (n_sessions, n_edges))


def test_qcfc_equals_scipy_pearsonr_per_edge_with_missing_values():
    rng = np.random.default_rng(1)
    fd, edges = _sessions(rng, 25, 40)
    edges[:, :10] += 0.8 * fd[:, None]
    edges[rng.random(edges.shape) < 0.15] = np.nan  # regions lost to the mask in some sessions
    edges[:3, 20] = rng.normal(0.3, 0.1, 3)
    edges[3:, 20] = np.nan  # only 3 sessions left: still computed
    edges[2:, 21] = np.nan  # 2 sessions: too few
    edges[:, 22] = 0.37  # constant FC: no r
    fd[5] = np.nan  # a session without FD is left out of every edge
    r, p, n = qcfc(edges, fd)
    for e in range(edges.shape[1]):
        ok = np.isfinite(edges[:, e]) & np.isfinite(fd)
        assert n[e] == ok.sum()
        if e in (21, 22):
            assert np.isnan(r[e]) and np.isnan(p[e])
            continue
        ref = stats.pearsonr(edges[ok, e], fd[ok])
        assert r[e] == pytest.approx(ref.statistic, abs=1e-12)
        assert p[e] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-14)
    assert n[20] == 3


def test_qcfc_checks_shapes():
    with pytest.raises(ValueError, match="n_sessions = 4"):
        qcfc(np.zeros((5, 3)), np.zeros(4))


def test_planted_motion_edges_are_flagged_and_null_edges_give_about_5_percent():
    rng = np.random.default_rng(2)
    fd, edges = _sessions(rng)
    planted = rng.choice(edges.shape[1], 100, replace=False)
    edges[:, planted] += 3.0 * (fd - fd.mean())[:, None]  # FC of these edges rises with motion
    r, p, _ = qcfc(edges, fd)
    null = np.setdiff1d(np.arange(edges.shape[1]), planted)
    assert (r[planted] > 0.5).all() and (p[planted] < 1e-4).all()
    assert np.median(np.abs(r[planted])) > 5 * np.median(np.abs(r[null]))
    assert 3.5 < 100 * (p[null] < 0.05).mean() < 6.5
    summary = qcfc_summary(r[null], p[null])
    assert summary["n_edges"] == null.size
    assert summary["pct_edges_p05"] == pytest.approx(100 * (p[null] < 0.05).mean())
    assert np.isnan(summary["distance_rho"]) and summary["n_edges_distance"] == 0


def test_planted_distance_dependence_gives_a_negative_spearman_rho():
    rng = np.random.default_rng(3)
    fd, edges = _sessions(rng)
    distance = rng.uniform(10, 150, edges.shape[1])
    beta = 2.0 * np.exp(-distance / 30.0)  # short edges more motion-affected
    r, p, _ = qcfc(edges + beta * (fd - fd.mean())[:, None], fd)
    summary = qcfc_summary(r, p, distance)
    ref = stats.spearmanr(r, distance)
    assert summary["distance_rho"] == pytest.approx(ref.statistic, abs=1e-12)
    assert summary["distance_p"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert summary["distance_rho"] < -0.3 and summary["distance_p"] < 1e-10
    assert summary["median_abs_r"] == pytest.approx(np.median(np.abs(r)))
    # without the planted effect there is no distance dependence
    r0, p0, _ = qcfc(edges, fd)
    assert abs(qcfc_summary(r0, p0, distance)["distance_rho"]) < 0.1


def test_summary_leaves_out_edges_without_r_or_distance():
    rng = np.random.default_rng(4)
    r, p, d = rng.uniform(-0.5, 0.5, 50), rng.uniform(0, 1, 50), rng.uniform(5, 100, 50)
    r[0], d[1] = np.nan, np.nan
    summary = qcfc_summary(r, p, d)
    ref = stats.spearmanr(r[2:], d[2:])
    assert summary["n_edges"] == 49 and summary["n_edges_distance"] == 48
    assert summary["distance_rho"] == pytest.approx(ref.statistic, abs=1e-12)
    assert summary["pct_edges_p05"] == pytest.approx(100 * (p[1:] < 0.05).mean())
    with pytest.raises(ValueError, match="distance"):
        qcfc_summary(r, p, d[:10])


def test_spearman_with_ties_equals_scipy():
    x = np.array([1, 2, 2, 3, 5, 5, 5, 8, 9, 9.0])
    y = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3.0])
    res, ref = spearman(x, y), stats.spearmanr(x, y)
    assert res["rho"] == pytest.approx(ref.statistic, abs=1e-12)
    assert res["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert np.isnan(spearman([1, 2], [3, 4])["rho"])


def test_edge_distances():
    c = np.array([[0, 0, 0], [3, 4, 0], [np.nan, 0, 0.0]])
    np.testing.assert_allclose(edge_distances(c, [0, 0, 1], [1, 2, 2]), [5.0, np.nan, np.nan])


def test_participant_means_ignore_missing_values():
    ids, means = participant_means(["b", "a", "b", "c"], [1.0, 2.0, 3.0, np.nan])
    assert list(ids) == ["a", "b", "c"]
    np.testing.assert_allclose(means, [2.0, 2.0, np.nan])


def _motion_study(rng, shift):
    """Patients with one or two pre sessions and one post session; post FD raised by ``shift`` mm."""
    ids = [f"sub-P{i:02d}" for i in range(20)]
    level = dict(zip(ids, rng.gamma(6.0, 0.02, len(ids))))
    pre = [(s, level[s] + rng.normal(0, 0.02)) for s in ids for _ in range(1 + (s < "sub-P10"))]
    post = [(s, level[s] + shift + rng.normal(0, 0.02)) for s in ids[:-2]]  # two without a post session
    return [np.array(v) for v in zip(*pre)], [np.array(v) for v in zip(*post)]


@pytest.mark.parametrize("shift", [0.05, 0.0])
def test_paired_motion_test_finds_a_planted_post_increase_only(shift):
    (pre_id, pre_fd), (post_id, post_fd) = _motion_study(np.random.default_rng(5), shift)
    res = compare_paired(post_id, post_fd, pre_id, pre_fd)
    # by hand: mean of each patient's pre sessions, paired with the post session
    pre_mean = {s: pre_fd[pre_id == s].mean() for s in set(pre_id)}
    b = np.array([pre_mean[s] for s in post_id])
    ref = stats.ttest_rel(post_fd, b)
    assert res["n_1"] == res["n_2"] == 18 and res["df"] == 17
    assert res["t"] == pytest.approx(ref.statistic) and res["p"] == pytest.approx(ref.pvalue)
    assert res["mean_1"] == pytest.approx(post_fd.mean()) and res["sd_2"] == pytest.approx(b.std(ddof=1))
    if shift:
        assert res["p"] < 0.001 and res["t"] > 0
    else:
        assert res["p"] > 0.05


def test_unpaired_motion_test_is_student_t_on_participant_means():
    rng = np.random.default_rng(6)
    pts = np.repeat([f"P{i}" for i in range(8)], 2)
    ctl = np.array([f"C{i}" for i in range(11)])
    a, b = rng.normal(0.15, 0.03, pts.size), rng.normal(0.10, 0.03, ctl.size)
    res = compare_groups(pts, a, ctl, b)
    means = a.reshape(8, 2).mean(axis=1)
    ref = stats.ttest_ind(means, b, equal_var=True)
    assert (res["n_1"], res["n_2"], res["df"]) == (8, 11, 17)
    assert res["t"] == pytest.approx(ref.statistic) and res["p"] == pytest.approx(ref.pvalue)
    assert res["mean_1"] == pytest.approx(means.mean()) and res["sd_1"] == pytest.approx(means.std(ddof=1))
