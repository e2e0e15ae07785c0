"""The generative BOLD model and its confounds, checked by hand, with scipy, and on the real atlas."""

import numpy as np
import pandas as pd
import pytest
from scipy import fft, signal

from ketamine_fc.core.confounds import select_nuisance
from ketamine_fc.simulate.bold import (
    OTHER_NETWORK_Z, band_limited, confounds_table, mixing_weight, motion_trace, region_signals, sgacc_weight,
    simulate_bold)
from ketamine_fc.simulate.writer import grid, tissue_masks


def _fd(params):  # Power et al. 2012, by hand: rotations as arc length on a 50 mm sphere
    d = np.abs(np.diff(params, axis=0))
    return np.r_[0.0, d[:, :3].sum(1) + 50.0 * d[:, 3:].sum(1)]


def test_mixing_weights_by_hand():
    assert mixing_weight(np.arctanh(0.5)) == pytest.approx(1.0)  # a^2 / (1 + a^2) = 0.5
    assert mixing_weight(np.arctanh(0.8)) == pytest.approx(2.0)  # 4 / 5
    b = sgacc_weight(np.arctanh(0.25), 1.0)
    assert 1.0 * b / np.sqrt(2 * (1 + b * b)) == pytest.approx(0.25)
    b = sgacc_weight(np.arctanh(-0.1), 1.0)  # responders' sgACC may end anticorrelated with the DMN
    assert b < 0 and 1.0 * b / np.sqrt(2 * (1 + b * b)) == pytest.approx(-0.1)
    assert mixing_weight(0.0) == 0.0


def test_band_limited_signals_sit_in_the_resting_state_band(rng):
    x = band_limited(rng, 600, 4, 2.0)
    np.testing.assert_allclose(x.std(axis=0), 1.0)
    f, p = signal.welch(x, fs=0.5, axis=0, nperseg=256)
    inside = (f >= 0.008) & (f <= 0.09)
    assert (p[inside].sum(axis=0) / p.sum(axis=0) > 0.9).all()
    assert np.abs(np.corrcoef(x.T)[np.triu_indices(4, 1)]).max() < 0.25


@pytest.fixture
def toy_table():
    rows = [(i, "Default", "cortex", "Gordon333", "") for i in range(1, 11)]
    rows += [(i, "None", "cortex", "Gordon333", "") for i in (123, 280, 286)]
    rows += [(i, "Visual", "cortex", "Gordon333", "") for i in range(20, 28)]
    rows += [(i, "Auditory", "cortex", "Gordon333", "") for i in range(30, 36)]
    rows += [(1000 + i, "Reward", "amygdala", "Seitzman300", "amygdala") for i in range(236, 242)]
    table = pd.DataFrame(rows, columns=["index", "network", "structure", "atlas", "limbic_role"])
    sets = {"dmn": list(range(1, 11)), "sgacc": [123, 280, 286], "visual": list(range(20, 28)),
            "limbic": [1000 + i for i in range(236, 242)]}
    return table, sets


def test_region_signals_have_the_planted_correlations(rng, toy_table):
    table, sets = toy_table
    targets = {"dmn": 0.4, "sgacc_dmn": 0.2, "limbic": 0.6, "visual": 0.3}
    x = region_signals(rng, table, sets, targets, 6000, 0.5)
    r = pd.DataFrame(np.corrcoef(x.T), index=table["index"], columns=table["index"])

    def within(ids):
        sub = r.loc[ids, ids].to_numpy()
        return sub[np.triu_indices(len(ids), 1)].mean()

    assert within(sets["dmn"]) == pytest.approx(np.tanh(0.4), abs=0.04)
    assert within(sets["limbic"]) == pytest.approx(np.tanh(0.6), abs=0.04)
    assert within(sets["visual"]) == pytest.approx(np.tanh(0.3), abs=0.04)
    assert r.loc[sets["sgacc"], sets["dmn"]].to_numpy().mean() == pytest.approx(np.tanh(0.2), abs=0.04)
    assert within(list(range(30, 36))) == pytest.approx(np.tanh(OTHER_NETWORK_Z), abs=0.04)
    assert abs(r.loc[sets["visual"], sets["dmn"]].to_numpy().mean()) < 0.03


