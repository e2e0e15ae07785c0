"""Network-based statistic: core, permutation statistics (exactness, reruns), bctpy, planted effect, null size."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from scipy import stats

from ketamine_fc.core.stats.edgewise import edge_indices, fit_edges, vectorize
from ketamine_fc.core.stats.nbs import (
    BetweenParticipantT,
    TwoSampleT,
    WithinParticipantT,
    find_components,
    max_component,
    nbs,
)
from ketamine_fc.errors import InputError

TERMS = ["intercept", "time", "time:response"]


def edge_vector(n_nodes, pairs, value, fill=0.0):
    t = np.full(n_nodes * (n_nodes - 1) // 2, fill)
    i, j = edge_indices(n_nodes)
    for a, b in pairs:
        t[(i == min(a, b)) & (j == max(a, b))] = value
    return t


# ------------------------------------------------------------------------------------------------ NBS core


def test_components_sizes_intensity_and_directions():
    t = edge_vector(8, [(0, 1), (1, 2), (2, 0)], 4.0)  # a positive triangle
    t += edge_vector(8, [(4, 5), (5, 6)], -3.5)  # a negative path
    t += edge_vector(8, [(6, 7)], 3.0)  # exactly at the threshold: excluded (strict)
    t += edge_vector(8, [(3, 7)], 2.0)  # below
    sep = find_components(t, 3.0)
    assert [(c.sign, c.size, c.nodes.tolist()) for c in sep] == [(1, 3, [0, 1, 2]), (-1, 2, [4, 5, 6])]
    np.testing.assert_allclose([c.intensity for c in sep], [3.0, 1.0])
    assert [c.sign for c in find_components(t, 3.0, direction="positive")] == [1]
    assert [c.size for c in find_components(t, 3.0, direction="negative")] == [2]
    absolute = find_components(t + edge_vector(8, [(2, 4)], -3.2), 3.0, direction="absolute")
    assert [(c.sign, c.size) for c in absolute] == [(0, 6)]  # signs mixed in one component
    assert max_component(t, 3.0) == 3 and max_component(t, 3.0, measure="intensity") == 3.0
    assert max_component(np.full(28, np.nan), 3.0) == 0.0


def test_p_values_from_the_null_of_maxima():
    observed = edge_vector(12, [(0, 1), (1, 2), (2, 3)], 5.0) + edge_vector(12, [(5, 6)], -5.0)
    nulls = [edge_vector(12, [(a, a + 1) for a in range(k)], 4.0) for k in range(10)]  # a path of k edges

    res = nbs(observed, lambda k: nulls[k], 10, threshold=3.0, scheme={"name": "fixed"})
    assert [c.size for c in res.components] == [3, 1]
    np.testing.assert_allclose(res.null, np.arange(10))
    assert [c.p for c in res.components] == [0.7, 0.9]  # null maxima >= 3: 3..9; >= 1: 1..9
    assert (res.edge_component >= 0).sum() == 4 and res.info["permutation"] == {"name": "fixed"}
    json.dumps(res.as_dict())
    with pytest.raises(ValueError, match="direction"):
        nbs(observed, lambda k: nulls[k], 10, threshold=3.0, direction="two-sided")
    with pytest.raises(InputError, match="returned"):
        nbs(observed, lambda k: observed[:-1], 2, threshold=3.0)

    class Screened:
        threshold = 3.5

        def __call__(self, k):
            return nulls[k]
    with pytest.raises(ValueError, match="screened for threshold 3.5"):
        nbs(observed, Screened(), 10, threshold=3.0)


# ------------------------------------------------------------------------------- LME permutation statistics


def paper_like(rng, n_nodes=16, n_sub=21):
    """Unbalanced patients (up to 2 pre sessions, some without pre or post) and sessions missing regions."""
    rows = []
    for s in range(n_sub):
        n_pre = [2, 1, 1, 0][s % 4]
        rows += [(s, 0.0)] * n_pre + ([(s, 1.0)] if s % 7 != 3 else [])
    groups, time = (np.array(c) for c in zip(*rows))
    response = (np.arange(n_sub) % 2 == 0)[groups].astype(float)
    n, m = len(groups), n_nodes * (n_nodes - 1) // 2
    i, j = edge_indices(n_nodes)
    Z = 0.3 + rng.normal(0, 0.05, (n_sub, m))[groups] * rng.uniform(0, 1.5, m) + rng.normal(0, 0.05, (n, m))
    for s in rng.choice(n, 4, replace=False):  # regions lost to a session's mask
        lost = rng.choice(n_nodes, 2, replace=False)
        Z[s, np.isin(i, lost) | np.isin(j, lost)] = np.nan
    X = np.column_stack([np.ones(n), time, time * response])
    return Z, X, groups, time, response


@pytest.fixture(scope="module")
def unbalanced():
    return paper_like(np.random.default_rng(3))


def dense_t(y, X, g, r, k_of, col):
    Hinv = np.linalg.inv(np.eye(len(y)) + r * (g[:, None] == g[None, :]))
    M = X.T @ Hinv @ X
    b = np.linalg.solve(M, X.T @ Hinv @ y)
    res = y - X @ b
    return b[col] / np.sqrt(res @ Hinv @ res / k_of(len(y)) * np.linalg.inv(M)[col, col])


@pytest.mark.parametrize("method", ["ml", "reml"])
def test_unpermuted_statistic_is_the_lme_t(unbalanced, method):
    Z, X, groups, time, response = unbalanced
    fits = fit_edges(Z, X, groups, term_names=TERMS, method=method)
    assert len(fits.present) > 3 and (fits.reason == 0).all()
    within = WithinParticipantT(Z, X, groups, term_names=TERMS, term="time", fits=fits, method=method,
                                n_perm=10, seed=0)
    between = BetweenParticipantT(Z, X, groups, term_names=TERMS, label=response, factor=time, fits=fits,
                                  method=method, n_perm=10, seed=0)
    np.testing.assert_allclose(within.observed, fits.t[1], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(between.observed, fits.t[2], rtol=1e-8, atol=1e-10)


def fl_permuted(Z, X, groups, e, r, perm, reduced=(0, 2)):
    """Freedman-Lane data of edge ``e``: reduced-model GLS fit (at r) + its residuals moved by the permutation
    induced on the edge's sessions (session s takes the design row of sigma(s): its residual moves to sigma(s))."""
    ok = np.flatnonzero(~np.isnan(Z[:, e]))
    y, g = Z[ok, e], groups[ok]
    Hinv = np.linalg.inv(np.eye(ok.size) + r * (g[:, None] == g[None, :]))
    Xr = X[ok][:, list(reduced)]
    fitted = Xr @ np.linalg.solve(Xr.T @ Hinv @ Xr, Xr.T @ Hinv @ y)
    present, pos = set(ok.tolist()), {s: a for a, s in enumerate(ok)}
    moved = np.empty(ok.size)
    for s in ok:
        q = perm[s]
        while q not in present:
            q = perm[q]
        moved[pos[q]] = (y - fitted)[pos[s]]
    out = np.full(len(groups), np.nan)
    out[ok] = fitted + moved
    return out


