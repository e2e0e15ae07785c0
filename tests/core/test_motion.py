"""FD against fMRIPrep's own column on real files; censoring rules; motion filters; confound strategies."""

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.core.confounds import n_dummy_from_confounds, read_confounds, select_nuisance
from ketamine_fc.core.motion import censor_mask, filter_motion, framewise_displacement
from ketamine_fc.errors import InputError

CONF = "fmri/fmriprep_confounds"


@pytest.mark.parametrize("name", ["sub-01_task-mixedgamblestask_run-01_desc-motion_timeseries.tsv"])
def test_fd_equals_fmriprep_column(shared_data, name):
    # the real fMRIPrep 25 motion file (nilearn's confounds fixtures have hand-edited FD values)
    df = read_confounds(shared_data / CONF / name)
    params = df[["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]].to_numpy()
    fd = framewise_displacement(params)
    ref = df["framewise_displacement"].to_numpy()
    np.testing.assert_allclose(fd[1:], ref[1:], atol=1e-4)
    assert fd[0] == 0


def test_censor_mask_spikes_short_segments_and_dummies():
    fd = np.full(30, 0.05)
    fd[[10, 14]] = 0.5  # frames 11-13 form a 3-frame island -> censored with min_contig 5
    keep = censor_mask(fd, fd_thresh=0.2, min_contig=5, n_dummy=2)
    assert not keep[[0, 1, 10, 11, 12, 13, 14]].any()
    assert keep[[2, 9, 15, 29]].all() and keep.sum() == 30 - 7
    assert censor_mask(fd, fd_thresh=0, min_contig=0).all()


def test_motion_filters_remove_a_planted_respiratory_oscillation(rng):
    tr, n = 0.8, 600
    t = np.arange(n) * tr
    slow = np.cumsum(rng.normal(0, 0.01, (n, 6)), axis=0)
    resp = 0.1 * np.sin(2 * np.pi * 0.3 * t)[:, None]  # 18 breaths per minute
    out = filter_motion(slow + resp, tr, "notch", band_stop_min=15, band_stop_max=21)
    assert np.std(out - slow) < 0.3 * np.std(resp)
    out = filter_motion(slow + resp, tr, "lp", band_stop_min=6)
    assert np.std(out - slow) < 0.3 * np.std(resp)
    with pytest.raises(ValueError, match="band-stop-min"):
        filter_motion(slow, tr, "lp")


def test_both_layouts_and_strategies(shared_data):
    new = read_confounds(shared_data / CONF / "test-v21_desc-confounds_timeseries.tsv")
    old = read_confounds(shared_data / CONF / "test_desc-confounds_regressors.tsv")
    for df in (new, old):
        assert select_nuisance(df, "24P").shape[1] == 24
        assert select_nuisance(df, "27P").shape[1] == 27
        cols = select_nuisance(df, "36P").columns
        assert len(cols) == 36 and "global_signal_derivative1_power2" in cols and "rot_z_derivative1" in cols
    assert n_dummy_from_confounds(new) == 3
    # the old layout has only a_comp_cor: WM/CSF components come from its JSON sidecar
    acc = select_nuisance(old, "acompcor")
    assert acc.shape[1] == 22


def test_missing_column_and_nan_are_named(tmp_path, shared_data):
    df = pd.read_csv(shared_data / CONF / "test-v21_desc-confounds_timeseries.tsv", sep="\t")
    path = tmp_path / "sub-x_desc-confounds_timeseries.tsv"
    df.drop(columns=["csf"]).to_csv(path, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(InputError, match=r"sub-x_desc-confounds_timeseries.tsv: .*needs column\(s\) csf"):
        select_nuisance(read_confounds(path), "36P")
    df.loc[7, "white_matter"] = np.nan
    df.to_csv(path, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(InputError, match=r"column white_matter has missing values .* row\(s\) 8"):
        select_nuisance(read_confounds(path), "36P")
    with pytest.raises(InputError, match="does not exist"):
        read_confounds(tmp_path / "absent.tsv")
