"""``ketamine-fc-simulate --space fsLR``: fMRIPrep-style 91k-shaped CIFTI-2 dense time series that read back with
the surface path's reader, carry the surface path's own regions and the planted FC, byte-identical for a seed."""

import json

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from ketamine_fc.cli.simulate import main
from ketamine_fc.simulate import bold, cifti
from ketamine_fc.simulate.writer import grid
from ketamine_fc.utils.cifti_io import read_dtseries, structure_name

N_FRAMES, TR = 30, 1.5
ARGS = ["--space", "fsLR", "--n-patients", "1", "--n-controls", "1", "--n-frames", str(N_FRAMES), "--resolution",
        "4", "--seed", "7", "--tr", str(TR)]
#: 29,696 + 29,716 cortical vertices (medial wall excluded) and the 15 Harvard-Oxford structures at 2 mm
N_CORTEX, N_SUBCORTEX = 59412, 12850
STRUCTURES = ["CORTEX_LEFT", "CORTEX_RIGHT", "ACCUMBENS_LEFT", "ACCUMBENS_RIGHT", "AMYGDALA_LEFT", "AMYGDALA_RIGHT",
              "BRAIN_STEM", "CAUDATE_LEFT", "CAUDATE_RIGHT", "HIPPOCAMPUS_LEFT", "HIPPOCAMPUS_RIGHT", "PALLIDUM_LEFT",
              "PALLIDUM_RIGHT", "PUTAMEN_LEFT", "PUTAMEN_RIGHT", "THALAMUS_LEFT", "THALAMUS_RIGHT"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory, atlas_dir):
    root = tmp_path_factory.mktemp("sim_fslr")
    codes = [main([str(root / "a"), *ARGS, "--atlas-dir", str(atlas_dir)]),
             main([str(root / "b"), *ARGS, "--atlas-dir", str(atlas_dir), "--nprocs", "2"])]
    fmriprep = root / "a" / "derivatives" / "fmriprep"
    return {"codes": codes, "bids": root / "a", "copy": root / "b", "fmriprep": fmriprep,
            "dtseries": sorted(fmriprep.rglob("*_bold.dtseries.nii"))}


def test_one_dtseries_with_sidecar_and_confounds_per_run(sim):
    assert sim["codes"] == [0, 0]
    func = sim["fmriprep"] / "sub-P01" / "ses-pre1" / "func"
    stem = "sub-P01_ses-pre1_task-rest_run-1"
    assert sorted(p.name for p in func.iterdir()) == sorted([
        f"{stem}_space-fsLR_den-91k_bold.dtseries.nii", f"{stem}_space-fsLR_den-91k_bold.json",
        f"{stem}_desc-confounds_timeseries.tsv", f"{stem}_desc-confounds_timeseries.json"])
    sessions = pd.read_csv(sim["bids"] / "derivatives" / "simulation_truth.tsv", sep="\t")
    assert len(sim["dtseries"]) == len(sessions) == 4  # P01 pre1, pre2, post; C01 pre1
    meta = json.loads((func / f"{stem}_space-fsLR_den-91k_bold.json").read_text())
    assert meta["RepetitionTime"] == TR and meta["grayordinates"] == "91k" and meta["surface"] == "fsLR"
    assert not list(sim["bids"].rglob("*.nii.gz"))  # no volume BOLD, mask or boldref: the volume is not written
    truth = json.loads((sim["bids"] / "derivatives" / "simulation_truth.json").read_text())
    assert truth["Space"] == "fsLR" and truth["Density"] == "91k"


def test_dtseries_reads_back_as_91k_shaped_grayordinates(sim, shared_data):
    ds = read_dtseries(sim["dtseries"][0])
    grays = ds.grayordinates
    assert ds.data.shape == (N_FRAMES, N_CORTEX + N_SUBCORTEX) == (N_FRAMES, 72262)
    assert ds.tr == TR and ds.data.dtype == np.float32 and np.isfinite(ds.data).all()
    assert grays.names == [structure_name(s) for s in STRUCTURES]
    with np.load(shared_data / "surfaces" / "fslr32k" / "fMRI_vertex_info_32k.npz") as info:
        for name, key in (("CORTEX_LEFT", "grayl"), ("CORTEX_RIGHT", "grayr")):
            model = grays.model(name)
            assert model.n_vertices == 32492
            np.testing.assert_array_equal(model.vertices, info[key])
    shape, affine = grid(2)  # the volume grid of a 91k file: MNI152 2 mm, LAS, origin (90, -126, -72)
    assert grays.volume_shape == shape
    np.testing.assert_allclose(grays.affine, affine)
    assert grays.model("CORTEX_LEFT").columns == slice(0, 29696)
    assert grays.voxel_columns.tolist() == list(range(N_CORTEX, N_CORTEX + N_SUBCORTEX))


