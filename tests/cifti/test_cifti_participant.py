"""End to end on fMRIPrep-style CIFTI: ``ketamine-fc BIDS OUT participant --space fsLR``.

A 91k-shaped dense time series per run (the fs_LR 32k cortex and 15 Harvard-Oxford structures at 2 mm) with the
DMN parcels sharing one signal and the limbic structures another. Checked: the outputs are the kinds a volume
run writes, named ``space-fsLR_den-91k``; the sidecars name the surfaces used; the planted networks come back;
and with cleaning off the cortical parcel series are Workbench's ``-cifti-parcellate`` to 5e-5.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import nibabel as nb
import numpy as np
import pytest
from cifti_builder import GORDON_DLABEL, make_cifti_dataset

from ketamine_fc.atlases.registry import sha256
from ketamine_fc.cli.run import main
from ketamine_fc.core.extraction import ExtractedSignals
from ketamine_fc.utils.derivatives import read_tsv

pytestmark = pytest.mark.slow

N_FRAMES = 64
DESIGN = {"01": {"pre1": [[20], []]}, "02": {"post": [[]]}}
SPATIAL = ("space", "den", "res", "cohort")
WB = shutil.which("wb_command")


def _kinds(out: Path) -> set:
    """Every participant output by kind: its entities other than the run, session and spatial ones, its suffix
    and extension (``seg-GordonSeitzman_stat-mean_timeseries.tsv``)."""
    kinds = set()
    for path in out.glob("sub-*/**/*"):
        if path.is_file():
            parts = path.name.split("_")
            kinds.add("_".join(p for p in parts if p.split("-")[0] not in ("sub", "ses", "task", "run", *SPATIAL)))
    return kinds


@pytest.fixture(scope="module")
def cifti_run(tmp_path_factory, shared_data, grays91k):
    root = tmp_path_factory.mktemp("cifti_e2e")
    info = make_cifti_dataset(root / "bids", shared_data, grays91k, DESIGN, n_frames=N_FRAMES, seed=7,
                              surfaces={"01": 0.0, "02": 40.0})
    code = main([str(root / "bids"), str(root / "out"), "participant", "--space", "fsLR", "-w", str(root / "work"),
                 "--min-frames", "30", "--nprocs", "2"])
    return {"code": code, "root": root, "out": root / "out", **info}


@pytest.fixture(scope="module")
def volume_kinds(tmp_path_factory, shared_data):
    """The kinds of output of a volume run of one session (the participant-level tests' builder, few frames)."""
    spec = importlib.util.spec_from_file_location("participant_builder",
                                                  Path(__file__).parents[1] / "participant" / "builder.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    root = tmp_path_factory.mktemp("volume_kinds")
    builder.make_dataset(root / "bids", shared_data, {"01": {"pre1": [[20]]}}, seed=1, n_frames=N_FRAMES)
    code = main([str(root / "bids"), str(root / "out"), "participant", "-w", str(root / "work"), "--min-frames",
                 "30"])
    assert code == 0
    return _kinds(root / "out"), {p.name.split("_dseg")[1] for p in (root / "out" / "atlases").iterdir()}


def func(run, sub, ses):
    return run["out"] / f"sub-{sub}" / f"ses-{ses}" / "func"


def test_the_outputs_are_those_of_a_volume_run(cifti_run, volume_kinds):
    assert cifti_run["code"] == 0
    kinds, atlas_files = volume_kinds
    assert _kinds(cifti_run["out"]) == kinds
    assert {p.name.split("_dseg")[1] for p in (cifti_run["out"] / "atlases").iterdir()} == (
        {".dlabel.nii" if ext == ".nii.gz" else ext for ext in atlas_files})
    for sub in DESIGN:
        assert (cifti_run["out"] / f"sub-{sub}.html").is_file()


def test_names_carry_the_fslr_91k_space(cifti_run):
    files = [p for p in cifti_run["out"].glob("sub-*/**/*") if p.is_file()]
    spatial = [p for p in files if "_seg-GordonSeitzman_" in p.name]
    assert len(spatial) == 2 * (3 * 2 + 2 * 4)  # 3 runs x (time series, region QC), 2 sessions x 4; with sidecars
    assert all("_space-fsLR_den-91k_seg-GordonSeitzman_" in p.name for p in spatial)
    assert not any("MNI152" in p.name or "_res-" in p.name for p in files)
    assert all("_space-" not in p.name for p in files if p.name.endswith(("_outliers.tsv", "_qc.tsv"))
               and "regions" not in p.name)
    (atlas,) = (cifti_run["out"] / "atlases").glob("*.dlabel.nii")
    assert atlas.name == "atlas-GordonSeitzman_space-fsLR_den-91k_dseg.dlabel.nii"


def test_the_sidecars_name_the_surfaces_used(cifti_run):
    anat = cifti_run["fmriprep"] / "sub-01" / "anat"
    for path in sorted(cifti_run["out"].glob("sub-*/**/*.json")):
        meta = json.loads(path.read_text())
        surfaces = meta["Surfaces"]
        assert meta["Parameters"]["space"] == "fsLR" and "adjacent-cortex regression" in surfaces["UsedFor"]
        if path.name.startswith("sub-01"):
            assert surfaces["Source"] == "participant" and "Note" not in surfaces
            for hemi in "LR":
                own = anat / f"sub-01_hemi-{hemi}_space-fsLR_den-32k_midthickness.surf.gii"
                assert surfaces[hemi] == {"Path": str(own), "Sha256": sha256(own)}
        else:
            assert surfaces["Source"] == "fs_LR 32k S1200 group average"
            assert surfaces["L"]["Path"].endswith("S1200.L.midthickness_MSMAll.32k_fs_LR.surf.gii")
            assert "median 40.0 mm" in surfaces["Note"]
    ts = json.loads((func(cifti_run, "01", "pre1") / "sub-01_ses-pre1_task-rest_run-1_space-fsLR_den-91k_seg-"
                     "GordonSeitzman_stat-mean_timeseries.json").read_text())
    assert any(s.endswith("_space-fsLR_den-91k_bold.dtseries.nii") for s in ts["Sources"])
    assert any(s.endswith("_hemi-L_space-fsLR_den-32k_midthickness.surf.gii") for s in ts["Sources"])


def test_planted_networks_come_back(cifti_run):
    for sub, ses in (("01", "pre1"), ("02", "post")):
        measures = read_tsv(func(cifti_run, sub, ses) /
                            f"sub-{sub}_ses-{ses}_task-rest_space-fsLR_den-91k_seg-GordonSeitzman_desc-network_"
                            "measures.tsv").iloc[0]
        assert measures["dmn"] > 0.5 and measures["limbic"] > 0.5 and abs(measures["visual"]) < 0.3
        assert bool(measures["included"])
    run1 = read_tsv(func(cifti_run, "01", "pre1") / "sub-01_ses-pre1_task-rest_run-1_outliers.tsv")
    assert {20, 21} >= set(np.flatnonzero(run1["retained"].to_numpy() == 0)) >= {20}


def test_the_report_draws_the_parcels_on_the_surface(cifti_run):
    import html as html_lib

    html = html_lib.unescape((cifti_run["out"] / "sub-01.html").read_text())
    assert "cortical parcels on the participant's fs_LR 32k midthickness surfaces" in html
    assert html.count("data:image/png;base64,") >= 2 * 2 + 1  # per run: carpets and surfaces; the session matrix
    assert "No atlas figure" not in html
    assert "fs_LR 32k S1200 group average midthickness" in (cifti_run["out"] / "sub-02.html").read_text()


def _wb_parcellate(dtseries, dlabel, folder):
    """Parcel ids and (T, 333) means of Workbench's ``-cifti-parcellate ... -method MEAN``."""
    out = folder / "wb.ptseries.nii"
    done = subprocess.run([WB, "-cifti-parcellate", str(dtseries), str(dlabel), "COLUMN", str(out),
                           "-method", "MEAN"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    img = nb.load(out)
    ids = [int(re.fullmatch(r"Parcel_(\d+)", n).group(1)) for n in img.header.get_axis(1).name]
    return ids, np.asarray(img.dataobj, dtype=np.float64)


@pytest.mark.skipif(WB is None, reason="Connectome Workbench's wb_command is not installed (Debian package "
                                       "connectome-workbench; CI installs it)")
def test_with_cleaning_off_the_cortex_is_workbench_parcellate(cifti_run, shared_data):
    root = cifti_run["root"]
    code = main([str(root / "bids"), str(root / "out_raw"), "participant", "--space", "fsLR", "--participant-label",
                 "02", "-w", str(root / "work_raw"), "--min-frames", "30", "--nuisance-regressors", "none",
                 "--disable-bandpass-filter", "--no-detrend", "--no-subcortical-cleanup", "--fd-thresh", "0"])
    assert code == 0
    dtseries = cifti_run["bolds"]["sub-02_ses-post_task-rest_run-1"]
    ids, wb = _wb_parcellate(dtseries, shared_data / GORDON_DLABEL, root)
    assert len(ids) == 333
    scale = np.max(np.abs(wb))
    # what the read handed on: the raw parcel means
    (signals,) = (root / "work_raw").rglob("extract_signals/signals.npz")
    raw = ExtractedSignals.load(signals)
    column = {int(i): k for k, i in enumerate(raw.region_index)}
    ours = raw.region_means[:, [column[i] for i in ids]]
    assert np.max(np.abs(ours - wb)) / scale <= 5e-5
    # what was written: the same series with only the mean removed (no regressors, no trend, no filter)
    ts = read_tsv(root / "out_raw" / "sub-02" / "ses-post" / "func" /
                  "sub-02_ses-post_task-rest_run-1_space-fsLR_den-91k_seg-GordonSeitzman_stat-mean_timeseries.tsv")
    assert len(ts) == N_FRAMES
    written = ts[[f"Gordon_{i}" for i in ids]].to_numpy(dtype=float)
    assert np.max(np.abs(written - (wb - wb.mean(axis=0)))) / scale <= 5e-5
    meta = json.loads((root / "out_raw" / "sub-02" / "ses-post" / "func" / "sub-02_ses-post_task-rest_run-1_space-"
                       "fsLR_den-91k_seg-GordonSeitzman_stat-mean_timeseries.json").read_text())
    assert meta["Surfaces"].startswith("none used")
