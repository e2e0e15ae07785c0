"""NBS false-positive rate and subnetwork recovery on repeated simulations of the study (the simulator's model).

Run:  python benchmarks/nbs_null_simulations.py [--n-sims 200] [--n-perm 100] [--n-frames 240] [--planted 20]
      [--subset]

Each repetition draws a study with ``ketamine_fc.simulate.design.make_study`` (23 patients with pre1/pre2/post
sessions, some missing as in the paper; seed = repetition) under ``Effects.null()``: no FC change, participant
offsets kept, responders from the simulated (improving) MADRS course. Each patient session's region signals come
from ``ketamine_fc.simulate.bold.region_signals`` on the real Gordon 333 + Seitzman atlas table (394 regions,
77,421 edges; ``--n-frames`` frames at TR 2 s, so each session's FC carries its sampling noise), and their Fisher-z
matrices go through the group level's model ``FC ~ 1 + time + time:response + (1 | participant)`` (ML, residual
DF, the paper's convention) and the network-based statistic at |t| > 3 with the group level's permutation
schemes (time: sessions permuted within participants; time x response: response labels permuted between
participants). Printed: the share of repetitions with any component p_FWE < .05 (size), per term, with its
Monte Carlo standard error; nominal 5 %.

The voxel layer (BOLD noise, motion, cleaning) is left out to afford hundreds of repetitions; the participant
level's cleaning returns the planted region FC (tests/simulate/test_sim_recovery.py). ``--planted N`` adds N
repetitions with the default effects (the limbic-DMN subnetwork falls at post) and prints the share of the
subnetwork's edges inside significant negative components of time.

Measured (2026-11-30, ``--subset --n-sims 200 --n-perm 100 --planted 10``): null FWER 4.0 % +/- 1.4 (time) and
3.5 % +/- 1.3 (time x response); planted, 10 of 10 studies find the subnetwork, 77 % of its 80 edges on average
(full atlas, 10 studies: 10 of 10, 73 %).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from ketamine_fc.core.networks import network_sets
from ketamine_fc.core.stats.edgewise import fit_edges
from ketamine_fc.core.stats.nbs import BetweenParticipantT, WithinParticipantT, nbs
from ketamine_fc.simulate.bold import plant_what_the_model_can, region_signals, subnetwork_pair_fraction
from ketamine_fc.simulate.design import Effects, make_study, subnetwork_sets

TERMS = ["intercept", "time", "time:response"]
THRESHOLD = 3.0
TR = 2.0


def atlas(subset=False):
    """The atlas table and network sets; ``subset``: only the Default, Visual and Auditory parcels, the sgACC set
    and the limbic regions (120 regions, 7,140 edges: the subnetwork and its controls, at a tenth of the cost)."""
    from ketamine_fc.atlases import region_table

    here = Path(__file__).resolve().parents[1]
    os.environ.setdefault("KETAMINE_FC_DATA", str(here.parent / "shared" / "data" / "atlases"))
    table = region_table(os.environ["KETAMINE_FC_DATA"].split(os.pathsep)[0])
    sets = network_sets(table, sgacc="core")
    if subset:
        keep = table["network"].isin(["Default", "Visual", "Auditory"]) | table["index"].isin(
            sets["sgacc"] + sets["limbic"])
        table = table[keep].reset_index(drop=True)
    return table, sets


def study_data(seed, table, sets, effects, n_frames):
    """Fisher-z edge vectors of the patients' sessions, the design and the groups of one simulated study."""
    st = make_study(seed=seed, effects=effects)
    targets = st.targets[st.targets["participant_id"].str.startswith("sub-P")].copy()
    plant_what_the_model_can(targets, subnetwork_pair_fraction(table, sets))  # as the simulator's writer records
    rng = np.random.default_rng([seed, 1])
    iu = np.triu_indices(len(table), 1)
    Z, time_, resp, groups = [], [], [], []
    for _, row in targets.iterrows():
        x = region_signals(rng, table, sets, row, n_frames, TR)
        Z.append(np.arctanh(np.clip(np.corrcoef(x.T)[iu], -0.999999, 0.999999)))
        time_.append(float(row["session_id"] == "ses-post"))
        resp.append(float(str(row["responder"]).lower() == "true"))
        groups.append(row["participant_id"])
    time_, resp = np.array(time_), np.array(resp)
    X = np.column_stack([np.ones(len(time_)), time_, time_ * resp])
    return np.array(Z), X, np.unique(groups, return_inverse=True)[1], time_, resp