@pytest.mark.parametrize("method", ["ml", "reml"])
def test_permuted_statistics_are_lme_refits(unbalanced, method):
    """Permutation k's t is the LME t fitted anew to the permuted data (both schemes, edges with missing
    sessions too), to the optimiser's precision."""
    Z, X, groups, time, response = unbalanced
    fits = fit_edges(Z, X, groups, term_names=TERMS, method=method)
    within = WithinParticipantT(Z, X, groups, term_names=TERMS, fits=fits, method=method, n_perm=20, seed=1)
    between = BetweenParticipantT(Z, X, groups, term_names=TERMS, label=response, factor=time, fits=fits,
                                  method=method, n_perm=20, seed=1)
    rng = np.random.default_rng(2)
    incomplete = np.flatnonzero(np.isnan(Z).any(axis=0))
    for k in (0, 13):
        labels = between.labels[between.perms[k]][between.codes]
        refit = fit_edges(Z, np.column_stack([X[:, :2], time * labels]), groups, term_names=TERMS, method=method)
        np.testing.assert_allclose(between(k), refit.t[2], rtol=2e-5, atol=2e-5)
        edges = np.concatenate([rng.choice(Z.shape[1], 6, replace=False), rng.choice(incomplete, 6)])
        Zk = np.column_stack([fl_permuted(Z, X, groups, e, fits.ratio[e], within.perms[k]) for e in edges])
        refit = fit_edges(Zk, X, groups, term_names=TERMS, method=method)
        np.testing.assert_allclose(within(k)[edges], refit.t[1], rtol=2e-5, atol=2e-5)


