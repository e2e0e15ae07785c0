"""Regenerate the small unbalanced LME datasets used as R reference inputs (run once; output committed).

21 patients shaped like Siegel et al. 2021: up to two pre-infusion sessions (time 0) and one post (time 1),
some missing, 40 observations in all; ``response`` is a patient-level 0/1 flag. ``y`` has a planted
random intercept (not singular); ``y_singular`` has none and a seed for which lme4 returns sigma_u = 0.
"""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20210301)
rows = []
# 21 patients x 3 sessions = 63 possible; keep 40 with every patient keeping >= 1 session
keep = np.ones((21, 3), bool)
drop_candidates = [(i, j) for i in range(21) for j in range(3)]
order = rng.permutation(len(drop_candidates))
n_drop = 0
for k in order:
    i, j = drop_candidates[k]
    if keep[i].sum() > 1 and n_drop < 23:
        keep[i, j] = False
        n_drop += 1
response = (rng.random(21) < 0.5).astype(int)
u = rng.normal(0, 0.06, 21)
for i in range(21):
    for j, t in enumerate((0, 0, 1)):
        if keep[i, j]:
            rows.append((f"sub-{i + 1:02d}", t, response[i], u[i]))
df = pd.DataFrame(rows, columns=["pid", "time", "response", "u"])
n = len(df)
e = rng.normal(0, 0.05, n)
df["y"] = np.round(0.30 - 0.06 * df.time + 0.05 * df.time * df.response + df.u + e, 6)
df["y_singular"] = np.round(0.30 - 0.06 * df.time + rng.normal(0, 0.05, n), 6)
df.drop(columns="u").to_csv("lme_unbalanced.csv", index=False)
print(n, df.groupby("pid").size().value_counts().to_dict(), response.sum())
