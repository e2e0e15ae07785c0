"""Graph-build tests: every option combination wires up, and the factories embed in a user's pipeline."""

import itertools

import pytest
from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ketamine_fc.config import AtlasParams, DenoiseParams, Settings
from ketamine_fc.plan import ParticipantPlan, SessionPlan
from ketamine_fc.utils.bids import RUN_ENTITIES, RunInputs
from ketamine_fc.workflows.base import init_ketamine_fc_wf
from ketamine_fc.workflows.bold import estimate_bold_mem_gb, init_bold_wf
from ketamine_fc.workflows.session import init_session_fc_wf


def _run(sub, ses, run, **extra):
    given = {"subject": sub, "session": ses, "task": "rest", "run": run, **extra}
    entities = {k: given[k] for k in RUN_ENTITIES if k in given}
    return RunInputs(entities, f"/d/sub-{sub}_ses-{ses}_run-{run}_bold.nii.gz", "/d/mask.nii.gz", "/d/conf.tsv",
                     tr=2.0, n_frames=200, space="MNI152NLin6Asym", res="2", grid=(91, 109, 91, 2.0))


def _plan(runs):
    sessions = {}
    for run in runs:
        sessions.setdefault((run.subject, run.session), []).append(run)
    return ParticipantPlan([SessionPlan(sub, ses, rs, 100) for (sub, ses), rs in sessions.items()])


@pytest.mark.parametrize("nuisance,bandpass,cleanup,order", itertools.product(
    ["36P", "24P", "acompcor", "none"], [True, False], [True, False], ["regress-filter", "filter-regress"]))
def test_graph_builds_for_option_combinations(tmp_path, nuisance, bandpass, cleanup, order):
    denoise = DenoiseParams(nuisance_regressors=nuisance, disable_bandpass_filter=not bandpass,
                            subcortical_cleanup=cleanup, denoise_order=order)
    settings = Settings(bids_dir=tmp_path, output_dir=tmp_path / "out", analysis_level="participant",
                        denoise=denoise)
    runs = [_run("01", "pre1", "1"), _run("01", "pre1", "2"), _run("01", "post", "1"), _run("02", "pre1", "1")]
    wf = init_ketamine_fc_wf(settings, _plan(runs))
    wf._create_flat_graph()
    names = [n.fullname for n in wf._get_all_nodes()]
    assert sum(n.endswith("extract_signals") for n in names) == 4
    assert sum(n.endswith("connectivity") for n in names) == 3
    assert sum(n.endswith("build_atlas") for n in names) == 2  # one per participant and grid
    extract = next(n for n in wf._get_all_nodes() if n.name == "extract_signals")
    assert extract.inputs.subcortical_cleanup is cleanup
    clean = next(n for n in wf._get_all_nodes() if n.name == "denoise_signals")
    assert clean.inputs.params["nuisance_regressors"] == nuisance
    assert clean.inputs.params["disable_bandpass_filter"] is (not bandpass)


def test_runs_differing_by_any_entity_get_their_own_nodes(tmp_path):
    """Two runs that differ only by acq- (or echo-) are separate runs, not a duplicate node name."""
    settings = Settings(bids_dir=tmp_path, output_dir=tmp_path / "out", analysis_level="participant")
    runs = [_run("01", "pre1", "1", acquisition="hi"), _run("01", "pre1", "1", acquisition="lo"),
            _run("01", "pre1", "1", echo="2")]
    wf = init_ketamine_fc_wf(settings, _plan(runs))
    wf._create_flat_graph()
    bold_wfs = {p for n in wf._get_all_nodes() if n.name == "extract_signals" for p in n.fullname.split(".")
                if p.endswith("_bold_wf")}
    assert bold_wfs == {"ses_pre1_acq_hi_run_1_bold_wf", "ses_pre1_acq_lo_run_1_bold_wf",
                        "ses_pre1_run_1_echo_2_bold_wf"}
    sinks = [n for n in wf._get_all_nodes() if n.name == "ds_outputs" and "acq_hi" in n.fullname]
    names = {spec["entities"].get("acquisition") for spec in sinks[0].inputs.specs.values()}
    assert names == {"hi"}


def test_factories_embed_in_a_larger_pipeline():
    """A user's workflow feeds its own nodes into init_bold_wf and takes the series from its outputnode."""
    parent = pe.Workflow(name="my_pipeline")
    source = pe.Node(niu.IdentityInterface(fields=["bold", "mask", "confounds", "tr"]), name="my_source")
    bold_wf = init_bold_wf(denoise=DenoiseParams(fd_thresh=0.3), atlas=AtlasParams(hippocampus_split_y=-25.0))
    fc_wf = init_session_fc_wf(participant_id="sub-01", session_id="ses-pre1", sgacc=[123, 280, 286],
                               min_frames=100)
    listify = pe.Node(niu.Merge(1), name="listify")
    listify_qc = pe.Node(niu.Merge(1), name="listify_qc")
    sink = pe.Node(niu.IdentityInterface(fields=["measures"]), name="my_sink")
    parent.connect([
        (source, bold_wf, [(f, f"inputnode.{f}") for f in ("bold", "mask", "confounds", "tr")]),
        (bold_wf, listify, [("outputnode.timeseries", "in1")]),
        (bold_wf, listify_qc, [("outputnode.qc", "in1")]),
        (listify, fc_wf, [("out", "inputnode.timeseries")]),
        (listify_qc, fc_wf, [("out", "inputnode.qc")]),
        (bold_wf, fc_wf, [("outputnode.table", "inputnode.table")]),
        (fc_wf, sink, [("outputnode.measures", "measures")]),
    ])
    parent._create_flat_graph()
    censor = next(n for n in parent._get_all_nodes() if n.name == "censor_frames")
    assert censor.inputs.params["fd_thresh"] == 0.3
    atlas = next(n for n in parent._get_all_nodes() if n.name == "build_atlas")
    assert atlas.inputs.hippocampus_split_y == -25.0


def test_memory_estimate_grows_with_frames():
    assert 0.3 < estimate_bold_mem_gb(200) < estimate_bold_mem_gb(2000) < 1.5
