"""Benchmark the whole-connectome group statistics: edge-wise LME, NBS permutations, null false positives.

Run:  python benchmarks/edgewise.py [--n-perm 5000] [--n-sims 200] [--sim-perm 200] [--seed 0] [--skip c,d]

Measures, on synthetic data shaped like the study (30 patients x pre/post, 15 responders; 394 regions =
Gordon 333 + limbic, 77,421 edges; six sessions each lose 20 regions to their brain mask, about 1 % missing
values and ~40 missing-data patterns; a participant effect per edge, session-level region effects so that
edges sharing a region correlate):
  (a) fit_edges, FC ~ 1 + time + time:response + (1 | participant) on every edge, under the paper's convention
      (ML, residual DF) and lmerTest's (REML, Satterthwaite DF), seconds;
  (b) 5,000 NBS permutations (primary threshold |t| > 3, components of each sign) of the time effect
      (sessions permuted within participants) and of time x response (response labels permuted between
      participants), seconds including the permutation statistic's set-up and pilot, with the share of
      permuted values refitted and the audit of the screen;
  (c) a statsmodels MixedLM loop over 50 edges, extrapolated to all edges, and its ratio to (a);
  (d) the null family-wise false-positive rate of the NBS (P(any component p < .05)) on repeated simulations
      on a 100-node graph (4,950 edges): the time effect (paired design; and with a time:response nuisance,
      Freedman-Lane), time x response, and the fixed-variance-ratio statistic alone (without refits), with
      Monte Carlo standard errors.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from ketamine_fc.core.stats.edgewise import edge_indices, fit_edges
from ketamine_fc.core.stats.nbs import BetweenParticipantT, WithinParticipantT, nbs

TERMS = ["intercept", "time", "time:response"]
THRESHOLD = 3.0


def study(rng, n_sub=30, n_nodes=394, n_lost_sessions=6, n_lost_regions=20, effect=0.0, time_effect=0.0):
    """Synthetic pre/post Fisher z (sessions x edges), design, participants, time and response."""
    groups, time_ = np.repeat(np.arange(n_sub), 2), np.tile([0.0, 1.0], n_sub)
    response = (groups < n_sub // 2).astype(float)
    i, j = edge_indices(n_nodes)
    node = rng.normal(0, 0.04, (2 * n_sub, n_nodes))
    Z = (0.3 + rng.normal(0, 0.07, (n_sub, i.size))[groups] + node[:, i] + node[:, j]
         + rng.normal(0, 0.07, (2 * n_sub, i.size)) + time_effect * time_[:, None])
    if effect:  # a 12-region subnetwork whose FC falls post
        inside = np.isin(i, np.arange(12)) & np.isin(j, np.arange(12))
        Z[np.ix_(time_ == 1, inside)] -= effect
    for s in rng.choice(2 * n_sub, n_lost_sessions, replace=False):
        lost = rng.choice(n_nodes, n_lost_regions, replace=False)
        Z[s, np.isin(i, lost) | np.isin(j, lost)] = np.nan
    X = np.column_stack([np.ones(2 * n_sub), time_, time_ * response])
    return Z, X, groups, time_, response


class FixedRatioT(WithinParticipantT):
    """The fixed-variance-ratio statistic alone (no refits): for comparison only, it is anti-conservative."""

    def _select(self, ks, t, stat, cols):
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0, bool), np.zeros(0)


def time_models(Z, X, groups):
    fits = {}
    for method, df_method in (("ml", "residual"), ("reml", "satterthwaite")):
        start = time.perf_counter()
        fits[method] = fit_edges(Z, X, groups, term_names=TERMS, method=method, df_method=df_method)
        took = time.perf_counter() - start
        print(f"(a) fit_edges {method.upper()}, {df_method} DF: {took:7.1f} s "
              f"({Z.shape[1] / took:,.0f} edges/s; {len(fits[method].present)} missing-data patterns; "
              f"{int((fits[method].reason > 0).sum())} edges not fitted)")
        fits[method + "_seconds"] = took
    return fits


def time_nbs(Z, X, groups, time_, response, fits, n_perm, seed):
    schemes = {
        "time (within)": lambda: WithinParticipantT(Z, X, groups, term_names=TERMS, fits=fits, threshold=THRESHOLD,
                                                    n_perm=n_perm, seed=seed),
        "time x response (between)": lambda: BetweenParticipantT(
            Z, X, groups, term_names=TERMS, label=response, factor=time_, fits=fits, threshold=THRESHOLD,
            n_perm=n_perm, seed=seed),
    }
    for name, make in schemes.items():
        start = time.perf_counter()
        stat = make()
        setup = time.perf_counter() - start
        res = nbs(stat.observed, stat, n_perm, threshold=THRESHOLD)
        took = time.perf_counter() - start
        summary = stat.refit_summary
        best = res.components[0] if res.components else None
        print(f"(b) NBS {name}: {n_perm} permutations {took:7.1f} s ({1000 * (took - setup) / n_perm:.1f} ms per "
              f"permutation; set-up and pilot {setup:.1f} s); screen |t| >= {summary['screen']:.2f}, "
              f"{100 * summary['refitted'] / max(summary['values'], 1):.1f} % of values refitted, audit: "
              f"{summary['audited_reaching_threshold']} of {summary['audited']} unscreened values reached the "
              f"threshold; largest component {best.size if best else 0} edges, "
              f"p = {best.p if best else np.nan:.4f}", flush=True)


def time_statsmodels(Z, X, groups, fits, n_edges=50, seed=0):
    import statsmodels.api as sm

    rng = np.random.default_rng(seed)
    cols = rng.choice(np.flatnonzero(~np.isnan(Z).any(axis=0)), n_edges, replace=False)
    failed = 0
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in cols:
            try:
                sm.MixedLM(Z[:, e], X, groups=groups).fit(reml=False)  # its default optimisers
            except np.linalg.LinAlgError:
                failed += 1
    took = (time.perf_counter() - start) / n_edges * Z.shape[1]
    print(f"(c) statsmodels MixedLM (ML), {n_edges} edges ({failed} failed) extrapolated to {Z.shape[1]:,}: "
          f"{took:9.0f} s; "
          f"ratio to fit_edges ML {took / fits['ml_seconds']:.0f}x, REML + Satterthwaite "
          f"{took / fits['reml_seconds']:.0f}x")


NULL_SCHEMES = {
    "time, 1 + time": "within",
    "time, time:response nuisance": "within",
    "time x response": "between",
    "time, fixed ratio (no refits)": "fixed",
}


def null_rate(n_sims, n_perm, seed, scheme):
    """Share of null datasets with a component p < .05 (size and intensity), on a 100-node graph.

    Nulls: "time, 1 + time": no change pre/post (paired design); "time, time:response nuisance": the
    responders' FC rises post, the non-responders' does not (the tested time effect), full model, Freedman-Lane
    residuals with a nuisance column varying within participants; "time x response": FC rises post in everyone
    alike; "fixed ratio": as the first, with the fixed-variance-ratio statistic alone.
    """
    rng = np.random.default_rng(seed)
    hits = {"size": 0, "intensity": 0}
    kind = NULL_SCHEMES[scheme]
    start = time.perf_counter()
    for sim in range(n_sims):
        Z, X, groups, time_, response = study(rng, n_nodes=100, n_lost_regions=5)
        if scheme == "time x response":
            Z = Z + 0.05 * time_[:, None]
        elif scheme == "time, time:response nuisance":
            Z = Z + 0.05 * (time_ * response)[:, None]
        else:
            X = X[:, :2]
        terms = TERMS[: X.shape[1]]
        if kind == "between":
            stat = BetweenParticipantT(Z, X, groups, term_names=terms, label=response, factor=time_,
                                       threshold=THRESHOLD, n_perm=n_perm, seed=sim)
        else:
            cls = FixedRatioT if kind == "fixed" else WithinParticipantT
            stat = cls(Z, X, groups, term_names=terms, threshold=THRESHOLD, n_perm=n_perm, seed=sim)
        values = np.array([stat(k) for k in range(n_perm)])
        for measure in hits:
            res = nbs(stat.observed, lambda k: values[k], n_perm, threshold=THRESHOLD, measure=measure)
            hits[measure] += any(c.p < 0.05 for c in res.components)
    took = time.perf_counter() - start
    cells = []
    for measure, h in hits.items():
        rate = h / n_sims
        cells.append(f"{measure} {100 * rate:5.2f} % +/- {100 * np.sqrt(rate * (1 - rate) / n_sims):4.2f}")
    print(f"(d) null FWER, {scheme:<30s} {n_sims} datasets x {n_perm} permutations: {'; '.join(cells)} "
          f"({took:.0f} s)", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-perm", type=int, default=5000)
    p.add_argument("--n-sims", type=int, default=200, help="null datasets per scheme in (d)")
    p.add_argument("--sim-perm", type=int, default=200, help="permutations per null dataset in (d)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip", default="", help="comma-separated parts to skip, e.g. c,d")
    args = p.parse_args(argv)
    skip = set(args.skip.split(","))
    rng = np.random.default_rng(args.seed)
    Z, X, groups, time_, response = study(rng, effect=0.08)
    print(f"Data: {Z.shape[0]} sessions of {groups.max() + 1} participants, {Z.shape[1]:,} edges, "
          f"{100 * np.isnan(Z).mean():.2f} % missing values")
    fits = time_models(Z, X, groups) if not {"a", "b", "c"} <= skip else None
    if "b" not in skip:
        time_nbs(Z, X, groups, time_, response, fits["ml"], args.n_perm, args.seed)
    if "c" not in skip:
        time_statsmodels(Z, X, groups, fits)
    if "d" not in skip:
        for scheme in NULL_SCHEMES:
            null_rate(args.n_sims, args.sim_perm, args.seed + 1, scheme)
        print("Nominal 5 %; sizes are integers, so ties make the size NBS conservative.")


if __name__ == "__main__":
    main()