def test_values_below_the_screen_are_fixed_ratio_gls(unbalanced):
    """Below the screen a value is the GLS t at the observed variance ratio (refitted: the audited sample, and
    values whose best screening view has the largest ratio)."""
    Z, X, groups, time, response = unbalanced
    fits = fit_edges(Z, X, groups, term_names=TERMS)
    between = BetweenParticipantT(Z, X, groups, term_names=TERMS, label=response, factor=time, fits=fits,
                                  threshold=30.0, n_pilot=0, n_perm=40, seed=4)
    assert between.screen == pytest.approx(24.0) and between.n_pilot == 0  # 0.8 x the threshold, no pilot
    k = 37
    tb = between(k)
    labels = between.labels[between.perms[k]][between.codes]
    fixed = []
    for e in range(Z.shape[1]):
        ok = ~np.isnan(Z[:, e])
        g, r = groups[ok], fits.ratio[e]
        Xb = np.column_stack([X[ok, :2], time[ok] * labels[ok]])
        Hinv = np.linalg.inv(np.eye(ok.sum()) + r * (g[:, None] == g[None, :]))
        M = Xb.T @ Hinv @ Xb
        b = np.linalg.solve(M, Xb.T @ Hinv @ Z[ok, e])
        res = Z[ok, e] - Xb @ b
        fixed.append(b[2] / np.sqrt(res @ Hinv @ res / ok.sum() * np.linalg.inv(M)[2, 2]))
    summary = between.refit_summary
    assert summary["values"] == 8 * Z.shape[1]  # the batch of permutations 32..39
    assert 0 < summary["audited"] <= summary["refitted"] < Z.shape[1]
    exact = np.isclose(tb, fixed, rtol=1e-8, atol=0)
    assert exact.sum() >= Z.shape[1] - summary["refitted"]  # every value not refitted (and most refits agree)


def test_permutations_respect_the_blocks_and_reruns_are_identical(unbalanced):
    Z, X, groups, time, response = unbalanced
    fits = fit_edges(Z, X, groups, term_names=TERMS)
    kwargs = dict(term_names=TERMS, fits=fits, threshold=3.0, n_pilot=40, n_perm=400)
    a = WithinParticipantT(Z, X, groups, seed=11, **kwargs)
    b = WithinParticipantT(Z, X, groups, seed=11, **kwargs)
    c = WithinParticipantT(Z, X, groups, seed=12, **kwargs)
    assert a.screen == b.screen <= 2.4 + 1e-12
    late = a(399).copy()  # same seed, any order of calls (pilot 0..39, aligned batches later)
    np.testing.assert_array_equal([a(k) for k in (5, 77, 398)], [b(k) for k in (5, 77, 398)])
    np.testing.assert_array_equal(late, b(399))
    np.testing.assert_array_equal(a.observed, b.observed)
    assert not np.allclose(a(77), c(77))
    assert (groups[a.perms] == groups[None]).all()  # sessions stay with their participant
    two = [s for s in np.unique(groups) if (groups == s).sum() == 2]
    swapped = np.mean([a.perms[:, groups == s][:, 0] != np.flatnonzero(groups == s)[0] for s in two])
    assert abs(swapped - 0.5) < 0.03  # one pre + one post: sign flip with probability 1/2
    assert a.scheme["n_participants_permuted"] == sum((groups == s).sum() > 1 for s in np.unique(groups))
    between = BetweenParticipantT(Z, X, groups, term_names=TERMS, label=response, factor=time, fits=fits,
                                  n_perm=50, seed=3)
    assert sorted(between.labels[between.perms[7]]) == sorted(between.labels)  # labels permuted
    json.dumps(between.scheme), json.dumps(a.scheme)
    with pytest.raises(InputError, match="does not vary within"):
        WithinParticipantT(Z, X, groups, term_names=TERMS, term="intercept", fits=fits, n_perm=5)
    with pytest.raises(InputError, match="constant within"):
        BetweenParticipantT(Z, X, groups, term_names=TERMS, label=time, factor=time, fits=fits, n_perm=5)
    with pytest.raises(InputError, match="method"):
        WithinParticipantT(Z, X, groups, term_names=TERMS, fits=fits, method="reml", n_perm=5)


