"""Atlases as data: the paper's atlas is a composition of described entries, and a further atlas is a description
plus its files, with no code change (issue 10, part 5)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from ketamine_fc.atlases import load_atlas, region_table
from ketamine_fc.atlases.build import resolve_build_files
from ketamine_fc.atlases.descriptions import (DEFAULT_ATLAS, ENV_ATLASES, available, components, describe,
                                              network_spec, output_name, sgacc_for, sidecar_description)
from ketamine_fc.atlases.registry import sha256
from ketamine_fc.core.networks import PAPER_SPEC, label_to_index, network_sets
from ketamine_fc.core.session import session_connectivity
from ketamine_fc.errors import AtlasError

NAME = "Toy6"
#: the toy atlas: own index -> (box in 3 mm voxels of its image, hemisphere, network as its table spells it)
PARCELS = {10: ((26, 30), "L", "DefaultMode"), 20: ((32, 36), "R", "DefaultMode"), 30: ((20, 24), "L", "Vis"),
           40: ((38, 42), "R", "Vis"), 50: ((14, 18), "L", "Motor"), 60: ((44, 48), "R", "Motor")}
TOY_AFFINE = np.array([[3.0, 0, 0, -90], [0, 3, 0, -126], [0, 0, 3, -72], [0, 0, 0, 1]])
DESCRIPTION = """\
title = "six boxes, to show that an atlas is data"
label_prefix = "Toy"
structure = "cortex"

[files.MNI152NLin6Asym]
3mm = {{path = "toy/tpl-MNI152NLin6Asym_atlas-Toy6_res-03_dseg.nii.gz"}}

[table]
file = {{path = "toy/atlas-Toy6_dseg.tsv", sha256 = "{sha}"}}
index = "parcel"
network = "net"
hemisphere = "hemi"
network_names = {{DefaultMode = "Default"}}

[networks]
dmn = ["Default"]
visual = ["Vis"]

[sgacc]
core = [10]
extended = [10, 50]

[roles.limbic]
50 = "limbic_toy_L"
60 = "limbic_toy_R"
"""


def _toy_atlas(folder):
    """The toy atlas's files (a 3 mm label image, its label table) and its description, under ``folder``."""
    labels = np.zeros((61, 73, 61), dtype=np.int16)
    for index, ((i0, i1), _, _) in PARCELS.items():
        labels[i0:i1, 40:44, 30:34] = index
    (folder / "toy").mkdir(parents=True)
    nb.Nifti1Image(labels, TOY_AFFINE).to_filename(folder / "toy" / "tpl-MNI152NLin6Asym_atlas-Toy6_res-03_dseg.nii.gz")
    table = pd.DataFrame({"parcel": list(PARCELS), "name": [f"box{i}" for i in PARCELS],
                          "hemi": [h for _, h, _ in PARCELS.values()], "net": [n for _, _, n in PARCELS.values()]})
    table.to_csv(folder / "toy" / "atlas-Toy6_dseg.tsv", sep="\t", index=False)
    (folder / f"{NAME}.atlas.toml").write_text(DESCRIPTION.format(sha=sha256(folder / "toy" / "atlas-Toy6_dseg.tsv")))
    return folder


@pytest.fixture
def toy_dir(tmp_path):
    return _toy_atlas(tmp_path / "toy_atlases")


def _grid(shape=(56, 20, 14), voxel=2.0, origin=(-52.0, -12.0, 10.0)):
    """A small 2 mm grid holding every toy parcel (another grid than the atlas's)."""
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = origin
    return nb.Nifti1Image(np.ones(shape, dtype=np.uint8), affine)


