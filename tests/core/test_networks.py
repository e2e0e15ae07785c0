"""Network sets from an atlas table and the four network measures, by hand on small matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.core.networks import label_to_index, network_measures, network_sets


def _table():
    rows = [(1, "Default", ""), (2, "Default", ""), (117, "Default", ""), (5, "Visual", ""), (6, "Visual", ""),
            (123, "None", ""), (280, "None", ""), (286, "None", ""), (7, "Auditory", "")]
    rows += [(1244, "Reward", "limbic_amygdala_L"), (1263, "DefaultMode", "limbic_thalamus_anteromedial_L"),
             (1277, "DefaultMode", "")]  # a Seitzman DefaultMode ROI is not in the (Gordon) DMN
    df = pd.DataFrame(rows, columns=["index", "network", "limbic_role"])
    df["atlas"] = np.where(df["index"] > 1000, "Seitzman300", "Gordon333")
    return df


def test_network_sets_from_a_table():
    sets = network_sets(_table())
    assert sets == {"dmn": [1, 2, 117], "sgacc": [123, 280, 286], "limbic": [1244, 1263], "visual": [5, 6]}
    assert network_sets(_table(), sgacc="extended")["sgacc"] == [117, 123, 125, 279, 280, 286]
    assert network_sets(_table(), sgacc=[280, "123"])["sgacc"] == [123, 280]
    with pytest.raises(ValueError, match="sgACC"):
        network_sets(_table(), sgacc="everything")
    with pytest.raises(ValueError, match="1-333"):
        network_sets(_table(), sgacc=[1280])


def test_limbic_roles_read_back_from_tsv_are_handled():
    table = _table()
    table["limbic_role"] = table["limbic_role"].replace("", np.nan)  # as read_csv gives for empty cells
    assert network_sets(table)["limbic"] == [1244, 1263]


def _symmetric(values, n):
    z = np.full((n, n), np.nan)
    for (i, j), v in values.items():
        z[i, j] = z[j, i] = v
    return z


def test_measures_by_hand():
    # rows: 0 = parcel 1 (DMN), 1 = parcel 2 (DMN), 2 = 117 (DMN and sgACC), 3 = 280 (sgACC), 4 = 5 (Visual),
    # 5 = 6 (Visual), 6 = 1244, 7 = 1263, 8 = 1248 (limbic, third member)
    index = [1, 2, 117, 280, 5, 6, 1244, 1263, 1248]
    z = _symmetric({(0, 1): 0.2, (0, 2): 0.4, (1, 2): 0.9,
                    (3, 0): 0.1, (3, 1): 0.3, (3, 2): 5.0, (2, 2): 99.0,
                    (4, 5): -0.3, (6, 7): 0.5, (6, 8): 0.7, (7, 8): 0.6}, 9)
    sets = {"dmn": [1, 2, 117], "sgacc": [117, 280], "limbic": [1244, 1263, 1248], "visual": [5, 6]}
    out = network_measures(z, index, sets)
    assert out["dmn"] == pytest.approx((0.2 + 0.4 + 0.9) / 3) and out["n_pairs_dmn"] == 3
    # sgACC (117, 280) x DMN-not-sgACC (1, 2): pairs 117-1, 117-2, 280-1, 280-2; 117-280 and self-pairs excluded
    assert out["sgacc_dmn"] == pytest.approx((0.4 + 0.9 + 0.1 + 0.3) / 4) and out["n_pairs_sgacc_dmn"] == 4
    assert out["limbic"] == pytest.approx(0.6) and out["n_pairs_limbic"] == 3
    assert out["visual"] == pytest.approx(-0.3) and out["n_pairs_visual"] == 1
    assert list(out) == ["dmn", "sgacc_dmn", "limbic", "visual",
                         "n_pairs_dmn", "n_pairs_sgacc_dmn", "n_pairs_limbic", "n_pairs_visual"]


def test_ten_limbic_rois_give_45_pairs_and_missing_regions_are_skipped(rng):
    n = 10
    a = rng.normal(size=(n, n))
    z = (a + a.T) / 2
    sets = {"dmn": [], "sgacc": [], "limbic": list(range(1001, 1011)), "visual": []}
    index = list(range(1001, 1011))
    out = network_measures(z, index, sets)
    assert out["n_pairs_limbic"] == 45
    assert out["limbic"] == pytest.approx(z[np.triu_indices(n, 1)].mean())
    z[3, :] = z[:, 3] = np.nan  # region 1004 missing: its 9 pairs are dropped
    out = network_measures(z, index, sets)
    keep = [i for i in range(n) if i != 3]
    assert out["n_pairs_limbic"] == 36
    assert out["limbic"] == pytest.approx(z[np.ix_(keep, keep)][np.triu_indices(n - 1, 1)].mean())
    assert np.isnan(out["dmn"]) and out["n_pairs_dmn"] == 0


def test_labels_or_indices_give_the_same_answer(rng):
    index = [1, 2, 3, 1244, 1245]
    labels = ["Gordon_1", "Gordon_2", "Gordon_3", "Seitzman_244", "Seitzman_245"]
    a = rng.normal(size=(5, 5))
    z = a + a.T
    sets = {"dmn": [1, 2, 3], "sgacc": [3], "limbic": [1244, 1245, 9999], "visual": [4]}
    by_label, by_index = network_measures(z, labels, sets), network_measures(z, index, sets)
    assert by_label.keys() == by_index.keys()
    np.testing.assert_array_equal(list(by_label.values()), list(by_index.values()))  # NaN == NaN here
    assert np.isnan(by_index["visual"]) and by_index["n_pairs_visual"] == 0
    assert network_measures(z, index, sets)["n_pairs_limbic"] == 1  # 9999 is not in the matrix
    assert label_to_index("Seitzman_263") == 1263 and label_to_index("Gordon_12") == 12
    with pytest.raises(ValueError, match="label"):
        label_to_index("Schaefer_1")
    with pytest.raises(ValueError, match="does not match"):
        network_measures(z, index[:4], sets)
