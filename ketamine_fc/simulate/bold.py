"""Generative BOLD model on the real atlases, and the fMRIPrep-style confounds that go with it.

Each region's signal mixes a network signal (its Gordon community, or the limbic network) with a signal of
its own; the mixing weight is chosen so that the expected correlation between two regions of a network is
the planted Fisher-z target. sgACC parcels carry part of the DMN signal, weighted by the sgACC-DMN target.
With a ``limbic_dmn_subnetwork`` target, a limbic-DMN signal couples the limbic regions to a few DMN parcels
(:func:`subnetwork_mixing`) without moving the network means.
Signals are band-limited to the resting-state band, so band-pass filtering keeps them. Voxels add white
noise, a global signal, a CSF (physiological) signal, slow drift, motion-related signal and, at the frames of
head-motion bursts, an artefact proportional to the framewise displacement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import signal as sps

from ketamine_fc.core.motion import MOTION_COLUMNS, framewise_displacement
from ketamine_fc.simulate.design import subnetwork_sets

OTHER_NETWORK_Z = 0.3  # within-community FC of the Gordon communities without a planted target
SIGNAL_SCALE = 12.0  # BOLD units of a unit-variance region signal
VOXEL_NOISE = 12.0
GLOBAL_SD = 12.0  # a strong global fluctuation, as in real data
#: loading of the global fluctuation by tissue: mostly grey matter (neural, vascular and respiratory), less in
#: white matter and CSF. With the same nuisance everywhere, the global minus the white-matter signal would be a
#: clean copy of the networks, and regressing both would remove the networks with it.
GLOBAL_LOADING = {"gm": 1.0, "wm": 0.3, "csf": 0.5}
WM_SD = 8.0  # a slow signal of the white matter's own (physiology, scanner), partly seen in grey matter
WM_LOADING = {"gm": 0.1, "wm": 1.0, "csf": 0.0}
CSF_GAIN = 20.0  # the physiological (pulsatile) signal, mostly in the CSF
SPIKE_GAIN = 80.0  # artefact amplitude (BOLD units) per mm of FD at a motion burst
HEAD_RADIUS = 50.0
#: Fisher z by which FC among the subnetwork's DMN parcels exceeds FC among the other DMN pairs, in every session
#: and participant: the room that their coupling to the limbic regions needs (see :func:`subnetwork_mixing`)
SUBNETWORK_DMN_EXCESS = 0.3
SIGNAL_BAND = (0.01, 0.08)  # Hz


def mixing_weight(z: float) -> float:
    """Weight ``a`` of a shared signal in ``a*s + e`` so that two such regions correlate at ``tanh(z)``.

    With unit-variance independent ``s`` and ``e``: corr = a**2 / (1 + a**2).
    """
    r = float(np.clip(np.tanh(z), 0.0, 0.95))
    return float(np.sqrt(r / (1.0 - r)))


def sgacc_weight(z: float, a: float) -> float:
    """Weight ``b`` of the DMN signal in an sgACC region (``b*s + e``) so that it correlates at ``tanh(z)``
    with DMN regions (``a*s + e'``): corr = a*b / sqrt((1 + a**2)(1 + b**2)); negative targets give ``b < 0``."""
    r = float(np.clip(np.tanh(z), -0.95, 0.95))
    c = float(np.clip(r * np.sqrt(1 + a * a) / max(a, 1e-6), -0.95, 0.95))
    return float(c / np.sqrt(1 - c * c))


def subnetwork_mixing(z_dmn: float, z_limbic: float, z_subnetwork: float, pair_fraction: float) -> dict:
    """Weights that plant the limbic-DMN subnetwork and keep the within-DMN and within-limbic means.

    Signals: subnetwork DMN parcel ``a*s_dmn + h*c + sqrt(1 - h**2)*e``, other DMN parcel ``a*s_dmn + e``, limbic
    region ``a_l*s_limbic + mu*c + e`` (``c`` the limbic-DMN signal; all unit variance and independent). Then

    * every DMN parcel has variance ``1 + a**2``: the pairs with any other DMN or sgACC parcel correlate at
      ``a**2 / (1 + a**2)``, at Fisher z ``z_dmn - SUBNETWORK_DMN_EXCESS * pair_fraction``, and the pairs
      among the subnetwork's DMN parcels ``SUBNETWORK_DMN_EXCESS`` higher (``pair_fraction``: their share of
      the within-DMN pairs), so that the mean over the within-DMN pairs is ``z_dmn``;
    * limbic pairs correlate at ``(a_l**2 + mu**2) / (1 + a_l**2 + mu**2) = tanh(z_limbic)`` (``a_l`` makes room
      for ``mu``);
    * a limbic region and a subnetwork DMN parcel correlate at ``mu*h / sqrt((1 + a_l**2 + mu**2)(1 + a**2))
      = tanh(z_subnetwork)``; a limbic region and any other parcel do not correlate.

    The coupling can reach ``sqrt(excess_r * r_limbic)`` at most (``excess_r``: the correlation the subnetwork's
    DMN pairs have above the others); a larger target is clipped to it, and ``z`` returns what is planted.

    Returns
    -------
    dict with ``a``, ``h``, ``own`` (the scale of the subnetwork DMN parcels' own signal), ``a_l``, ``mu`` and
    ``z`` (the planted subnetwork Fisher z).
    """
    z_rest = z_dmn - SUBNETWORK_DMN_EXCESS * pair_fraction
    a = mixing_weight(z_rest)
    r_rest = a * a / (1 + a * a)
    excess = float(np.clip(np.tanh(z_rest + SUBNETWORK_DMN_EXCESS), r_rest, 0.95)) - r_rest
    h = float(np.sqrt(excess * (1 + a * a)))  # excess = h**2 / (1 + a**2), at most 1 - r_rest: h <= 1
    a_l0 = mixing_weight(z_limbic)
    r_limbic = a_l0 * a_l0 / (1 + a_l0 * a_l0)
    cap = float(np.sqrt(excess * r_limbic))
    r = float(np.clip(np.tanh(z_subnetwork), -cap, cap))
    mu = r * np.sqrt(1 + a_l0 * a_l0) / np.sqrt(excess) if excess > 0 else 0.0
    a_l = float(np.sqrt(max(a_l0 * a_l0 - mu * mu, 0.0)))
    return {"a": a, "h": h, "own": float(np.sqrt(max(1.0 - h * h, 0.0))), "a_l": a_l, "mu": float(mu),
            "z": float(np.arctanh(r))}


def plant_what_the_model_can(targets, pair_fraction) -> None:
    """Clip, in place, the ``limbic_dmn_subnetwork`` targets (a targets table) beyond the reach of the signal model
    (weak limbic FC: see :func:`subnetwork_mixing`), so that the table records what is planted."""
    targets["limbic_dmn_subnetwork"] = [
        subnetwork_mixing(row["dmn"], row["limbic"], row["limbic_dmn_subnetwork"], pair_fraction)["z"]
        for _, row in targets.iterrows()]


def subnetwork_pair_fraction(table, sets) -> float:
    """Share of the within-DMN pairs (DMN parcels of ``table`` outside the sgACC set) that join two DMN parcels of
    the limbic-DMN subnetwork."""
    present = set(int(i) for i in table["index"])
    dmn = [i for i in sets["dmn"] if i in present and i not in sets["sgacc"]]
    sub = [i for i in subnetwork_sets(sets)["dmn"] if i in present]
    n, k = len(dmn), len(sub)
    return k * (k - 1) / (n * (n - 1)) if n > 1 else 0.0


def band_limited(rng, n_frames, n_series, tr, band=SIGNAL_BAND) -> np.ndarray:
    """(n_frames, n_series) independent Gaussian signals band-passed to ``band`` Hz, each scaled to unit SD."""
    white = rng.standard_normal((n_frames + 60, n_series))
    high = min(band[1], 0.45 / tr)
    sos = sps.butter(3, [band[0], high], btype="bandpass", fs=1.0 / tr, output="sos")
    out = sps.sosfiltfilt(sos, white, axis=0)[30:-30]
    out -= out.mean(axis=0)
    return out / out.std(axis=0)


def motion_trace(rng, n_frames, n_bursts, *, first=8, step_sd=0.012):
    """Six realignment parameters (mm, radians) and the frames of motion bursts.

    Between bursts FD stays mostly within 0.03-0.15 mm; a burst of one or two frames moves 0.5-1.6 mm.
    """
    steps = rng.normal(0, step_sd, (n_frames, 6))
    steps[:, 3:] /= HEAD_RADIUS
    spikes = []
    starts = rng.choice(np.arange(first, n_frames - 3), size=min(n_bursts, max(n_frames - first - 3, 0)),
                        replace=False)
    for start in starts:
        for k in range(int(rng.integers(1, 3))):
            jump = rng.uniform(0.25, 0.8) * rng.choice([-1.0, 1.0], 6) / 3
            jump[3:] /= HEAD_RADIUS
            steps[start + k] += jump
            spikes.append(int(start + k))
    steps[0] = 0.0
    return np.cumsum(steps, axis=0), sorted(set(spikes))


def region_signals(rng, table, sets, targets, n_frames, tr) -> np.ndarray:
    """(n_frames, n_regions) unit-variance region signals in table order, with the planted network structure.

    ``targets`` holds the Fisher-z targets ``dmn``, ``sgacc_dmn``, ``limbic``, ``visual`` and optionally
    ``limbic_dmn_subnetwork`` (the mean FC between the limbic regions and the subnetwork's DMN parcels,
    :func:`ketamine_fc.simulate.design.subnetwork_sets`; mixed in by :func:`subnetwork_mixing`). Its signal comes
    from a child stream of ``rng`` (``rng.spawn``), so that ``rng`` itself draws what it would draw without it.
    """
    n = len(table)
    own = band_limited(rng, n_frames, n, tr)
    out = own.copy()
    pos = {int(v): i for i, v in enumerate(table["index"])}
    weights = {k: mixing_weight(targets[k]) for k in ("dmn", "limbic", "visual")}
    z_sub = targets.get("limbic_dmn_subnetwork") if hasattr(targets, "get") else None
    planted = z_sub is not None and np.isfinite(z_sub)
    if planted:
        members = subnetwork_sets(sets)
        sub_dmn = [pos[i] for i in members["dmn"] if i in pos]
        sub_limbic = [pos[i] for i in members["limbic"] if i in pos]
        mix = subnetwork_mixing(targets["dmn"], targets["limbic"], float(z_sub),
                                subnetwork_pair_fraction(table, sets))
        weights.update(dmn=mix["a"], limbic=mix["a_l"])
        out[:, sub_dmn] *= mix["own"]
    shared = dict(zip(weights, band_limited(rng, n_frames, len(weights), tr).T))
    for name in weights:
        cols = [pos[i] for i in sets[name] if i in pos and i not in sets["sgacc"]]
        out[:, cols] += weights[name] * shared[name][:, None]
    cols = [pos[i] for i in sets["sgacc"] if i in pos]
    out[:, cols] += sgacc_weight(targets["sgacc_dmn"], weights["dmn"]) * shared["dmn"][:, None]
    taken = set().union(*(set(v) for v in sets.values()))
    other = table[(table["structure"] == "cortex") & ~table["index"].isin(taken)]
    groups = list(other.groupby("network"))
    common = band_limited(rng, n_frames, max(len(groups), 1), tr)
    a = mixing_weight(OTHER_NETWORK_Z)
    for k, (_, members_k) in enumerate(groups):
        out[:, [pos[i] for i in members_k["index"]]] += a * common[:, [k]]
    if planted:  # from a child stream: rng's own draws (here and after) are those of a simulation without it
        c = band_limited(rng.spawn(1)[0], n_frames, 1, tr)
        out[:, sub_dmn] += mix["h"] * c
        out[:, sub_limbic] += mix["mu"] * c
    return out / out.std(axis=0)  # equal variance everywhere: a planted change alters no region's power


def simulate_bold(rng, labels, table, sets, targets, *, tissue, n_frames, tr, n_bursts=6, n_dummy=2):
    """Voxel time series of one run.

    Parameters
    ----------
    rng : numpy Generator
    labels : ndarray of int, (n_voxels,)
        Atlas label of each in-mask voxel (0 outside every region).
    table, sets : the atlas table (``index``, ``network``, ``structure``) and its ``network_sets``
    targets : mapping
        Planted Fisher-z targets ``dmn``, ``sgacc_dmn``, ``limbic``, ``visual`` (and optionally
        ``limbic_dmn_subnetwork``, see :func:`region_signals`).
    tissue : dict of bool arrays (n_voxels,)
        ``wm`` and ``csf`` voxels; the others count as grey matter. Each tissue has its own mixture of the
        global fluctuation (:data:`GLOBAL_LOADING`), a white-matter signal (:data:`WM_LOADING`) and the
        physiological signal (strong in CSF).
    n_frames, tr : frames and repetition time (s)
    n_bursts : head-motion bursts (1-2 frames each)
    n_dummy : initial non-steady-state frames (brighter by 150)

    Returns
    -------
    data : (n_frames, n_voxels) float32
    params : (n_frames, 6) realignment parameters
    spikes : list of the burst frames (FD > 0.2 mm)
    """
    signals = region_signals(rng, table, sets, targets, n_frames, tr)
    lut = np.full(int(max(labels.max(initial=0), table["index"].max())) + 1, len(table))
    lut[table["index"].to_numpy()] = np.arange(len(table))
    n_vox = labels.size
    data = rng.standard_normal((n_frames, n_vox), dtype=np.float32)
    data *= np.float32(VOXEL_NOISE)
    data += np.float32(1000.0)
    scaled = np.column_stack([SIGNAL_SCALE * signals, np.zeros(n_frames)]).astype(np.float32)
    data += scaled[:, lut[labels]]  # voxels outside every region take the zero column
    del scaled
    t = np.arange(n_frames) * tr
    slow = band_limited(rng, n_frames, 2, tr, band=(0.01, 0.1))
    drift = 5.0 * (t / t[-1] - 0.5) + 3.0 * np.sin(2 * np.pi * t / (n_frames * tr) + rng.uniform(0, 2 * np.pi))
    physio = rng.standard_normal(n_frames)
    kind = np.where(tissue["csf"], "csf", np.where(tissue["wm"], "wm", "gm"))
    gain = np.where(tissue["csf"], CSF_GAIN, rng.uniform(0, 2.0, n_vox))
    params, spikes = motion_trace(rng, n_frames, n_bursts)
    loading = rng.standard_normal((6, n_vox))
    motion = (params - params.mean(axis=0)) / np.array([0.3, 0.3, 0.3, 0.006, 0.006, 0.006])
    # global fluctuation (by tissue), white-matter signal (by tissue), scanner drift (every voxel),
    # physiological signal (mostly CSF), motion-related signal
    time_courses = np.column_stack([GLOBAL_SD * slow[:, 0], WM_SD * slow[:, 1], drift, physio, motion])
    loadings = np.vstack([np.vectorize(GLOBAL_LOADING.get)(kind), np.vectorize(WM_LOADING.get)(kind),
                          np.ones(n_vox), gain, loading])
    data += time_courses.astype(np.float32) @ loadings.astype(np.float32)
    fd = framewise_displacement(params, HEAD_RADIUS)
    pattern = rng.normal(1.0, 0.5, n_vox).astype(np.float32)
    for s in spikes:
        data[s] += np.float32(SPIKE_GAIN * fd[s]) * pattern
    data[:n_dummy] += np.float32(150.0)
    return data, params, spikes


def confounds_table(data, params, *, wm, csf, tr, n_dummy=2, n_compcor=5) -> pd.DataFrame:
    """fMRIPrep-layout confounds: motion, global/WM/CSF signals (each with derivative, square and squared
    derivative), FD, DVARS, CompCor components, cosines and non-steady-state outliers."""
    n_frames = data.shape[0]
    df = pd.DataFrame(params, columns=list(MOTION_COLUMNS))
    df.insert(0, "global_signal", data.mean(axis=1, dtype=np.float64))
    df.insert(1, "white_matter", data[:, wm].mean(axis=1, dtype=np.float64))
    df.insert(2, "csf", data[:, csf].mean(axis=1, dtype=np.float64))
    for name in list(df.columns):
        d = df[name].diff()
        df[f"{name}_derivative1"] = d
        df[f"{name}_power2"] = df[name] ** 2
        df[f"{name}_derivative1_power2"] = d**2
    df["framewise_displacement"] = np.r_[np.nan, framewise_displacement(params, HEAD_RADIUS)[1:]]
    step = np.diff(data, axis=0)
    step *= step
    diff = np.sqrt(step.mean(axis=1, dtype=np.float64))
    del step
    df["dvars"] = np.r_[np.nan, diff]
    df["std_dvars"] = np.r_[np.nan, diff / np.median(diff)]
    for prefix, voxels in (("w_comp_cor", wm), ("c_comp_cor", csf), ("a_comp_cor", wm | csf)):
        comps = _compcor(data[n_dummy:, voxels], n_compcor)
        for k in range(n_compcor):
            df[f"{prefix}_{k:02d}"] = np.r_[np.zeros(n_dummy), comps[:, k]]
    for k in range(int(np.floor(2 * n_frames * tr / 128.0))):
        df[f"cosine{k:02d}"] = np.sqrt(2.0 / n_frames) * np.cos(np.pi * (np.arange(n_frames) + 0.5) * (k + 1)
                                                                  / n_frames)
    for k in range(n_dummy):
        df[f"non_steady_state_outlier{k:02d}"] = (np.arange(n_frames) == k).astype(float)
    return df


def _compcor(values, n) -> np.ndarray:
    """First ``n`` principal time courses (left singular vectors) of the detrended tissue time series, from the
    eigenvectors of the small frames-by-frames Gram matrix; zeros where there are fewer."""
    x = sps.detrend(np.asarray(values, dtype=np.float64), axis=0, type="linear")
    evals, evecs = np.linalg.eigh(x @ x.T)
    u = evecs[:, ::-1][:, : min(n, x.shape[1])]
    if u.shape[1] < n:
        u = np.column_stack([u, np.zeros((len(x), n - u.shape[1]))])
    return u * np.sign(u[0] + (u[0] == 0))  # fixed sign: deterministic across LAPACK builds