def run_nbs(Z, X, groups, time_, resp, term, n_perm, seed):
    fits = fit_edges(Z, X, groups, term_names=TERMS, method="ml", df_method="residual")
    common = dict(term_names=TERMS, term=term, fits=fits, method="ml", threshold=THRESHOLD, n_perm=n_perm,
                  seed=seed)
    stat = (WithinParticipantT(Z, X, groups, **common) if term == "time" else
            BetweenParticipantT(Z, X, groups, label=resp, factor=time_, **common))
    return nbs(fits.t[fits.term(term)], stat, n_perm, threshold=THRESHOLD)


def null_rate(args, table, sets):
    hits = {"time": 0, "time:response": 0}
    start = time.perf_counter()
    for sim in range(args.n_sims):
        data = study_data(args.seed + sim, table, sets, Effects.null(), args.n_frames)
        for term in hits:
            res = run_nbs(*data, term, args.n_perm, args.seed + sim)
            hits[term] += any(c.p < 0.05 for c in res.components)
        if (sim + 1) % 10 == 0:
            print(f"  {sim + 1}/{args.n_sims} null studies ({time.perf_counter() - start:.0f} s): "
                  + ", ".join(f"{k} {v}" for k, v in hits.items()), flush=True)
    for term, h in hits.items():
        rate = h / args.n_sims
        print(f"Null FWER, {term:<14s} {args.n_sims} studies x {args.n_perm} permutations: {100 * rate:.1f} % "
              f"+/- {100 * np.sqrt(rate * (1 - rate) / args.n_sims):.1f} (nominal 5 %)", flush=True)


def planted_recovery(args, table, sets):
    members = subnetwork_sets(sets)
    pos = {int(v): i for i, v in enumerate(table["index"])}
    n = len(table)
    iu = np.triu_indices(n, 1)
    lookup = np.full((n, n), -1)
    lookup[iu] = np.arange(len(iu[0]))
    planted = {lookup[min(pos[a], pos[b]), max(pos[a], pos[b])] for a in members["limbic"] for b in members["dmn"]}
    shares, found = [], 0
    for sim in range(args.planted):
        data = study_data(10_000 + args.seed + sim, table, sets, Effects(), args.n_frames)
        res = run_nbs(*data, "time", args.n_perm, args.seed + sim)
        got = set()
        for c in res.components:
            if c.p < 0.05 and c.sign < 0:
                got |= set(int(e) for e in c.edges)
        shares.append(len(got & planted) / len(planted))
        found += bool(got & planted)
    print(f"Planted (default effects, limbic-DMN subnetwork -{Effects().limbic_dmn_decrease} z at post): "
          f"{found}/{args.planted} studies find subnetwork edges in a significant negative component of time; "
          f"mean share of its {len(planted)} edges found {100 * np.mean(shares):.0f} %", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-sims", type=int, default=200)
    p.add_argument("--n-perm", type=int, default=100)
    p.add_argument("--n-frames", type=int, default=240)
    p.add_argument("--planted", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset", action="store_true", help="120 regions (Default, Visual, Auditory, sgACC, limbic)")
    args = p.parse_args(argv)
    table, sets = atlas(args.subset)
    print(f"{len(table)} regions, {len(table) * (len(table) - 1) // 2:,} edges; {args.n_frames} frames per session")
    if args.planted:
        planted_recovery(args, table, sets)
    if args.n_sims:
        null_rate(args, table, sets)


if __name__ == "__main__":
    main()
