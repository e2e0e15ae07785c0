"""False-positive rate of the two LME inference conventions on the paper's design, under the null.

Run:  python benchmarks/lme_false_positives.py [--n-sims 20000] [--seed 0] [--icc 0.5]

Design (Siegel et al. 2021): 21 patients (11 responders, 10 non-responders), 40 observations: every patient a
post session, 19 of them a pre session too (the paper's 40 observations), FC ~ 1 + time + time:response +
(1 | participant). Null outcomes: a participant intercept (variance ``icc``) plus residual noise
(variance ``1 - icc``), no fixed effect. Each convention is fit to every simulated outcome with the vectorised
solver (the one the group level uses) and the share of p below .05 and below the Bonferroni .00625 is printed
for time and time:response, with its Monte Carlo standard error.

Conventions: the paper's (ML fit, residual DF = n_obs - 3; MATLAB fitlme's defaults) and lmerTest's (REML fit,
Satterthwaite DF).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ketamine_fc.core.stats.lme import fit_random_intercept_many

CONVENTIONS = {"paper (ML, residual DF)": ("ml", "residual"), "REML, Satterthwaite DF": ("reml", "satterthwaite")}
TERMS = ["intercept", "time", "time:response"]


def paper_design(n_responders=11, n_nonresponders=10, n_without_pre=2):
    """Rows (participant, time, response) of the paper's 21 participants and 40 observations."""
    rows = []
    for i in range(n_responders + n_nonresponders):
        response = float(i < n_responders)
        if i >= n_without_pre:
            rows.append((i, 0.0, response))
        rows.append((i, 1.0, response))
    groups, time_, response = (np.array(c) for c in zip(*rows))
    X = np.column_stack([np.ones(len(rows)), time_, time_ * response])
    return X, groups


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-sims", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--icc", type=float, default=0.5, help="share of variance between participants")
    args = p.parse_args(argv)
    X, groups = paper_design()
    rng = np.random.default_rng(args.seed)
    n_sub = int(groups.max()) + 1
    Y = (np.sqrt(args.icc) * rng.standard_normal((n_sub, args.n_sims)))[groups] + \
        np.sqrt(1 - args.icc) * rng.standard_normal((len(groups), args.n_sims))
    print(f"Null simulations on the paper's design: {n_sub} participants, {len(groups)} observations, "
          f"{args.n_sims} outcomes, ICC {args.icc}")
    print(f"{'convention':<26s} {'term':<14s} {'p < .05':>16s} {'p < .00625':>16s} {'seconds':>8s}")
    for name, (method, df_method) in CONVENTIONS.items():
        start = time.time()
        fit = fit_random_intercept_many(Y, X, groups, term_names=TERMS, method=method, df_method=df_method)
        took = time.time() - start
        for j, term in enumerate(TERMS[1:], start=1):
            pvals = fit["p"][:, j]
            cells = []
            for alpha in (0.05, 0.00625):
                rate = float(np.mean(pvals < alpha))
                se = np.sqrt(rate * (1 - rate) / len(pvals))
                cells.append(f"{100 * rate:6.2f} % +/- {100 * se:4.2f}")
            print(f"{name:<26s} {term:<14s} {cells[0]:>16s} {cells[1]:>16s} {took:8.1f}")
    print("Nominal: 5.00 % and 0.625 %.")


if __name__ == "__main__":
    main()