# ------------------------------------------------------------------------------------------------- bctpy


def two_group_matrices(rng, n=20, n_x=14, n_y=16, effect=0.6, nodes=6):
    def population(k, shift):
        a = rng.normal(0, 0.5, (k, n))
        M = a[:, :, None] + a[:, None, :] + rng.normal(0, 1, (k, n, n))
        M = (M + M.transpose(0, 2, 1)) / np.sqrt(2)
        M[:, :nodes, :nodes] += shift
        return M
    return population(n_x, effect), population(n_y, 0.0)


def test_two_sample_nbs_matches_bctpy():
    bct = pytest.importorskip("bct", reason="bctpy is not installed (pip install bctpy; test extra)")
    x, y = two_group_matrices(np.random.default_rng(3))
    n_perm, threshold = 1000, 2.5
    with contextlib.redirect_stdout(io.StringIO()):
        p_bct, adj, null_bct = bct.nbs_bct(x.transpose(1, 2, 0), y.transpose(1, 2, 0), threshold, k=n_perm,
                                            tail="both", seed=3)
    stat = TwoSampleT(vectorize(x), vectorize(y), n_perm=n_perm, seed=3)
    np.testing.assert_allclose(stat.observed, stats.ttest_ind(vectorize(x), vectorize(y)).statistic, rtol=1e-10)
    ours = nbs(stat.observed, stat, n_perm, threshold=threshold, direction="absolute")
    theirs = []
    for label in range(1, int(adj.max()) + 1):
        rows, cols = np.nonzero(np.triu(adj == label, 1))
        theirs.append((frozenset(np.concatenate([rows, cols]).tolist()), rows.size, p_bct[label - 1]))
    assert len(theirs) == len(ours.components) >= 3
    by_nodes = {nodes: (size, p) for nodes, size, p in theirs}
    for comp in ours.components:
        size, p = by_nodes[frozenset(comp.nodes.tolist())]
        assert comp.size == size
        assert abs(comp.p - p) < 3 * np.sqrt(p * (1 - p) / n_perm) + 0.01, (comp.size, comp.p, p)
    assert stats.ks_2samp(ours.null, null_bct).pvalue > 0.001


# ------------------------------------------------------------------------------------ planted effect, null


def paired(rng, n_sub=20, n_nodes=60, effect=0.0, planted=(), n_lost=0):
    """Pre/post sessions: a participant effect per edge, session-level node effects (edges sharing a node
    correlate) and noise; the planted subnetwork's FC falls by ``effect`` post; ``n_lost`` sessions each
    lose a region (NaN edges)."""
    groups, time = np.repeat(np.arange(n_sub), 2), np.tile([0.0, 1.0], n_sub)
    i, j = edge_indices(n_nodes)
    m = i.size
    node = rng.normal(0, 0.4, (2 * n_sub, n_nodes))
    Z = 0.4 + rng.normal(0, 0.7, (n_sub, m))[groups] + node[:, i] + node[:, j] + rng.normal(0, 0.7, (2 * n_sub, m))
    inside = np.isin(i, planted) & np.isin(j, planted)
    Z[np.ix_(time == 1, inside)] -= effect
    for s in rng.choice(2 * n_sub, n_lost, replace=False):
        lost = rng.integers(n_nodes)
        Z[s, (i == lost) | (j == lost)] = np.nan
    return Z, np.column_stack([np.ones(2 * n_sub), time]), groups, inside


