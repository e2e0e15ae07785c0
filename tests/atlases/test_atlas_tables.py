"""Region tables derived at run time from the upstream files agree with the shared derived tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketamine_fc.atlases.tables import gordon_table, harvard_oxford_labels, seitzman_table


def _shared(path):
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["n/a"])


def test_gordon_table_matches_the_shared_derived_table(atlas_dir):
    # hemisphere and community of the shared table come from Gordon's Parcels.xlsx, ours from XCP-D's TSV
    ours = gordon_table(atlas_dir, centroids=True)
    ref = _shared(atlas_dir / "gordon333" / "gordon333_parcels.tsv")
    assert ours["parcel_id"].tolist() == list(range(1, 334)) == ref["parcel_id"].tolist()
    for col in ("hemisphere", "community", "network_label_xcpd", "label_xcpd"):
        assert ours[col].tolist() == ref[col].tolist(), col
    assert ours["sgacc_candidate"].tolist() == ref["sgacc_candidate"].fillna("").tolist()
    for axis in "xyz":
        np.testing.assert_allclose(ours[f"centroid_vol1mm_{axis}"], ref[f"centroid_vol1mm_{axis}"], atol=0.006)
    assert ours["nvox_1mm"].tolist() == ref["nvox_1mm"].tolist()


def test_gordon_communities_keep_gordons_names_and_the_string_none(atlas_dir):
    counts = gordon_table(atlas_dir)["community"].value_counts().to_dict()
    # Parcels.xlsx / methods.md 3.1
    assert counts == {"Default": 41, "CinguloOperc": 40, "Visual": 39, "SMhand": 38, "DorsalAttn": 32,
                      "FrontoParietal": 24, "Auditory": 24, "VentralAttn": 23, "SMmouth": 8,
                      "RetrosplenialTemporal": 8, "CinguloParietal": 5, "Salience": 4, "None": 47}


def test_seitzman_table_matches_the_shared_derived_table(atlas_dir):
    ours = seitzman_table(atlas_dir)
    ref = _shared(atlas_dir / "seitzman300" / "seitzman300_rois.tsv")
    assert len(ours) == 300 and ours["roi"].tolist() == ref["roi"].tolist()
    np.testing.assert_allclose(ours[["x", "y", "z", "radius_mm", "integrative_percent"]],
                               ref[["x", "y", "z", "radius_mm", "integrative_percent"]])
    for col in ("network", "network_raw", "network_workbench_label", "anatomical_label"):
        assert ours[col].tolist() == ref[col].tolist(), col
    assert ours["limbic_role"].tolist() == ref["limbic_role"].fillna("").tolist()
    assert "VentralAttetion" not in set(ours["network"]) and ours.loc[255, "network"] == "VentralAttention"
    assert set(ours.loc[ours["anatomical_label"].str.startswith("cortex"), "radius_mm"]) == {5}
    assert set(ours.loc[~ours["anatomical_label"].str.startswith("cortex"), "radius_mm"]) == {4}


def test_limbic_rois_have_the_coordinates_of_methods_md(atlas_dir):
    table = seitzman_table(atlas_dir).set_index("roi")
    expected = {244: (-20.3, -2.3, -22.2), 245: (19.5, -1.9, -23.1), 236: (-25.6, -11.8, -21.5),
                237: (24.7, -11.3, -22.7), 238: (-25.2, -38.8, -2.0), 239: (25.1, -37.2, -2.2),
                247: (-12.5, 17.1, -4.5), 246: (12.7, 17.3, -5.1), 263: (-2.9, -10.0, 8.5), 262: (3.4, -7.8, 8.2)}
    for roi, xyz in expected.items():
        np.testing.assert_allclose(table.loc[roi, ["x", "y", "z"]].to_numpy(float), xyz, atol=0.06)
        assert table.loc[roi, "limbic_role"].endswith("_L" if xyz[0] < 0 else "_R")
    assert (table["limbic_role"] != "").sum() == 10


def test_harvard_oxford_labels_match_the_shared_table(atlas_dir):
    ours = harvard_oxford_labels(atlas_dir, counts=True)
    ref = _shared(atlas_dir / "harvard_oxford_sub" / "HarvardOxford-sub_labels.tsv")
    assert ours["index"].tolist() == ref["index"].tolist() == list(range(1, 22))
    assert ours["name"].tolist() == ref["name"].tolist()
    assert ours["nvox_1mm"].tolist() == ref["nvox_1mm"].tolist()
    names = dict(zip(ours["index"], ours["name"]))
    assert (names[9], names[10], names[11]) == ("Left_Hippocampus", "Left_Amygdala", "Left_Accumbens")
    assert (names[19], names[20], names[21]) == ("Right_Hippocampus", "Right_Amygdala", "Right_Accumbens")
