"""Seed maps on the fs_LR surface: parcel t values land on the parcel's vertices, and the figure is drawn."""

import logging

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from ketamine_fc.reports import group_connectome as gc


@pytest.fixture(scope="module")
def surfaces():
    labels, meshes = gc.fslr_surfaces()
    assert labels is not None, meshes
    return labels, meshes


def _vertex_parcels_by_hand(shared_data):
    """Gordon parcel of every fs_LR 32k vertex, read with nibabel's CIFTI axes (not the package's reader)."""
    img = nb.load(shared_data / "atlases" / "gordon333" / "tpl-fsLR_atlas-Gordon_den-32k_dseg.dlabel.nii")
    table = img.header.get_axis(0).label[0]
    names = {k: v[0] for k, v in table.items()}
    keys = np.asarray(img.dataobj[0]).astype(int)
    out = {}
    for name, sl, bm in img.header.get_axis(1).iter_structures():
        hemi = {"CIFTI_STRUCTURE_CORTEX_LEFT": "L", "CIFTI_STRUCTURE_CORTEX_RIGHT": "R"}[name]
        parcel = np.zeros(32492, int)
        parcel[bm.vertex] = [int(names[k].split("_")[1]) if names[k].startswith("Parcel_") else 0 for k in keys[sl]]
        out[hemi] = parcel
    return out


def test_each_vertex_gets_the_t_of_its_parcel(surfaces, shared_data):
    labels, _ = surfaces
    rng = np.random.default_rng(1)
    t = rng.normal(size=333)
    t[[122, 279]] = np.nan  # the seed's own parcels: no value
    regions = [f"Gordon_{i}" for i in range(1, 334)]
    values = gc.surface_values(labels, regions + ["Seitzman_236"], np.r_[t, 9.0])  # subcortical: not drawn
    by_hand = _vertex_parcels_by_hand(shared_data)
    for hemi in ("L", "R"):
        parcel = by_hand[hemi]
        expected = np.where(parcel > 0, np.nan_to_num(t[np.maximum(parcel, 1) - 1], nan=0.0), 0.0)
        np.testing.assert_array_equal(values[hemi], expected)
        assert (parcel > 0).sum() > 20000 and 9.0 not in values[hemi]
    assert set(np.unique(by_hand["L"])) - {0} <= set(range(1, 162))  # left parcels 1-161


def test_sgacc_seed_maps_drawn_on_the_surface(tmp_path, surfaces):
    regions = [f"Gordon_{i}" for i in range(1, 334)]
    rows = [pd.DataFrame({"seed": "sgACC", "term": term, "region": regions, "t": np.linspace(-4, 4, 333)})
            for term in ("time", "time:response")]
    html = gc._sgacc_surface(pd.concat(rows), tmp_path, 7)
    assert "Figure 7." in html and "fs_LR" in html and "data:image/png;base64," in html
    assert (tmp_path / "fig_seeds_sgacc_fslr.png").stat().st_size > 20000
    assert not list(tmp_path.glob("*.svg"))  # no vector copy of the meshes


def test_without_the_surface_files_the_figure_is_left_out_with_a_reason(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(gc, "fslr_surfaces", lambda: (None, "atlas file surfaces/x was not found"))
    seeds = pd.DataFrame({"seed": "sgACC", "term": "time", "region": ["Gordon_1"], "t": [1.0]})
    with caplog.at_level(logging.INFO, logger="ketamine_fc.group"):
        assert gc._sgacc_surface(seeds, tmp_path, 3) == ""
    assert "not drawn: atlas file surfaces/x was not found" in caplog.text
    assert gc._sgacc_surface(seeds.assign(seed="Seitzman_236"), tmp_path, 3) == ""  # no sgACC seed
