"""Output and work folders that must be refused before anything is written, and the usual place that is accepted.

Every refusal: exit code 1, exactly one ``ketamine-fc: error: <path>: <sentence>`` line naming the folder and the
problem, no traceback, not a byte (nor a new folder) written under the raw dataset, and any other dataset involved
(another fMRIPrep folder, a folder written by fMRIPrep) left byte-identical.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ketamine_fc.cli.run import main
from ketamine_fc.errors import InputError
from ketamine_fc.utils.dirs import check_output_dir, check_work_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "participant"))
from builder import make_dataset  # noqa: E402

N_FRAMES = 60
ERROR = "ketamine-fc: error:"


def snapshot(folder: Path, skip=()) -> dict:
    """Every path under ``folder`` (relative) -> sha256 of a file, or ``dir`` for a folder."""
    skip = [Path(s).resolve() for s in skip]
    out = {}
    for p in sorted(folder.rglob("*")):
        if any(p.resolve() == s or s in p.resolve().parents for s in skip):
            continue
        out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def error_lines(text: str) -> list:
    return [line for line in text.splitlines() if line.startswith(ERROR)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("dirs")
    bids = root / "bids"
    info = make_dataset(bids, shared_data, {"01": {"pre1": [[]]}}, seed=0, n_frames=N_FRAMES)
    return {"bids": bids, "fmriprep": info["fmriprep"]}


# --- refused folders -----------------------------------------------------------------------------------------
# each case: (bids, fmriprep, tmp) -> dict(output=..., work=None|path, extra=[...], path=<the path in the message>,
#                                           phrases=[...], others=[folders that must stay byte-identical], cwd=None)

def _output_is_bids_root(bids, fmriprep, tmp):
    return dict(output=bids, path=bids, phrases=["the output directory is the raw dataset", f"({bids})",
                                                 "never written"])


def _output_is_fmriprep(bids, fmriprep, tmp):
    return dict(output=fmriprep, path=fmriprep,
                phrases=["the output directory is the fMRIPrep derivatives folder", f"({fmriprep})"])


def _output_inside_fmriprep(bids, fmriprep, tmp):
    out = fmriprep / "sub-01" / "ketamine-fc"
    return dict(output=out, path=out, phrases=["the output directory is inside the fMRIPrep derivatives folder",
                                               f"({fmriprep})"])


def _output_symlink_to_fmriprep(bids, fmriprep, tmp):
    link = tmp / "fc-out"
    link.symlink_to(fmriprep, target_is_directory=True)
    return dict(output=link, path=link, phrases=["the output directory is the fMRIPrep derivatives folder"])


def _output_inside_raw(bids, fmriprep, tmp):
    out = bids / "sub-01" / "out"
    return dict(output=out, path=out, phrases=["the output directory is inside the raw dataset", f"({bids})"])


def _output_is_derivatives_container(bids, fmriprep, tmp):
    out = bids / "derivatives"
    return dict(output=out, path=out, phrases=["the output directory is inside the raw dataset", f"({bids})"])


def _output_relative_to_bids_root(bids, fmriprep, tmp):
    # given relative to the current folder and with "..": still the raw dataset
    return dict(output="derivatives/..", cwd=bids, path=bids / "derivatives" / "..",
                phrases=["the output directory is the raw dataset"])


def _output_inside_other_fmriprep(bids, fmriprep, tmp):
    elsewhere = tmp / "elsewhere" / "fmriprep"
    shutil.copytree(fmriprep, elsewhere)
    out = elsewhere / "ketamine-fc"
    return dict(output=out, extra=["--derivatives", f"fmriprep={elsewhere}"], path=out, others=[elsewhere],
                phrases=["the output directory is inside the fMRIPrep derivatives folder", f"({elsewhere})"])


def _output_holds_fmriprep_dataset(bids, fmriprep, tmp):
    out = tmp / "prepped"
    out.mkdir()
    shutil.copy(fmriprep / "dataset_description.json", out / "dataset_description.json")
    (out / "sub-01").mkdir()
    (out / "sub-01" / "note.txt").write_text("fMRIPrep output\n")
    return dict(output=out, path=out, others=[out],
                phrases=["already holds another dataset", "written by fMRIPrep", "never overwritten"])


def _output_in_derivatives_holds_fmriprep_dataset(bids, fmriprep, tmp):
    # the usual place (BIDS_DIR/derivatives/<name>) but the folder is an older fMRIPrep run
    out = bids / "derivatives" / "fmriprep-20.2"
    out.mkdir(exist_ok=True)
    shutil.copy(fmriprep / "dataset_description.json", out / "dataset_description.json")
    return dict(output=out, path=out, phrases=["already holds another dataset", "written by fMRIPrep"])


def _output_holds_raw_dataset(bids, fmriprep, tmp):
    out = tmp / "other-raw"
    out.mkdir()
    shutil.copy(bids / "dataset_description.json", out / "dataset_description.json")
    return dict(output=out, path=out, others=[out], phrases=["already holds another dataset"])


def _work_is_bids_root(bids, fmriprep, tmp):
    return dict(output=bids / "derivatives" / "ketamine-fc", work=bids, path=bids,
                phrases=["the work directory is the raw dataset", "-w/--work-dir"])


def _work_is_fmriprep(bids, fmriprep, tmp):
    return dict(output=bids / "derivatives" / "ketamine-fc", work=fmriprep, path=fmriprep,
                phrases=["the work directory is inside the fMRIPrep derivatives", "-w/--work-dir"])


def _work_inside_fmriprep(bids, fmriprep, tmp):
    work = fmriprep / "work"
    return dict(output=bids / "derivatives" / "ketamine-fc", work=work, path=work,
                phrases=["the work directory is inside the fMRIPrep derivatives", "-w/--work-dir"])


def _default_work_inside_fmriprep(bids, fmriprep, tmp):
    # no -w: the default ./work, run from inside the fMRIPrep folder
    return dict(output=bids / "derivatives" / "ketamine-fc", cwd=fmriprep, path=Path(os.path.realpath(fmriprep)) / "work",
                phrases=["the work directory is inside the fMRIPrep derivatives"])


def _work_is_output(bids, fmriprep, tmp):
    out = bids / "derivatives" / "ketamine-fc"
    return dict(output=out, work=out, path=out, phrases=["the work directory is the output directory",
                                                         "-w/--work-dir"])


def _output_through_file(bids, fmriprep, tmp):
    (tmp / "afile").write_text("a regular file\n")
    out = tmp / "afile" / "out"
    return dict(output=out, work=tmp / "work", path=out, others=[tmp],
                phrases=["the output directory cannot be written", "a part of its path is a file"])


def _output_is_file(bids, fmriprep, tmp):
    (tmp / "afile").write_text("a regular file\n")
    out = tmp / "afile"
    return dict(output=out, work=tmp / "work", path=out, others=[tmp],
                phrases=["the output directory is a file, not a folder"])


def _work_through_file(bids, fmriprep, tmp):
    (tmp / "blocker").mkdir()
    (tmp / "blocker" / "afile").write_text("a regular file\n")
    work = tmp / "blocker" / "afile" / "work"
    return dict(output=tmp / "out", work=work, path=work, others=[tmp / "blocker"],
                phrases=["the work directory cannot be written", "a part of its path is a file"])


CASES = {f.__name__[1:]: f for f in (
    _output_is_bids_root, _output_is_fmriprep, _output_inside_fmriprep, _output_symlink_to_fmriprep,
    _output_inside_raw, _output_is_derivatives_container, _output_relative_to_bids_root,
    _output_inside_other_fmriprep, _output_holds_fmriprep_dataset, _output_in_derivatives_holds_fmriprep_dataset,
    _output_holds_raw_dataset, _work_is_bids_root, _work_is_fmriprep, _work_inside_fmriprep,
    _default_work_inside_fmriprep, _work_is_output, _output_through_file, _output_is_file, _work_through_file)}


def _argv(bids, case, level):
    argv = [str(bids), str(case["output"]), level]
    if case.get("work") is not None:
        argv += ["-w", str(case["work"])]
    return argv + list(case.get("extra", []))


def _check_refusal(code, out, err, case):
    assert code == 1, err
    assert "Traceback" not in out + err
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert not error_lines(out)
    line = lines[0]
    assert line.startswith(f"{ERROR} {case['path']}: "), line
    for phrase in case["phrases"]:
        assert phrase in line, (phrase, line)


@pytest.mark.parametrize("level", ["participant", "group"])
@pytest.mark.parametrize("name", list(CASES))
def test_refused(name, level, dataset, tmp_path, monkeypatch, capsys):
    bids, fmriprep = dataset["bids"], dataset["fmriprep"]
    pristine = set(snapshot(bids))
    try:
        case = CASES[name](bids, fmriprep, tmp_path)
        before = snapshot(bids)
        others = {o: snapshot(o) for o in case.get("others", [])}
        other_descriptions = {o: (o / "dataset_description.json").read_bytes() for o in case.get("others", [])
                              if (o / "dataset_description.json").is_file()}
        if case.get("cwd"):
            monkeypatch.chdir(case["cwd"])
        capsys.readouterr()
        code = main(_argv(bids, case, level))
        out, err = capsys.readouterr()
        _check_refusal(code, out, err, case)
        assert snapshot(bids) == before  # no file changed, no file nor folder added
        for folder, digest in others.items():
            assert snapshot(folder) == digest
        for folder, text in other_descriptions.items():
            assert (folder / "dataset_description.json").read_bytes() == text
    finally:  # leave the shared dataset as it was for the next case (set-up files and any package bug alike)
        for p in sorted({bids / k for k in set(snapshot(bids)) - pristine}, key=lambda p: -len(p.parts)):
            if p.is_symlink() or p.is_file():
                p.unlink()
            elif p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


def test_refusal_on_the_console(dataset, tmp_path):
    """The real console (a fresh process): one error line, exit 1, nothing else alarming."""
    bids, fmriprep = dataset["bids"], dataset["fmriprep"]
    before = snapshot(bids)
    case = _output_inside_fmriprep(bids, fmriprep, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "ketamine_fc", *_argv(bids, case, "participant"),
                           "-w", str(tmp_path / "work")], capture_output=True, text=True, timeout=120)
    _check_refusal(proc.returncode, proc.stdout, proc.stderr, case)
    assert snapshot(bids) == before
    assert not (tmp_path / "work").exists()  # refused before the work folder was made


def _make_immutable(folder: Path) -> bool:
    """Make ``folder`` unwritable even for root; False when this system cannot."""
    folder.chmod(0o555)
    probe = folder / "probe"
    try:
        probe.write_text("x")
    except OSError:
        return True
    probe.unlink()
    folder.chmod(0o755)
    if shutil.which("chattr") is None:
        return False
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        return False
    try:
        probe.write_text("x")
    except OSError:
        return True
    probe.unlink()
    subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    return False


def _undo_immutable(folder: Path):
    if shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


@pytest.mark.parametrize("which", ["output", "work"])
def test_read_only_folder(which, dataset, tmp_path, capsys):
    bids = dataset["bids"]
    folder = tmp_path / "locked"
    folder.mkdir()
    if not _make_immutable(folder):
        pytest.skip("cannot make a folder read-only for this user (root without chattr +i)")
    try:
        before = snapshot(bids)
        if which == "output":
            argv, path = [str(bids), str(folder), "participant", "-w", str(tmp_path / "work")], folder
        else:
            argv, path = [str(bids), str(tmp_path / "out"), "participant", "-w", str(folder)], folder
        capsys.readouterr()
        code = main(argv)
        out, err = capsys.readouterr()
        _check_refusal(code, out, err, {"path": path, "phrases": [f"the {which} directory cannot be written"]})
        assert list(folder.iterdir()) == []  # not even the write probe is left behind
        assert snapshot(bids) == before
    finally:
        _undo_immutable(folder)


# --- accepted folders ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["derivatives/ketamine-fc", "derivatives/fc-2024", "derivatives/lab/ketamine-fc"])
def test_usual_places_pass_the_checks(rel, dataset, tmp_path):
    bids, fmriprep = dataset["bids"], dataset["fmriprep"]
    check_output_dir(bids / rel, bids, fmriprep)  # no error
    check_work_dir(tmp_path / "work", bids / rel, bids, fmriprep)
    check_work_dir(bids / "derivatives" / "work", bids / rel, bids, fmriprep)


def test_earlier_ketamine_fc_folder_passes_the_check(dataset, tmp_path):
    bids, fmriprep = dataset["bids"], dataset["fmriprep"]
    out = tmp_path / "earlier"
    out.mkdir()
    (out / "dataset_description.json").write_text(json.dumps({
        "Name": "ketamine-fc derivatives", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "ketamine-fc", "Version": "0.1.0"}]}))
    check_output_dir(out, bids, fmriprep)
    (out / "dataset_description.json").write_text(json.dumps({"GeneratedBy": [{"Name": "fMRIPrep"}]}))
    with pytest.raises(InputError, match="written by fMRIPrep"):
        check_output_dir(out, bids, fmriprep)


@pytest.fixture(scope="module")
def accepted(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("accepted")
    bids = root / "bids"
    info = make_dataset(bids, shared_data, {"01": {"pre1": [[]]}}, seed=4, n_frames=N_FRAMES)
    before = snapshot(bids)
    out = bids / "derivatives" / "ketamine-fc"
    argv = [str(bids), str(out), "participant", "-w", str(root / "work"), "--min-frames", "20",
            "--atlas-dir", str(shared_data / "atlases")]
    proc = subprocess.run([sys.executable, "-m", "ketamine_fc", *argv], capture_output=True, text=True,
                          timeout=600, cwd=root)
    return {"proc": proc, "bids": bids, "out": out, "before": before, "argv": argv, "root": root, **info}


@pytest.mark.slow
def test_derivatives_subfolder_is_accepted(accepted):
    proc, out = accepted["proc"], accepted["out"]
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not error_lines(proc.stderr) and "ERROR" not in proc.stderr
    assert "Participant level finished" in proc.stderr and f"outputs in {out}" in proc.stderr
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["GeneratedBy"][0]["Name"] == "ketamine-fc"
    func = out / "sub-01" / "ses-pre1" / "func"
    measures = func / "sub-01_ses-pre1_task-rest_space-MNI152NLin6Asym_seg-GordonSeitzman_desc-network_measures.tsv"
    assert measures.is_file() and len(measures.read_text().splitlines()) == 2
    assert list(out.glob("logs/ketamine-fc_participant_*.log"))


@pytest.mark.slow
def test_accepted_run_leaves_inputs_unchanged(accepted):
    assert accepted["proc"].returncode == 0, accepted["proc"].stderr
    # every input file byte-identical, and nothing new under the dataset but the output folder
    assert snapshot(accepted["bids"], skip=[accepted["out"]]) == accepted["before"]
    assert not (accepted["root"] / "bids" / "work").exists()
    # the write probes of the folder checks are gone
    assert not list(accepted["out"].glob(".ketamine-fc-write-test*"))
    assert not list((accepted["root"] / "work").glob(".ketamine-fc-write-test*"))


@pytest.mark.slow
def test_rerun_into_own_folder_is_accepted(accepted, capsys):
    """The folder now holds ketamine-fc's own dataset_description.json: a rerun is welcome, inputs untouched."""
    assert accepted["proc"].returncode == 0, accepted["proc"].stderr
    capsys.readouterr()
    code = main(accepted["argv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert not error_lines(err) and "Traceback" not in out + err
    assert snapshot(accepted["bids"], skip=[accepted["out"]]) == accepted["before"]