def test_planted_decrease_is_found():
    planted = [3, 8, 15, 22, 30, 41, 47, 55]
    Z, X, groups, inside = paired(np.random.default_rng(20), effect=1.0, planted=planted)
    stat = WithinParticipantT(Z, X, groups, term_names=["intercept", "time"], term="time", threshold=3.0,
                              n_perm=1000, seed=5)
    assert stat.scheme["n_distinct_permutations"] == 2.0**20
    res = nbs(stat.observed, stat, stat.n_perm, threshold=3.0)
    best = res.components[0]
    assert best.sign == -1 and best.p < 0.05
    assert set(planted) <= set(best.nodes.tolist())
    assert np.isin(np.flatnonzero(inside), best.edges).mean() > 0.8
    assert all(c.p > 0.05 for c in res.components[1:])


def null_rates(make, stat_of, n_sim, n_perm, threshold=3.0):
    """Null datasets with any component p < .05, by component measure (size, intensity)."""
    hits = {"size": 0, "intensity": 0}
    for sim in range(n_sim):
        stat = stat_of(*make(sim), seed=sim)
        values = np.array([stat(k) for k in range(n_perm)])
        for measure in hits:
            res = nbs(stat.observed, lambda k: values[k], n_perm, threshold=threshold, measure=measure)
            hits[measure] += any(c.p < 0.05 for c in res.components)
    return hits


def test_null_false_positive_rate_time_effect():
    """200 null paired datasets x 200 within-participant permutations: the family-wise rate of the
    intensity NBS (continuous) is in the binomial 99 % interval around 5 %; size (integer: ties make it
    conservative) is not above it."""
    rng = np.random.default_rng(2021)
    n_sim, n_perm = 200, 200
    hits = null_rates(lambda sim: paired(rng, n_nodes=30, n_lost=2)[:3],
                      lambda Z, X, groups, seed: WithinParticipantT(
                          Z, X, groups, term_names=["intercept", "time"], threshold=3.0, n_pilot=32,
                          n_perm=n_perm, seed=seed), n_sim, n_perm)
    lo, hi = stats.binom.interval(0.99, n_sim, 0.05)
    assert lo <= hits["intensity"] <= hi and hits["size"] <= hi, f"{hits} of {n_sim} null datasets"


def test_null_false_positive_rate_time_by_response():
    """100 null datasets (30 participants, 15 responders, a time effect in everyone) x 100 response-label
    permutations: family-wise rate of the intensity NBS within the binomial 99 % interval around 5 %."""
    rng = np.random.default_rng(7)
    n_sim, n_perm, n_sub = 100, 100, 30

    def make(sim):
        Z, X, groups, _ = paired(rng, n_sub=n_sub, n_nodes=30, n_lost=2)
        Z = Z - 0.3 * X[:, 1:2]  # nuisance: FC falls post in everyone
        response = (groups < n_sub // 2).astype(float)
        return Z, np.column_stack([X, X[:, 1] * response]), groups, response

    def stat_of(Z, X, groups, response, seed):
        return BetweenParticipantT(Z, X, groups, term_names=TERMS, label=response, factor=X[:, 1],
                                   threshold=3.0, n_pilot=32, n_perm=n_perm, seed=seed)

    hits = null_rates(make, stat_of, n_sim, n_perm)
    lo, hi = stats.binom.interval(0.99, n_sim, 0.05)
    assert lo <= hits["intensity"] <= hi and hits["size"] <= hi, f"{hits} of {n_sim} null datasets"