def test_motion_bursts_are_exactly_the_frames_above_0_2_mm(rng):
    for _ in range(5):
        params, spikes = motion_trace(rng, 300, 6)
        fd = _fd(params)
        assert np.flatnonzero(fd > 0.2).tolist() == spikes
        assert 6 <= len(spikes) <= 12 and min(spikes) >= 8
        assert 0.03 < np.median(fd[1:]) < 0.15 and fd[spikes].min() > 0.4


def test_confounds_have_every_column_of_the_strategies_and_the_right_values(rng):
    n, tr, n_dummy = 150, 2.0, 2
    data = (1000 + rng.standard_normal((n, 400))).astype(np.float32)
    params, _ = motion_trace(rng, n, 4)
    wm, csf = np.zeros(400, bool), np.zeros(400, bool)
    wm[:150], csf[150:200] = True, True
    conf = confounds_table(data, params, wm=wm, csf=csf, tr=tr, n_dummy=n_dummy)
    assert len(conf) == n
    for strategy in ("36P", "24P", "27P", "acompcor"):
        filled = conf.copy()
        filled.iloc[0] = filled.iloc[0].fillna(0)  # fMRIPrep leaves derivatives n/a in the first row
        assert select_nuisance(filled, strategy).shape[0] == n
    gs = data.astype(float).mean(axis=1)
    np.testing.assert_allclose(conf["global_signal"], gs, rtol=1e-6)
    np.testing.assert_allclose(conf["white_matter"], data[:, wm].astype(float).mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(conf["global_signal_derivative1"][1:], np.diff(gs), atol=1e-3)
    np.testing.assert_allclose(conf["trans_x_power2"], params[:, 0] ** 2)
    np.testing.assert_allclose(conf["rot_z_derivative1_power2"][1:], np.diff(params[:, 5]) ** 2)
    assert np.isnan(conf.loc[0, "framewise_displacement"]) and np.isnan(conf.loc[0, "trans_y_derivative1"])
    np.testing.assert_allclose(conf["framewise_displacement"][1:], _fd(params)[1:])
    dv = np.sqrt(np.mean(np.diff(data.astype(float), axis=0) ** 2, axis=1))
    np.testing.assert_allclose(conf["dvars"][1:], dv, rtol=1e-6)
    # CompCor: the leading principal time courses of the detrended WM signals (same span as numpy's SVD)
    comps = conf[[f"w_comp_cor_{k:02d}" for k in range(5)]].to_numpy()[n_dummy:]
    np.testing.assert_allclose(comps.T @ comps, np.eye(5), atol=1e-8)
    u = np.linalg.svd(signal.detrend(data[n_dummy:, wm].astype(float), axis=0), full_matrices=False)[0][:, :5]
    np.testing.assert_allclose(comps @ comps.T, u @ u.T, atol=1e-8)
    # cosines: the orthonormal DCT-II basis up to 1/128 Hz, as fMRIPrep and nilearn build it
    cos = conf.filter(like="cosine").to_numpy()
    assert cos.shape[1] == int(2 * n * tr / 128)
    basis = fft.idct(np.eye(n)[1: cos.shape[1] + 1], type=2, norm="ortho", axis=1).T
    np.testing.assert_allclose(cos, basis, atol=1e-12)
    nss = conf.filter(like="non_steady_state_outlier").to_numpy()
    np.testing.assert_array_equal(nss, np.eye(n)[:, :n_dummy])


@pytest.fixture(scope="module")
def atlas4(atlas_dir):
    shape, affine = grid(4)
    atlas, brain, wm, csf = tissue_masks(shape, affine, atlas_dir)
    from ketamine_fc.core.networks import network_sets

    labels = np.asarray(atlas.dseg.dataobj)[brain]
    return {"table": atlas.table, "sets": network_sets(atlas.table), "labels": labels,
            "tissue": {"wm": wm[brain], "csf": csf[brain]}, "brain": brain}


def test_tissue_masks_are_plausible(atlas4):
    brain, tissue, labels = atlas4["brain"], atlas4["tissue"], atlas4["labels"]
    volume_ml = brain.sum() * 64 / 1000
    assert 1200 < volume_ml < 2000  # an adult brain
    assert tissue["wm"].sum() > 100 and tissue["csf"].sum() > 10
    assert not (tissue["wm"] & (labels > 0)).any() and not (tissue["csf"] & (labels > 0)).any()
    assert np.isin(np.arange(1, 334), labels).mean() > 0.95  # nearly every Gordon parcel is inside the mask


def _region_means(data, labels, ids):
    return np.stack([data[:, labels == i].mean(axis=1) for i in ids], axis=1)


def _mean_pair_r(ts, a, b=None):
    r = np.corrcoef(ts.T)
    if b is None:
        return r[np.ix_(a, a)][np.triu_indices(len(a), 1)].mean()
    return r[np.ix_(a, b)].mean()


def test_motion_spikes_inflate_fc_unless_censored(rng, atlas4):
    targets = {"dmn": 0.3, "sgacc_dmn": 0.1, "limbic": 0.3, "visual": 0.3}
    data, params, spikes = simulate_bold(rng, atlas4["labels"], atlas4["table"], atlas4["sets"], targets,
                                         tissue=atlas4["tissue"], n_frames=200, tr=2.0, n_bursts=6)
    ids = [i for i in atlas4["table"]["index"] if (atlas4["labels"] == i).sum() >= 3]
    ts = signal.detrend(_region_means(data, atlas4["labels"], ids)[2:], axis=0)
    keep = np.setdiff1d(np.arange(len(ts)), np.array(spikes) - 2)
    every = np.arange(len(ids))
    assert _mean_pair_r(ts, every) - _mean_pair_r(ts[keep], every) > 0.1


def test_planted_fc_change_is_visible_in_the_region_means(atlas4):
    """Same random stream before and after: the paired change of the network means is the planted one."""
    table, sets, labels = atlas4["table"], atlas4["sets"], atlas4["labels"]
    pre = {"dmn": 0.5, "sgacc_dmn": 0.3, "limbic": 0.5, "visual": 0.4}
    post = {"dmn": 0.3, "sgacc_dmn": 0.1, "limbic": 0.2, "visual": 0.4}
    present = {i for i in table["index"] if (labels == i).sum() >= 1}
    groups = {k: [i for i in sets[k] if i in present and (k != "dmn" or i not in sets["sgacc"])] for k in sets}
    ids = sorted(set().union(*groups.values()))
    pos = {i: k for k, i in enumerate(ids)}
    measured = {}
    for name, targets in (("pre", pre), ("post", post)):
        data, _, spikes = simulate_bold(np.random.default_rng(11), labels, table, sets, targets,
                                        tissue=atlas4["tissue"], n_frames=400, tr=2.0)
        x = data.astype(float)
        keep = np.setdiff1d(np.arange(2, len(x)), spikes)
        g = np.column_stack([np.ones(len(x)), x.mean(axis=1), np.arange(len(x))])[keep]
        ts = _region_means(x, labels, ids)[keep]
        ts -= g @ np.linalg.lstsq(g, ts, rcond=None)[0]  # global signal regression by hand
        idx = {k: [pos[i] for i in v] for k, v in groups.items()}
        measured[name] = {m: np.arctanh(_mean_pair_r(ts, idx[m])) for m in ("dmn", "limbic", "visual")}
        measured[name]["sgacc_dmn"] = np.arctanh(_mean_pair_r(ts, idx["sgacc"], idx["dmn"]))
    for m in ("dmn", "sgacc_dmn", "limbic"):
        change, planted = measured["post"][m] - measured["pre"][m], post[m] - pre[m]
        assert 0.6 < change / planted < 1.3, (m, change, planted)
    assert abs(measured["post"]["visual"] - measured["pre"]["visual"]) < 0.03
    assert measured["pre"]["dmn"] > measured["pre"]["sgacc_dmn"]