def test_voxels_are_the_harvard_oxford_structures_in_workbench_order(sim, shared_data):
    from ketamine_fc.atlases.tables import harvard_oxford_labels

    img = nb.load(shared_data / "atlases" / "harvard_oxford_sub" / "HarvardOxford-sub-maxprob-thr25-2mm.nii.gz")
    ho = np.rint(np.asarray(img.dataobj)).astype(int)
    index = dict(zip(harvard_oxford_labels()["name"], harvard_oxford_labels()["index"]))
    grays = read_dtseries(sim["dtseries"][0]).grayordinates
    for name, structure in cifti.HO_TO_CIFTI.items():
        ijk = grays.model(structure).ijk
        assert (ho[tuple(ijk.T)] == index[name]).all()
        assert len(ijk) == (ho == index[name]).sum()  # every voxel of the label, once
        flat = np.ravel_multi_index(tuple(ijk.T), ho.shape, order="F")
        assert (np.diff(flat) > 0).all()  # i fastest, then j, then k, as wb_command -cifti-create-* writes them


def test_regions_are_those_the_surface_path_builds_from_the_file(sim, atlas_dir):
    from ketamine_fc.atlases.surface import load_cifti_atlas

    path = sim["dtseries"][0]
    pipeline = load_cifti_atlas(path, atlas_dir)  # what the participant level's BuildCiftiAtlas does
    scene = cifti.scene(4, atlas_dir)
    np.testing.assert_array_equal(scene.labels[: scene.n_grayordinates], pipeline.labels)
    table = pipeline.table.set_index("label")
    grays = pipeline.grayordinates
    # the limbic whole structures take their CIFTI structure; the antero-medial thalamus spheres stay inside it
    for label, structure in (("Seitzman_244", "AMYGDALA_LEFT"), ("Seitzman_246", "ACCUMBENS_RIGHT"),
                             ("Seitzman_263", "THALAMUS_LEFT")):
        cols = np.flatnonzero(pipeline.labels == table.loc[label, "index"])
        model = grays.model(structure)
        assert cols.size >= 3 and ((cols >= model.columns.start) & (cols < model.columns.stop)).all()
    hippocampus = (pipeline.labels == table.loc["Seitzman_236", "index"]) | (
        pipeline.labels == table.loc["Seitzman_238", "index"])
    assert hippocampus.sum() == grays.model("HIPPOCAMPUS_LEFT").size
    # what is missing: the cerebellar Seitzman ROIs (Harvard-Oxford has no cerebellum), nothing else
    missing = table.index[table["missing"]]
    assert len(missing) and set(table.loc[missing, "structure"]) == {"cerebellum"}
    limbic = table[table["limbic_role"].fillna("").astype(str).str.len() > 0]
    assert len(limbic) == 10 and not limbic["missing"].any()


def test_confounds_from_the_unwritten_volume_are_usable(sim):
    from ketamine_fc.core.confounds import read_confounds, select_nuisance

    spikes = pd.read_csv(sim["bids"] / "derivatives" / "simulation_spikes.tsv", sep="\t")
    for path in sorted(sim["fmriprep"].rglob("*_desc-confounds_timeseries.tsv")):
        conf = read_confounds(path)
        assert len(conf) == N_FRAMES
        for strategy in ("36P", "24P", "27P", "acompcor"):
            assert select_nuisance(conf, strategy, path).notna().all().all()
        sub, ses = path.name.split("_")[:2]
        planted = spikes.query("participant_id == @sub and session_id == @ses")["frame"].tolist()
        assert np.flatnonzero(conf["framewise_displacement"].to_numpy() > 0.2).tolist() == sorted(planted)
        meta = json.loads(path.with_suffix(".json").read_text())
        assert meta["w_comp_cor_00"]["Mask"] == "WM" and meta["c_comp_cor_00"]["Mask"] == "CSF"


def test_derivatives_index_with_pybids(sim):
    from bids import BIDSLayout

    layout = BIDSLayout(str(sim["bids"]), validate=True, derivatives=True)
    found = layout.get(subject="P01", session="pre1", task="rest", run=1, space="fsLR", den="91k", suffix="bold",
                       extension=".dtseries.nii", scope="derivatives", return_type="filename")
    assert len(found) == 1 and layout.get_metadata(found[0])["RepetitionTime"] == TR


