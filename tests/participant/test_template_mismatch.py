"""BOLD in MNI152NLin2009cAsym never runs silently on the MNI152NLin6Asym atlases: it stops with the fix named,
or, with --allow-template-mismatch, runs and says so in every sidecar and in the group report."""

import json

import pytest

from ketamine_fc.cli.run import main
from ketamine_fc.reports.report import _participant_settings

from builder import make_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nlin2009(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("tpl")
    make_dataset(root / "bids", shared_data, {"01": {"pre1": [[]]}}, seed=4, n_frames=40,
                 space="MNI152NLin2009cAsym")
    return root


def test_other_template_stops_with_the_fix(nlin2009, capsys):
    out = nlin2009 / "out_refused"
    code = main([str(nlin2009 / "bids"), str(out), "participant", "-w", str(nlin2009 / "w1"), "--space",
                 "MNI152NLin2009cAsym", "--min-frames", "10"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    line = [ln for ln in err.splitlines() if ln.startswith("ketamine-fc: error:")]
    assert len(line) == 1
    assert "the BOLD is in MNI152NLin2009cAsym but the atlases are defined in MNI152NLin6Asym" in line[0]
    assert "--output-spaces MNI152NLin6Asym:res-2" in line[0] and "--allow-template-mismatch" in line[0]
    assert not list(out.glob("sub-*"))


def test_accepted_mismatch_is_recorded_everywhere(nlin2009, capsys):
    out = nlin2009 / "out_accepted"
    code = main([str(nlin2009 / "bids"), str(out), "participant", "-w", str(nlin2009 / "w2"), "--space",
                 "MNI152NLin2009cAsym", "--allow-template-mismatch", "--min-frames", "10"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "WARNING Using the MNI152NLin6Asym atlases on MNI152NLin2009cAsym BOLD without a transform" in err
    sidecars = sorted((out / "sub-01").rglob("*.json"))
    assert len(sidecars) >= 9
    for path in sidecars:
        meta = json.loads(path.read_text())
        assert meta["Parameters"]["allow_template_mismatch"] is True
        assert "without a template-to-template transform" in meta["TemplateMismatch"]
    params = json.loads(next((out / "sub-01").rglob("*_desc-network_measures.json")).read_text())["Parameters"]
    html = "".join(_participant_settings(params))
    assert "were used on BOLD in MNI152NLin2009cAsym without a template-to-template transform" in html
    assert "without a template-to-template transform" not in "".join(
        _participant_settings(dict(params, space="MNI152NLin6Asym", allow_template_mismatch=False)))
