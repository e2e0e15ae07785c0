"""The run report of a CIFTI run: the parcels drawn on the surface, and a note (never a failure) without a figure."""

import nibabel as nb
import numpy as np
import pandas as pd

from ketamine_fc.reports.participant import run_section
from ketamine_fc.reports.participant_figures import surface_atlas_figure
from ketamine_fc.utils.cifti_io import read_dlabel


def test_parcels_on_the_midthickness(gordon_dlabel, midthickness):
    labels = read_dlabel(gordon_dlabel)
    meshes = {h: (nb.load(midthickness[h]).agg_data("pointset"), nb.load(midthickness[h]).agg_data("triangle"))
              for h in "LR"}
    networks = {i: ("Default" if i % 3 else "Visual") for i in range(1, 334)}
    png = surface_atlas_figure(meshes, {"L": labels.left, "R": labels.right}, networks, lost=[1, 2, 3])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_without_a_figure_the_run_section_says_why(rng):
    n, regions = 30, 4
    censoring = pd.DataFrame({"framewise_displacement": np.r_[np.nan, np.full(n - 1, 0.1)], "dummy": 0,
                              "fd_outlier": 0, "short_segment": 0, "retained": 1})
    dvars = pd.DataFrame({"dvars_before": rng.random(n), "dvars_after": rng.random(n)})
    table = pd.DataFrame({"index": [1, 2, 3, 1244], "label": ["Gordon_1", "Gordon_2", "Gordon_3", "Seitzman_244"],
                          "network": ["Default", "Default", "Visual", "Limbic"]})
    qc = {"n_frames": n, "n_dummy": 0, "n_retained": n, "mean_fd": 0.1, "max_fd": 0.1, "mean_dvars_before": 1.0,
          "mean_dvars_after": 0.5, "median_tsnr": 50.0, "retained_frames": list(range(n))}
    html = run_section("run-1", qc, censoring, dvars, rng.random((n, regions)),
                       pd.DataFrame(rng.random((n, regions)), columns=table["label"]), table, fd_thresh=0.2, tr=2.0,
                       atlas_png=None, atlas_caption="the atlas figure could not be drawn (OSError: no surface).")
    assert "No atlas figure: the atlas figure could not be drawn (OSError: no surface)." in html
    assert html.count("<img") == 1  # the motion and carpet figure is still there
