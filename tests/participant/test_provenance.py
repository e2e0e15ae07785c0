"""Provenance: every invocation leaves a log, its settings and the methods text; the settings file reproduces the
run byte for byte; a rerun with other settings stops; the group level never pools sessions made differently."""

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from builder import make_dataset

pytestmark = pytest.mark.slow

SETTINGS = ["--fd-thresh", "0.3", "--nuisance-regressors", "24P", "--min-frames", "20", "--min-contig", "4"]


def _cli(*args, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "ketamine_fc", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


def _tsvs(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("sub-*/**/*.tsv"))}


@pytest.fixture(scope="module")
def study(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("prov")
    bids = root / "bids"
    make_dataset(bids, shared_data, {"01": {"pre1": [[20]]}, "02": {"pre1": [[]]}}, seed=11, n_frames=60)
    (bids / "phenotype").mkdir()
    pd.DataFrame({"participant_id": ["sub-01", "sub-02"] * 2, "timepoint": ["baseline"] * 2 + ["week2"] * 2,
                  "madrs": [30, 28, 10, 20]}).to_csv(bids / "phenotype" / "madrs.tsv", sep="\t", index=False)
    out = root / "out"
    first = _cli(bids, out, "participant", "-w", root / "work", *SETTINGS)
    return {"root": root, "bids": bids, "out": out, "first": first}


def test_logs_settings_and_citation_written(study):
    assert study["first"].returncode == 0, study["first"].stderr
    logs = study["out"] / "logs"
    log = next(logs.glob("ketamine-fc_participant_*.log")).read_text()
    assert re.search(r"Command: .*participant .*--fd-thresh 0\.3", log)
    assert '"nipype": "' in log and '"ketamine-fc": "' in log and "Finished with exit code 0" in log
    config = next(logs.glob("ketamine-fc_participant_*_config.toml")).read_text()
    assert "fd_thresh = 0.3" in config and 'nuisance_regressors = "24P"' in config
    citation = (logs / "CITATION.md").read_text()
    assert "above 0.3 mm" in citation and "24P" in citation and "Power JD" in citation
    assert str(next(logs.glob("*.log"))) in study["first"].stderr  # the console says where the log is


def test_settings_file_reproduces_the_outputs_byte_for_byte(study):
    config = next((study["out"] / "logs").glob("ketamine-fc_participant_*_config.toml"))
    fresh = study["root"] / "out_again"
    proc = _cli(study["bids"], fresh, "participant", "--config", config, "-w", study["root"] / "work_again")
    assert proc.returncode == 0, proc.stderr
    first, again = _tsvs(study["out"]), _tsvs(fresh)
    assert len(first) >= 2 * 5 and first.keys() == again.keys()
    assert all(first[k] == again[k] for k in first)


def test_rerun_with_other_settings_stops_and_lists_them(study):
    before = _tsvs(study["out"])
    proc = _cli(study["bids"], study["out"], "participant", "-w", study["root"] / "work", *SETTINGS, "--fd-thresh",
                "0.25")
    assert proc.returncode == 1
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("ketamine-fc: error:")]
    assert len(line) == 1 and "fd_thresh: 0.3 -> 0.25" in line[0] and "--overwrite" in line[0]
    assert _tsvs(study["out"]) == before


def test_group_level_refuses_to_pool_different_settings(study, tmp_path):
    mixed = tmp_path / "mixed"
    assert _cli(study["bids"], mixed, "participant", "-w", tmp_path / "w", *SETTINGS,
                "--participant-label", "01").returncode == 0
    proc = _cli(study["bids"], mixed, "participant", "-w", tmp_path / "w", *SETTINGS, "--participant-label", "02",
                "--fd-thresh", "0.25")
    assert proc.returncode == 1 and "fd_thresh: 0.3 -> 0.25" in proc.stderr
    proc = _cli(study["bids"], mixed, "participant", "-w", tmp_path / "w", *SETTINGS, "--participant-label", "02",
                "--fd-thresh", "0.25", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(next((mixed / "sub-02").rglob("*_desc-network_measures.json")).read_text())
    assert meta["Parameters"]["fd_thresh"] == 0.25
    proc = _cli(study["bids"], mixed, "group", "-w", tmp_path / "w")
    assert proc.returncode == 1
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("ketamine-fc: error:")]
    assert len(line) == 1 and "not pooled" in line[0] and "fd_thresh" in line[0] and "sub-0" in line[0]
    assert not (mixed / "group" / "report.html").exists()
