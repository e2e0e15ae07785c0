"""Graph build for CIFTI runs: the plan's kind of run picks the reader and the atlas; the rest is wired as for volumes."""

from pathlib import Path

from ketamine_fc.config import DenoiseParams, Settings
from ketamine_fc.interfaces.atlas import BuildCiftiAtlas
from ketamine_fc.interfaces.signals import ExtractCiftiSignals
from ketamine_fc.plan import ParticipantPlan, SessionPlan
from ketamine_fc.utils.bids import RunInputs
from ketamine_fc.workflows.base import init_ketamine_fc_wf
from ketamine_fc.workflows.bold import init_bold_wf

GRID = ("cifti", 91282, "0123456789ab")


def _run(sub, ses, run, surfaces=None):
    entities = {"subject": sub, "session": ses, "task": "rest", "run": run}
    stem = f"/d/sub-{sub}_ses-{ses}_task-rest_run-{run}"
    return RunInputs(entities, f"{stem}_space-fsLR_den-91k_bold.dtseries.nii", "", f"{stem}_desc-confounds_timeseries.tsv",
                     tr=0.8, n_frames=700, space="fsLR", grid=GRID, kind="cifti", den="91k", surfaces=surfaces or {})


def _nodes(settings, runs):
    sessions = {}
    for run in runs:
        sessions.setdefault((run.subject, run.session), []).append(run)
    wf = init_ketamine_fc_wf(settings, ParticipantPlan([SessionPlan(s, t, r, 100) for (s, t), r in sessions.items()]))
    wf._create_flat_graph()
    return list(wf._get_all_nodes())


def test_cifti_runs_get_the_cifti_reader_and_atlas(tmp_path):
    own = {h: str(tmp_path / f"sub-01_hemi-{h}_space-fsLR_den-32k_midthickness.surf.gii") for h in "LR"}
    for path in own.values():
        Path(path).write_bytes(b"a surface")  # the sidecar records its sha256
    settings = Settings(bids_dir=tmp_path, output_dir=tmp_path / "out", analysis_level="participant", space="fsLR",
                        denoise=DenoiseParams(adjacent_cortex_mm=15.0))
    nodes = _nodes(settings, [_run("01", "pre1", "1", own), _run("01", "pre1", "2", own), _run("02", "post", "1")])
    extract = [n for n in nodes if n.name == "extract_signals"]
    assert len(extract) == 3 and all(isinstance(n.interface, ExtractCiftiSignals) for n in extract)
    assert all(n.inputs.adjacent_cortex_mm == 15.0 for n in extract)
    atlases = [n for n in nodes if n.name == "build_atlas"]
    assert len(atlases) == 2 and all(isinstance(n.interface, BuildCiftiAtlas) for n in atlases)
    sinks = [n for n in nodes if n.name == "ds_outputs"]
    for sink in sinks:
        spec = sink.inputs.specs
        spatial = [s["entities"] for s in spec.values() if "segmentation" in s["entities"]]
        assert spatial and all(e["space"] == "fsLR" and e["den"] == "91k" for e in spatial)
    run_sink = next(n for n in sinks if "ses_pre1_run_1" in n.fullname)
    assert run_sink.inputs.metadata["Surfaces"]["Source"] == "participant"
    assert run_sink.inputs.sources[-2:] == [own["L"], own["R"]]
    sub02 = next(n for n in sinks if "ses_post_run_1" in n.fullname)
    assert sub02.inputs.metadata["Surfaces"]["Source"] == "fs_LR 32k S1200 group average"
    write_atlas = [n for n in nodes if n.name.startswith("ds_atlas")]
    assert {n.inputs.den for n in write_atlas} == {"91k"}


def test_the_cifti_bold_workflow_builds_its_own_atlas_from_the_dtseries():
    wf = init_bold_wf(cifti=True)
    edges = {(u.fullname, v.fullname): dict(d["connect"]) for u, v, d in wf._create_flat_graph().edges(data=True)}
    nodes = {v.name: v for _, v in wf._create_flat_graph().edges()}
    assert isinstance(nodes["extract_signals"].interface, ExtractCiftiSignals)
    assert isinstance(nodes["build_atlas"].interface, BuildCiftiAtlas)
    reader = edges[("bold_wf.inputnode", "bold_wf.extract_signals")]
    assert reader == {"bold": "bold", "tr": "tr", "surfaces": "surfaces"}  # no brain mask for grayordinates
    assert edges[("bold_wf.atlas_wf.outputnode", "bold_wf.extract_signals")] == {"dseg": "dseg", "table": "table"}
    assert edges[("bold_wf.inputnode", "bold_wf.atlas_wf.inputnode")] == {"bold": "reference"}
