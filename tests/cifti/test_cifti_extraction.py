"""The CIFTI reader: one pass over a dtseries gives the same ExtractedSignals a brute-force computation gives."""

from __future__ import annotations

import numpy as np
import pytest
from cifti_builder import volume_parts
from scipy.spatial.distance import cdist

from ketamine_fc.atlases.surface import load_cifti_atlas, read_cifti_atlas, surface_coords, write_cifti_atlas
from ketamine_fc.core.extraction import ExtractedSignals
from ketamine_fc.errors import InputError
from ketamine_fc.utils.bold_stream import stream_dtseries
from ketamine_fc.utils.cifti_io import make_grayordinates, read_surface_coords, write_dtseries
from ketamine_fc.utils.signals import extract_cifti, grayordinate_coords

N_FRAMES = 17
LIMBIC_SIDE = {9: "HIPPOCAMPUS_LEFT", 10: "AMYGDALA_LEFT", 11: "ACCUMBENS_LEFT", 4: "THALAMUS_LEFT",
               19: "HIPPOCAMPUS_RIGHT", 20: "AMYGDALA_RIGHT", 21: "ACCUMBENS_RIGHT", 15: "THALAMUS_RIGHT"}


def _grays(vertex_info, ho2mm, n_vertices=3000, seed=5, mapping=LIMBIC_SIDE):
    labels, affine = ho2mm
    rng = np.random.default_rng(seed)
    surfaces = [(name, np.sort(rng.choice(vertex_info[key], n_vertices, replace=False)), int(vertex_info[mesh]))
                for name, key, mesh in (("CORTEX_LEFT", "grayl", "num_meshl"), ("CORTEX_RIGHT", "grayr", "num_meshr"))]
    return make_grayordinates(surfaces, volume_parts(labels, mapping), affine=affine, volume_shape=labels.shape)


@pytest.fixture(scope="module")
def small(tmp_path_factory, vertex_info, ho2mm):
    """A reduced fs_LR grayordinate set (3000 vertices a hemisphere, 8 limbic structures) with its atlas and data."""
    grays = _grays(vertex_info, ho2mm)
    folder = tmp_path_factory.mktemp("small_cifti")
    atlas = load_cifti_atlas(grays)
    dlabel = write_cifti_atlas(atlas, folder / "atlas.dlabel.nii")
    rng = np.random.default_rng(11)
    data = (rng.normal(size=(N_FRAMES, grays.size)) + rng.uniform(50, 150, grays.size)).astype(np.float32)
    constant = np.flatnonzero(atlas.labels == atlas.labels[atlas.labels > 0][0])[:2]
    data[:, constant] = 100.0  # two grayordinates without signal: outside the "mask" for coverage
    bold = write_dtseries(folder / "run_bold.dtseries.nii", data, grays, tr=1.5)
    return {"grays": grays, "atlas": atlas, "dlabel": dlabel, "data": data.astype(np.float64), "bold": bold,
            "constant": constant, "folder": folder}


def test_atlas_dlabel_round_trips(small):
    labels, grays = read_cifti_atlas(small["dlabel"])
    assert np.array_equal(labels, small["atlas"].labels) and grays.same_as(small["grays"])
    table = small["atlas"].table
    limbic = table.loc[table["limbic_role"] != "", ["index", "n_voxels"]]
    assert len(limbic) == 10 and (limbic["n_voxels"] > 0).all()  # every limbic region on the CIFTI voxels
    assert table.loc[table["index"] == 1236, "definition"].item() == "cifti_structure"


