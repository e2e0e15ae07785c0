"""Session FC: the Fisher-z matrices have an n/a diagonal, and the network measures never read it."""

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.core.connectivity import fisher_z
from ketamine_fc.core.networks import network_measures, network_sets
from ketamine_fc.core.session import session_connectivity

SGACC = [123]


def _arctanh_r(ts):
    """arctanh of numpy's correlation matrix, off the diagonal (the diagonal is 0, not inf)."""
    r = np.corrcoef(ts, rowvar=False)
    np.fill_diagonal(r, 0.0)
    return np.arctanh(r)


@pytest.fixture
def session(rng):
    table = pd.DataFrame({
        "index": [1, 2, 3, 123, 5, 6, 1237, 1238, 1239],
        "network": ["Default", "Default", "Default", "Default", "Visual", "Visual", "None", "None", "None"],
        "limbic_role": ["", "", "", "", "", "", "amygdala_L", "amygdala_R", "thalamus_L"],
        "atlas": ["Gordon333"] * 6 + ["Seitzman300"] * 3,
    })
    table["label"] = [f"Gordon_{i}" if i < 1000 else f"Seitzman_{i - 1000}" for i in table["index"]]
    shared = {n: rng.standard_normal(100) for n in ("Default", "Visual", "None")}
    ts = np.column_stack([shared[n] + rng.standard_normal(100) for n in table["network"]])
    ts[:, 2] = np.nan  # Gordon_3 lies outside the brain mask
    runs = [pd.DataFrame(ts[:60], columns=table["label"]), pd.DataFrame(ts[60:], columns=table["label"])]
    qc = [{"mean_fd": 0.1, "n_frames": 60, "n_dummy": 0, "missing_regions": ["Gordon_3"]},
          {"mean_fd": 0.1, "n_frames": 40, "n_dummy": 0, "missing_regions": ["Gordon_3"]}]
    out = session_connectivity(runs, qc, table, sgacc=SGACC, min_frames=50, min_coverage=0.1)
    return out, ts, table


def test_z_diagonal_is_nan_and_off_diagonal_is_arctanh_r(session):
    out, ts, table = session
    z, r = out["z"].to_numpy(), out["r"].to_numpy()
    assert np.isnan(np.diag(z)).all()
    ok = [i for i in range(ts.shape[1]) if i != 2]
    assert np.diag(r)[ok] == pytest.approx(1.0)
    expected = _arctanh_r(ts[:, ok])
    got = z[np.ix_(ok, ok)]
    off = ~np.eye(len(ok), dtype=bool)
    np.testing.assert_allclose(got[off], expected[off], rtol=1e-10)
    assert np.isnan(z[2]).all() and np.isnan(z[:, 2]).all()
    limbic = ["Seitzman_237", "Seitzman_238", "Seitzman_239"]
    assert list(out["limbic_z"].index) == limbic
    pd.testing.assert_frame_equal(out["limbic_z"], out["z"].loc[limbic, limbic])
    assert np.isnan(np.diag(out["limbic_z"].to_numpy())).all()


def test_network_measures_use_off_diagonal_pairs_only(session):
    out, ts, table = session
    ok = [i for i in range(ts.shape[1]) if i != 2]
    zz = _arctanh_r(ts[:, ok])
    pos = {int(table["index"][i]): k for k, i in enumerate(ok)}

    def pairs(rows):
        return [zz[pos[a], pos[b]] for k, a in enumerate(rows) for b in rows[k + 1:]]

    dmn = [1, 2, 123]  # Gordon_3 is missing
    sgacc_dmn = [zz[pos[123], pos[b]] for b in (1, 2)]
    expected = {"dmn": pairs(dmn), "sgacc_dmn": sgacc_dmn, "limbic": pairs([1237, 1238, 1239]),
                "visual": pairs([5, 6])}
    m = out["measures"]
    for name, values in expected.items():
        assert m[name] == pytest.approx(np.mean(values), rel=1e-10), name
        assert m[f"n_pairs_{name}"] == len(values)
    # the same as from the matrix with its old finite diagonal, arctanh(1 - 1e-7)
    old = network_measures(fisher_z(out["r"].to_numpy()), table["index"], network_sets(table, sgacc=SGACC))
    assert {k: m[k] for k in old} == pytest.approx(old, rel=1e-12)
