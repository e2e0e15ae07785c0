"""Graph-build tests: every option combination wires up, and the factories embed in a user's pipeline."""

import itertools
from pathlib import Path

import pytest
from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ketamine_fc.config import AtlasParams, DenoiseParams, Settings
from ketamine_fc.utils.bids import Collection, RunInputs
from ketamine_fc.workflows.base import init_ketamine_fc_wf
from ketamine_fc.workflows.bold import estimate_bold_mem_gb, init_bold_wf
from ketamine_fc.workflows.session import init_session_fc_wf


def _run(sub, ses, run):
    return RunInputs(sub, ses, "rest", run, f"/d/sub-{sub}_ses-{ses}_run-{run}_bold.nii.gz", "/d/mask.nii.gz",
                     "/d/conf.tsv", None, 2.0, 200, "MNI152NLin6Asym", "2")


@pytest.mark.parametrize("nuisance,bandpass,cleanup,order", itertools.product(
    ["36P", "24P", "acompcor", "none"], [True, False], [True, False], ["regress-filter", "filter-regress"]))
def test_graph_builds_for_option_combinations(tmp_path, nuisance, bandpass, cleanup, order):
    denoise = DenoiseParams(nuisance_regressors=nuisance, bandpass=bandpass, subcortical_cleanup=cleanup,
                            denoise_order=order)
    settings = Settings(bids_dir=tmp_path, output_dir=tmp_path / "out", denoise=denoise)
    runs = [_run("01", "pre1", "1"), _run("01", "pre1", "2"), _run("01", "post", "1"), _run("02", "pre1", "1")]
    wf = init_ketamine_fc_wf(settings, Collection(runs, []))
    wf._create_flat_graph()
    names = [n.fullname for n in wf._get_all_nodes()]
    assert sum(n.endswith("extract_signals") for n in names) == 4
    assert sum(n.endswith("connectivity") for n in names) == 3
    extract = next(n for n in wf._get_all_nodes() if n.name == "extract_signals")
    assert extract.inputs.subcortical_cleanup is cleanup
    clean = next(n for n in wf._get_all_nodes() if n.name == "denoise_signals")
    assert clean.inputs.params["nuisance_regressors"] == nuisance and clean.inputs.params["bandpass"] is bandpass


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
