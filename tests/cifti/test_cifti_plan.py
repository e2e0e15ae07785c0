"""--space fsLR: the setting, and the plan that finds each run's dtseries, its confounds and the surfaces to use."""

from __future__ import annotations

import numpy as np
import pytest
from cifti_builder import make_cifti_dataset

from ketamine_fc.cli.parser import parse_args
from ketamine_fc.cli.run import main
from ketamine_fc.config import dump_toml, load_toml, replace
from ketamine_fc.plan import plan_participants
from ketamine_fc.utils.cifti_io import make_grayordinates

N_FRAMES = 40
RUN = "ses-pre1_task-rest_run-1"


def test_space_fslr_is_the_91k_grayordinates(tmp_path):
    base = [str(tmp_path), str(tmp_path / "out"), "participant"]
    for value in ("fsLR", "fsLR:den-91k"):
        s = parse_args(base + ["--space", value])
        assert s.space == "fsLR" and s.surface and s.den == "91k" and s.res is None and s.template == "fsLR"
        assert s.template_mismatch is None
    volume = parse_args(base + ["--space", "MNI152NLin6Asym:res-2"])
    assert not volume.surface and volume.den is None and volume.res == "2"
    with pytest.raises(SystemExit):
        parse_args(base + ["--space", "fsLR:den-170k"])
    toml = tmp_path / "c.toml"
    toml.write_text(dump_toml(parse_args(base + ["--space", "fsLR"])))
    assert load_toml(toml)["space"] == "fsLR"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, shared_data, grays91k, ho2mm):
    """Six participants of one run each: surfaces in MNI space, none, in a T1w-like place; a run without its
    dtseries; a dtseries on another mesh; a dtseries without subcortical voxels."""
    labels, affine = ho2mm
    thalamus = np.argwhere(labels == 4)
    wrong_mesh = make_grayordinates([("CORTEX_LEFT", np.arange(400), 40962), ("CORTEX_RIGHT", np.arange(400), 40962)],
                                    [("THALAMUS_LEFT", thalamus)], affine=affine, volume_shape=labels.shape)
    cortex_only = make_grayordinates([(m.name, m.vertices, m.n_vertices) for m in grays91k.models if m.is_surface])
    root = tmp_path_factory.mktemp("cifti_plan")
    design = {s: {"pre1": [[]]} for s in ("01", "02", "03", "04", "05", "06")}
    info = make_cifti_dataset(root / "bids", shared_data, grays91k, design, n_frames=N_FRAMES, seed=2,
                              surfaces={"01": 0.0, "03": 40.0}, missing_dtseries=(f"sub-04_{RUN}",),
                              grays_of={f"sub-05_{RUN}": wrong_mesh, f"sub-06_{RUN}": cortex_only})
    settings = parse_args([str(root / "bids"), str(root / "out"), "participant", "--space", "fsLR",
                           "--min-frames", "10", "-w", str(root / "work")])
    return {"root": root, "settings": settings, "plan": plan_participants(settings), **info}


def _problems(plan, subject):
    return [p for p in plan.problems if p.subject == subject]


def test_the_plan_records_cifti_runs(dataset):
    plan = dataset["plan"]
    runs = {r.subject: r for r in plan.runs}
    assert sorted(runs) == ["01", "02", "03"]
    for run in runs.values():
        assert run.cifti and run.kind == "cifti" and run.space == "fsLR" and run.den == "91k"
        assert run.spatial == {"space": "fsLR", "den": "91k"}
        assert run.bold.endswith(f"sub-{run.subject}_{RUN}_space-fsLR_den-91k_bold.dtseries.nii")
        assert run.confounds.endswith(f"sub-{run.subject}_{RUN}_desc-confounds_timeseries.tsv")
        assert run.n_frames == N_FRAMES and run.tr == 2.0 and run.mask == ""
        assert run.grid[0] == "cifti" and run.grid[1] == 72262
    assert len({r.grid for r in runs.values()}) == 1  # one atlas serves every run on the same grayordinates


def test_the_participants_own_surfaces_only_when_in_the_voxels_space(dataset):
    runs = {r.subject: r for r in dataset["plan"].runs}
    anat = dataset["fmriprep"] / "sub-01" / "anat"
    assert runs["01"].surfaces == {h: str(anat / f"sub-01_hemi-{h}_space-fsLR_den-32k_midthickness.surf.gii")
                                   for h in "LR"}
    assert not runs["01"].surface_note
    assert runs["02"].surfaces == {} and not runs["02"].surface_note  # none found: the group average
    assert runs["03"].surfaces == {}
    assert "median 40.0 mm" in runs["03"].surface_note and "group-average surfaces were used" in runs["03"].surface_note


def test_a_run_without_its_dtseries_is_named_with_the_file_expected(dataset):
    (problem,) = _problems(dataset["plan"], "04")
    assert problem.run == f"sub-04_{RUN}"
    assert f"sub-04_{RUN}_space-fsLR_den-91k_bold.dtseries.nii" in problem.message
    assert "--cifti-output 91k" in problem.message


def test_a_dtseries_on_another_grid_is_refused_by_the_plan(dataset):
    (mesh,) = _problems(dataset["plan"], "05")
    assert f"sub-05_{RUN}_space-fsLR_den-91k_bold.dtseries.nii" in mesh.message
    assert "40962 vertices, not the 32492 of fs_LR 32k" in mesh.message
    (no_voxels,) = _problems(dataset["plan"], "06")
    assert "no subcortical voxels" in no_voxels.message and f"sub-06_{RUN}" in no_voxels.message


def test_the_cli_stops_before_running_and_names_the_missing_file(dataset):
    root = dataset["root"]
    code = main([str(root / "bids"), str(root / "out_missing"), "participant", "--space", "fsLR",
                 "--participant-label", "04", "-w", str(root / "work_missing")])
    assert code == 1
    (log,) = (root / "out_missing" / "logs").glob("*.log")
    text = log.read_text()
    assert f"sub-04_{RUN}_space-fsLR_den-91k_bold.dtseries.nii" in text and "No session can be processed" in text
    assert not list((root / "out_missing").glob("sub-*"))


def test_the_volume_space_does_not_see_the_cifti_runs(dataset):
    plan = plan_participants(replace(dataset["settings"], space="MNI152NLin6Asym"))
    assert not plan.runs and all("no preprocessed 'rest' BOLD in space MNI152NLin6Asym" in p.message
                                 for p in plan.problems)