def test_the_paper_atlas_is_a_composition_of_described_entries():
    assert [c.key for c in components(DEFAULT_ATLAS)] == ["gordon333", "seitzman300"]
    assert output_name() == DEFAULT_ATLAS == "GordonSeitzman"
    assert network_spec() == PAPER_SPEC  # the sets core falls back to are the description's
    table = region_table()
    assert table.groupby("atlas", sort=False).size().to_dict() == {"Gordon333": 333, "Seitzman300": 61}
    assert set(table.loc[table["limbic_role"] != "", "index"] - 1000) == set(describe("seitzman300").roles("limbic"))
    assert sidecar_description(cifti=False).startswith("Gordon 333 cortical parcels plus Seitzman 300")
    with pytest.raises(AtlasError, match="no atlas is described as 'Schaefer400'.*GordonSeitzman"):
        describe("Schaefer400")


def test_a_further_atlas_is_a_description_plus_files(toy_dir, tmp_path, monkeypatch):
    # found through --atlas-dir ...
    assert NAME in available(toy_dir) and describe(NAME, toy_dir).folder == toy_dir
    # ... or through $KETAMINE_FC_ATLASES
    monkeypatch.setenv(ENV_ATLASES, str(toy_dir))
    assert NAME in available()
    files = resolve_build_files(toy_dir, atlas=NAME)
    assert sorted(p.name for p in files.values()) == ["atlas-Toy6_dseg.tsv",
                                                      "tpl-MNI152NLin6Asym_atlas-Toy6_res-03_dseg.nii.gz"]

    table = region_table(toy_dir, NAME)
    assert table["label"].tolist() == [f"Toy_{i}" for i in PARCELS]
    assert table["index"].tolist() == list(PARCELS)
    assert table["network"].tolist() == ["Default", "Default", "Vis", "Vis", "Motor", "Motor"]
    assert (table["atlas"] == NAME).all() and (table["structure"] == "cortex").all()
    assert table["hemisphere"].tolist() == [h for _, h, _ in PARCELS.values()]
    assert table["limbic_role"].tolist() == ["", "", "", "", "limbic_toy_L", "limbic_toy_R"]

    # the label image, resampled to another grid
    grid = _grid()
    atlas = load_atlas(grid, toy_dir, atlas=NAME)
    assert set(np.unique(atlas.data)) == {0, *PARCELS}
    assert (atlas.table["n_voxels"] == 6 * 6 * 6).all() and not atlas.missing.any()  # 4 x 3 mm = 12 mm = 6 x 2 mm
    centre = atlas.dseg.affine @ np.r_[np.argwhere(atlas.data == 10).mean(axis=0), 1]
    np.testing.assert_allclose(centre[:3], TOY_AFFINE[:3, :3] @ [27.5, 41.5, 31.5] + TOY_AFFINE[:3, 3], atol=1.5)

    # the network sets and label prefixes come from the description
    spec = network_spec(NAME, toy_dir)
    assert spec["prefixes"] == {"Toy": 0}
    assert network_sets(atlas.table, "core", spec) == {"dmn": [10, 20], "sgacc": [10], "limbic": [50, 60],
                                                       "visual": [30, 40]}
    assert network_sets(atlas.table, "extended", spec)["sgacc"] == [10, 50]
    with pytest.raises(ValueError, match="Toy6 parcel ids 10-60"):
        network_sets(atlas.table, [11], spec)
    assert label_to_index("Toy_30", spec["prefixes"]) == 30
    # --sgacc is read before the atlas: the paper's preset values stand for the atlas's preset of the same name
    assert sgacc_for(NAME, (123, 280, 286), toy_dir) == "core"
    assert sgacc_for(NAME, (10, 50), toy_dir) == [10, 50]
    assert sgacc_for(DEFAULT_ATLAS, (280, 123)) == [123, 280]
    assert output_name(NAME, toy_dir) == NAME