def test_same_seed_same_bytes_whatever_the_number_of_processes(sim):
    a, b = sim["bids"], sim["copy"]
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert not list(a.rglob("*.part*"))  # atomic writes leave no temporary file


def test_unknown_space_is_a_one_line_error(tmp_path, capsys):
    from ketamine_fc.errors import InputError
    from ketamine_fc.simulate.writer import simulate_study

    with pytest.raises(InputError, match="--space"):
        simulate_study(tmp_path / "x", space="fsaverage")
    with pytest.raises(SystemExit):
        main([str(tmp_path / "y"), "--space", "fsaverage"])
    assert "fsLR" in capsys.readouterr().err


# --------------------------------------------------------------------------- the planted FC in the grayordinates
PLANTED = {"dmn": 0.5, "sgacc_dmn": 0.3, "limbic": 0.45, "visual": 0.45, "limbic_dmn_subnetwork": 0.2}
LONG = 360


@pytest.fixture(scope="module")
def long_run(tmp_path_factory, atlas_dir):
    """One long noise-light run (no global or white-matter fluctuation, no motion bursts) written and read back."""
    from ketamine_fc.core.cifti import parcel_means, parcel_means_matrix
    from ketamine_fc.core.networks import network_sets

    scene = cifti.scene(4, atlas_dir)
    sets = network_sets(scene.table, sgacc="core")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bold, "GLOBAL_SD", 0.0)
        mp.setattr(bold, "WM_SD", 0.0)
        data, _, _ = bold.simulate_bold(np.random.default_rng(11), scene.labels, scene.table, sets, PLANTED,
                                        tissue=scene.tissue, n_frames=LONG, tr=2.0, n_bursts=0)
    path = tmp_path_factory.mktemp("long") / "long_space-fsLR_den-91k_bold.dtseries.nii"
    cifti.write_dtseries_atomic(path, data[:, : scene.n_grayordinates], scene.grayordinates, 2.0)
    del data
    ds = read_dtseries(path)
    table = scene.table[~scene.table["missing"]].reset_index(drop=True)
    x = parcel_means(ds.data, parcel_means_matrix(scene.labels[: scene.n_grayordinates], table["index"]))[2:]
    t = np.arange(len(x)) / len(x)  # the scanner drift: a line and one slow cycle over the run
    basis = np.column_stack([np.ones_like(t), t, np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)])
    x = x - basis @ np.linalg.lstsq(basis, x, rcond=None)[0]
    return {"z": np.arctanh(np.clip(np.corrcoef(x.T), -0.999, 0.999)), "table": table, "sets": sets}


def test_planted_network_fc_is_in_the_parcel_means_of_the_dtseries(long_run):
    from ketamine_fc.core.networks import network_measures

    measured = network_measures(long_run["z"], long_run["table"]["index"].to_numpy(), long_run["sets"])
    for name in ("dmn", "sgacc_dmn", "limbic", "visual"):
        assert measured[name] == pytest.approx(PLANTED[name], abs=0.06), (name, measured[name])


def test_limbic_dmn_subnetwork_is_in_the_parcel_means_of_the_dtseries(long_run):
    from ketamine_fc.simulate.design import subnetwork_sets

    pos = {int(i): k for k, i in enumerate(long_run["table"]["index"])}
    members = subnetwork_sets(long_run["sets"])
    limbic = [pos[i] for i in members["limbic"]]
    sub_dmn = [pos[i] for i in members["dmn"]]
    other_dmn = [pos[i] for i in long_run["sets"]["dmn"] if i not in members["dmn"] and i not in
                 long_run["sets"]["sgacc"]]
    z = long_run["z"]
    assert len(limbic) == 10 and len(sub_dmn) == 8
    planted, control = z[np.ix_(limbic, sub_dmn)].mean(), z[np.ix_(limbic, other_dmn)].mean()
    assert planted == pytest.approx(PLANTED["limbic_dmn_subnetwork"], abs=0.06)
    # no coupling planted with the other DMN parcels: only the sampling correlation of the band-limited limbic and
    # DMN signals over one run (a few tens of degrees of freedom), which both kinds of edges share
    assert abs(control) < 0.1
    assert planted - control == pytest.approx(PLANTED["limbic_dmn_subnetwork"], abs=0.06)
