"""The run figure of the participant report draws a run too short to clean (no cleaned series) without failing."""

import matplotlib.image as mpimg
import numpy as np
import pandas as pd

from ketamine_fc.reports.participant_figures import run_figure


def test_a_run_too_short_to_clean_still_gets_its_figure(rng, tmp_path):
    n, n_regions = 30, 12
    censoring = pd.DataFrame({"framewise_displacement": rng.uniform(0, 0.5, n), "dummy": [1, 1] + [0] * (n - 2),
                              "fd_outlier": (rng.uniform(0, 1, n) > 0.5).astype(int), "short_segment": 0})
    censoring["retained"] = ((censoring["dummy"] == 0) & (censoring["fd_outlier"] == 0)).astype(int)
    retained = np.flatnonzero(censoring["retained"].to_numpy())
    dvars = pd.DataFrame({"dvars_before": rng.uniform(1, 2, n), "dvars_after": np.nan})
    networks = np.array(["Default"] * 6 + ["Visual"] * 6)
    png = run_figure(censoring, dvars, rng.normal(size=(n, n_regions)), np.empty((0, n_regions)), retained,
                     networks, 0.2, 2.0)
    (tmp_path / "run.png").write_bytes(png)
    image = mpimg.imread(tmp_path / "run.png")
    assert len(retained) > 0 and image.shape[0] > 200 and image.shape[1] > 400