def test_the_read_equals_brute_force(small):
    table = small["atlas"].table
    labels, data = small["atlas"].labels, small["data"]
    sig = extract_cifti(small["bold"], small["dlabel"], table, tr=1.5)
    assert isinstance(sig, ExtractedSignals) and sig.kind == "cifti" and sig.space == "fsLR" and sig.tr == 1.5
    index = table["index"].to_numpy()
    present = [i for i, r in enumerate(index) if np.any(labels == r)]
    expected = np.column_stack([data[:, labels == index[i]].mean(axis=1) for i in present])
    np.testing.assert_allclose(sig.region_means[:, present], expected, rtol=1e-12)
    assert np.array_equal(sig.atlas_voxels, [np.sum(labels == r) for r in index])
    varies = data.std(axis=0) > 0
    assert np.array_equal(sig.region_voxels, [np.sum((labels == r) & varies) for r in index])
    assert sig.atlas_voxels.sum() - sig.region_voxels.sum() == small["constant"].size
    np.testing.assert_allclose(sig.mean, data.mean(axis=0), rtol=1e-6)
    assert np.array_equal(sig.positions, np.arange(small["grays"].size))

    # subcortical grayordinates: raw series, and the mean of the cortex within 20 mm on the group midthickness
    xyz, is_cortex = grayordinate_coords(small["grays"], surface_coords(None))
    cortical_regions = index[(table["structure"] == "cortex").to_numpy()]
    sub = np.flatnonzero(np.isin(labels, index) & ~np.isin(labels, cortical_regions) & ~is_cortex)
    assert sig.n_sub == sub.size > 0
    np.testing.assert_array_equal(sig.sub_voxels, small["data"][:, sub].astype(np.float32))
    near = cdist(xyz[sub], xyz[is_cortex]) <= 20.0
    has = near.any(axis=1)
    assert np.array_equal(sig.sub_has_cortex, has) and has.any() and not has.all()
    ctx = data[:, is_cortex]
    expected_adj = np.column_stack([ctx[:, row].mean(axis=1) if row.any() else np.zeros(N_FRAMES) for row in near])
    np.testing.assert_allclose(sig.sub_adjacent, expected_adj, rtol=1e-10)
    assert np.array_equal(index[sig.sub_region], labels[sub])


def test_chunks_do_not_change_the_result(small):
    atlas = small["atlas"]
    weights = np.zeros((2, small["grays"].size))
    weights[0, atlas.labels == 1] = 1.0
    weights[1, :] = 1.0 / small["grays"].size
    gather = np.array([small["grays"].size - 1, 0, 1234, 7])
    one = stream_dtseries(small["bold"], weights, gather)
    many = stream_dtseries(small["bold"], weights, gather, chunk_bytes=4096)
    for a, b in ((one.weighted, many.weighted), (one.gathered, many.gathered), (one.voxel_std, many.voxel_std)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_array_equal(many.gathered, small["data"][:, gather].astype(np.float32))
    np.testing.assert_allclose(many.weighted, small["data"] @ weights.T, rtol=1e-10)


def test_participant_surfaces_place_the_cortex(small, shared_data, tmp_path):
    """Surfaces moved 300 mm away leave no cortex within 20 mm of any subcortical grayordinate."""
    import nibabel as nb

    from cifti_builder import write_surfaces

    paths = write_surfaces(tmp_path, "01", shared_data, shift_mm=300.0, jitter_mm=0.0)
    assert np.allclose(read_surface_coords(paths["L"])[:, 1] - 300.0,
                       nb.load(shared_data / "surfaces/fslr32k/S1200.L.midthickness_MSMAll.32k_fs_LR.surf.gii")
                       .agg_data("pointset")[:, 1], atol=1e-3)
    sig = extract_cifti(small["bold"], small["dlabel"], small["atlas"].table, tr=1.5, surfaces=paths)
    assert sig.n_sub > 0 and not sig.sub_has_cortex.any()


def test_without_cleanup_nothing_is_kept_per_voxel(small):
    sig = extract_cifti(small["bold"], small["dlabel"], small["atlas"].table, tr=1.5, subcortical_cleanup=False,
                        surfaces={"L": "/nonexistent/L.surf.gii", "R": "/nonexistent/R.surf.gii"})
    assert sig.n_sub == 0 and sig.sub_voxels.shape == (N_FRAMES, 0)


def test_a_dtseries_on_other_grayordinates_than_its_atlas_is_refused(small, vertex_info, ho2mm, tmp_path):
    other = _grays(vertex_info, ho2mm, seed=6)
    bold = write_dtseries(tmp_path / "other_bold.dtseries.nii", np.ones((4, other.size), np.float32), other, tr=1.5)
    with pytest.raises(InputError, match="not those the atlas was built on") as err:
        extract_cifti(bold, small["dlabel"], small["atlas"].table, tr=1.5)
    assert str(bold) in str(err.value)


def test_a_constant_dtseries_is_refused(small, tmp_path):
    bold = write_dtseries(tmp_path / "flat_bold.dtseries.nii", np.ones((5, small["grays"].size), np.float32),
                          small["grays"], tr=1.5)
    with pytest.raises(InputError, match="does not change over time"):
        extract_cifti(bold, small["dlabel"], small["atlas"].table, tr=1.5)