def test_a_further_atlas_through_extraction_and_network_measures(toy_dir, tmp_path, rng):
    """Region means of a BOLD on the toy atlas, then the session's network measures: DMN and visual sets of the
    description share a signal each, so their within-set FC is high."""
    from ketamine_fc.utils.signals import extract_volume

    grid = _grid()
    atlas = load_atlas(grid, toy_dir, atlas=NAME)
    n = 120
    shared = {"Default": rng.standard_normal(n), "Vis": rng.standard_normal(n)}
    bold = 100 + rng.standard_normal((*grid.shape, n)).astype(np.float32)
    for index, network in zip(atlas.table["index"], atlas.table["network"]):
        if network in shared:
            bold[atlas.data == index] += 3 * shared[network]
    paths = {k: tmp_path / f"{k}.nii.gz" for k in ("bold", "mask", "dseg")}
    nb.Nifti1Image(bold, grid.affine).to_filename(paths["bold"])
    grid.to_filename(paths["mask"])
    atlas.dseg.to_filename(paths["dseg"])
    signals = extract_volume(paths["bold"], paths["mask"], paths["dseg"], atlas.table, tr=2.0)
    assert signals.region_means.shape == (n, len(PARCELS)) and signals.n_sub == 0  # all cortex: no cleanup voxels

    ts = pd.DataFrame(signals.region_means, columns=atlas.labels)
    qc = {"problems": [], "mean_fd": 0.1, "n_frames": n, "n_dummy": 0}
    out = session_connectivity([ts], [qc], atlas.table, sgacc="core", min_frames=10,
                               network_spec=network_spec(NAME, toy_dir))
    m = out["measures"]
    assert m["dmn"] > 1 and m["visual"] > 1 and m["n_pairs_dmn"] == 1 and m["n_pairs_visual"] == 1
    assert abs(m["limbic"]) < 0.5 and m["n_pairs_sgacc_dmn"] == 1 and m["included"]
    assert out["limbic_z"].columns.tolist() == ["Toy_50", "Toy_60"]


def test_the_atlas_option_names_the_outputs(toy_dir, tmp_path):
    from ketamine_fc.cli.parser import parse_args
    from ketamine_fc.interfaces.bids import WriteAtlas
    from ketamine_fc.workflows.outputs import session_output

    settings = parse_args([str(tmp_path), str(tmp_path / "out"), "participant", "--atlas", NAME,
                           "--atlas-dir", str(toy_dir)])
    assert settings.atlas.atlas == NAME and "atlas" not in settings.parameters()  # named in every file instead
    assert parse_args([str(tmp_path), str(tmp_path / "out"), "participant"]).atlas.atlas == DEFAULT_ATLAS
    ents = {"subject": "01", "session": "pre1", "task": "rest"}
    assert session_output(tmp_path, ents, "MNI152NLin6Asym", "measures", NAME).name == (
        "sub-01_ses-pre1_task-rest_space-MNI152NLin6Asym_seg-Toy6_desc-network_measures.tsv")
    assert "seg-GordonSeitzman" in session_output(tmp_path, ents, "MNI152NLin6Asym", "measures").name

    atlas = load_atlas(_grid(), toy_dir, atlas=NAME)
    atlas.dseg.to_filename(tmp_path / "dseg.nii.gz")
    atlas.table.to_csv(tmp_path / "dseg.tsv", sep="\t", index=False)
    node = WriteAtlas(dseg=str(tmp_path / "dseg.nii.gz"), table=str(tmp_path / "dseg.tsv"),
                      output_dir=str(tmp_path / "out"), space="MNI152NLin6Asym", res="2", atlas=NAME,
                      atlas_dir=str(toy_dir))
    result = node.run(cwd=str(tmp_path))
    assert result.outputs.dseg.endswith("atlases/atlas-Toy6_space-MNI152NLin6Asym_res-2_dseg.nii.gz")
    meta = json.loads((tmp_path / "out" / "atlases" / "atlas-Toy6_space-MNI152NLin6Asym_res-2_dseg.json").read_text())
    assert meta["Description"].startswith("six boxes, to show that an atlas is data resampled to the BOLD grid")
    # the files it was built from, each with the sha256 of its bytes
    files = {Path(f["File"]).name: f["Sha256"] for f in meta["AtlasFiles"]}
    assert files == {name: hashlib.sha256((toy_dir / "toy" / name).read_bytes()).hexdigest() for name in
                     ("tpl-MNI152NLin6Asym_atlas-Toy6_res-03_dseg.nii.gz", "atlas-Toy6_dseg.tsv")}
