"""Bad inputs, one participant each, in one invocation: a clear line naming the file and the problem, no traceback,
no input written, nothing half-written, and every other participant completes."""

import hashlib
import json
import re
import subprocess
import sys

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from ketamine_fc.utils.derivatives import read_tsv

from builder import make_dataset, reference_grid, write_run

pytestmark = pytest.mark.slow

N_FRAMES = 60
BAD = ["noconf", "short", "nanconf", "infconf", "fdna", "trdiff", "trms", "t1w", "trunc", "corrupt", "nanbold",
       "maskgrid", "emptyconf", "nomask", "tworez", "bold3d"]
COMPLETE = ["good", "moving", "fewframes", "partialmask", "twoacq"]
STEM = "task-rest_run-1"
SPACE = "space-MNI152NLin6Asym_res-3"


def _digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _edit_confounds(path, edit):
    df = pd.read_csv(path, sep="\t", na_values=["n/a"])
    edit(df)
    df.to_csv(path, sep="\t", index=False, na_rep="n/a")


def _nan_in_brain(bold, mask):
    """One NaN in a brain voxel of frame 10: found only when the run is read, after planning."""
    img = nb.load(bold)
    data = np.asarray(img.dataobj, dtype=np.float32)
    i, j, k = np.argwhere(np.asarray(nb.load(mask).dataobj) > 0)[100]
    data[i, j, k, 10] = np.nan
    nb.Nifti1Image(data, img.affine, img.header).to_filename(bold)


@pytest.fixture(scope="module")
def broken(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("bad")
    bids = root / "bids"
    design = {s: {"pre1": [[]]} for s in BAD + COMPLETE} | {"halfbroken": {"pre1": [[]], "post": [[]]}}
    info = make_dataset(bids, shared_data, design, seed=3, n_frames=N_FRAMES)
    fmriprep = info["fmriprep"]

    def f(sub, kind):
        return fmriprep / f"sub-{sub}" / "ses-pre1" / "func" / f"sub-{sub}_ses-pre1_{STEM}_{kind}"

    f("noconf", "desc-confounds_timeseries.tsv").unlink()
    short = f("short", "desc-confounds_timeseries.tsv")
    pd.read_csv(short, sep="\t").iloc[:50].to_csv(short, sep="\t", index=False, na_rep="n/a")
    _edit_confounds(f("nanconf", "desc-confounds_timeseries.tsv"), lambda d: d.__setitem__(
        "white_matter", d["white_matter"].where(d.index != 20)))
    _edit_confounds(f("infconf", "desc-confounds_timeseries.tsv"), lambda d: d.__setitem__(
        "global_signal", d["global_signal"].where(d.index != 33, np.inf)))
    _edit_confounds(f("fdna", "desc-confounds_timeseries.tsv"), lambda d: d.__setitem__(
        "framewise_displacement", d["framewise_displacement"].where(d.index != 20)))
    f("emptyconf", "desc-confounds_timeseries.tsv").write_text("")
    _edit_confounds(f("moving", "desc-confounds_timeseries.tsv"), lambda d: d.__setitem__(
        "framewise_displacement", 0.5))
    # 30 retained frames: fewer than the 38 columns of the 36P design (with intercept and trend) + 2
    _edit_confounds(f("fewframes", "desc-confounds_timeseries.tsv"), lambda d: d.__setitem__(
        "framewise_displacement", np.r_[np.full(30, 0.05), np.full(30, 10.0)]))
    f("trdiff", f"{SPACE}_desc-preproc_bold.json").write_text(json.dumps({"RepetitionTime": 2.5}))
    f("trms", f"{SPACE}_desc-preproc_bold.json").write_text(json.dumps({"RepetitionTime": 2000}))
    for path in f("t1w", "x").parent.iterdir():
        path.rename(path.with_name(path.name.replace(SPACE, "space-T1w")))
    trunc = f("trunc", f"{SPACE}_desc-preproc_bold.nii.gz")
    trunc.write_bytes(trunc.read_bytes()[: trunc.stat().st_size // 2])
    corrupt = f("corrupt", f"{SPACE}_desc-preproc_bold.nii.gz")
    corrupt.write_bytes(b"this is not a gzip stream" * 100)
    _nan_in_brain(f("nanbold", f"{SPACE}_desc-preproc_bold.nii.gz"), f("nanbold", f"{SPACE}_desc-brain_mask.nii.gz"))
    post = fmriprep / "sub-halfbroken" / "ses-post" / "func" / f"sub-halfbroken_ses-post_{STEM}_{SPACE}"
    _nan_in_brain(post.with_name(post.name + "_desc-preproc_bold.nii.gz"),
                  post.with_name(post.name + "_desc-brain_mask.nii.gz"))
    mask_img = nb.load(shared_data / "templates/mni152_fsl/MNI152_T1_2mm_Brain_Mask.nii.gz")
    nb.Nifti1Image(np.asarray(mask_img.dataobj), mask_img.affine).to_filename(
        f("maskgrid", f"{SPACE}_desc-brain_mask.nii.gz"))
    f("nomask", f"{SPACE}_desc-brain_mask.nii.gz").unlink()
    partial = f("partialmask", f"{SPACE}_desc-brain_mask.nii.gz")
    pimg = nb.load(partial)
    pdata = np.asarray(pimg.dataobj).copy()
    pdata[:, :, : pdata.shape[2] // 2] = 0  # the mask loses the lower half of the brain
    nb.Nifti1Image(pdata, pimg.affine).to_filename(partial)
    for path in list(f("tworez", "x").parent.iterdir()):  # the same run at a second resolution
        if "res-3" in path.name:
            (path.parent / path.name.replace("res-3", "res-2")).write_bytes(path.read_bytes())
    bold3d = f("bold3d", f"{SPACE}_desc-preproc_bold.nii.gz")
    img = nb.load(bold3d)
    nb.Nifti1Image(np.asarray(img.dataobj)[..., 0], img.affine).to_filename(bold3d)
    # two runs that differ only by acq-: both processed, each named by its acq entity
    rng = np.random.default_rng(5)
    ref = reference_grid(shared_data)
    twoacq = fmriprep / "sub-twoacq" / "ses-pre1" / "func"
    for path in list(twoacq.iterdir()):
        path.unlink()
    for acq in ("hi", "lo"):
        write_run(twoacq, f"sub-twoacq_ses-pre1_task-rest_acq-{acq}_run-1", ref, info["atlas"].dseg, info["sets"], rng,
                  n_frames=N_FRAMES)
    return {"root": root, "bids": bids, "out": root / "out", "fmriprep": fmriprep, "f": f}


@pytest.fixture(scope="module")
def run_all(broken):
    before = _digest(broken["bids"])
    cmd = [sys.executable, "-m", "ketamine_fc", str(broken["bids"]), str(broken["out"]), "participant",
           "-w", str(broken["root"] / "work"), "--min-frames", "20", "--nprocs", "2",
           "--participant-label", *BAD, *COMPLETE, "halfbroken", "ghost"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return {"proc": proc, "before": before, "after": _digest(broken["bids"])}


def test_exit_code_no_traceback_and_inputs_untouched(run_all):
    proc = run_all["proc"]
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert run_all["before"] == run_all["after"]


def test_the_other_participants_complete(broken, run_all):
    for sub in COMPLETE:
        measures = list((broken["out"] / f"sub-{sub}").rglob("*_desc-network_measures.tsv"))
        assert len(measures) == 1, (sub, run_all["proc"].stderr)
    row = read_tsv(next((broken["out"] / "sub-good").rglob("*_desc-network_measures.tsv"))).iloc[0]
    assert bool(row["included"]) and row["n_frames"] == N_FRAMES


@pytest.mark.parametrize("sub,file,pattern", [
    ("noconf", f"{SPACE}_desc-preproc_bold.nii.gz", r"the confounds file is missing"),
    ("short", "desc-confounds_timeseries.tsv", r"the confounds file has 50 rows but the BOLD series has 60 frames"),
    ("nanconf", "desc-confounds_timeseries.tsv", r"column white_matter has missing values \(n/a\) in data row\(s\) 21"),
    ("infconf", "desc-confounds_timeseries.tsv", r"column global_signal has infinite or missing values in data row\(s\) 34"),
    ("fdna", "desc-confounds_timeseries.tsv", r"column framewise_displacement is n/a or not finite in data row\(s\) 21; "
                                              r"only its first row may be n/a"),
    ("trdiff", f"{SPACE}_desc-preproc_bold.nii.gz", r"the repetition time disagrees: 2.5 s in the JSON sidecar, 2 s in "
                                                    r"the NIfTI header"),
    ("trms", f"{SPACE}_desc-preproc_bold.json", r"RepetitionTime 2000 looks like milliseconds"),
    ("trunc", f"{SPACE}_desc-preproc_bold.nii.gz", r"the compressed data is damaged .* the file is truncated or corrupt"),
    ("corrupt", f"{SPACE}_desc-preproc_bold.nii.gz", r"cannot read the BOLD image: the file is damaged or not NIfTI"),
    ("nanbold", f"{SPACE}_desc-preproc_bold.nii.gz", r"the BOLD series contains NaN or infinite values inside the brain "
                                                     r"mask"),
    ("maskgrid", f"{SPACE}_desc-brain_mask.nii.gz", r"the brain mask is on another voxel grid \(91x109x91 voxels of 2x2x2 "
                                                    r"mm\) than its BOLD"),
    ("emptyconf", "desc-confounds_timeseries.tsv", r"the confounds file is empty"),
    ("nomask", f"{SPACE}_desc-preproc_bold.nii.gz", r"no brain mask beside this BOLD run"),
    ("bold3d", f"{SPACE}_desc-preproc_bold.nii.gz", r"the BOLD image is not 4-D"),
])
def test_one_clear_line_naming_file_and_problem(broken, run_all, sub, file, pattern):
    path = re.escape(str(broken["f"](sub, file)))
    lines = [ln for ln in run_all["proc"].stderr.splitlines() if re.search(f"{path}: {pattern}", ln)]
    assert len(lines) == 1, run_all["proc"].stderr
    assert lines[0].split(" ", 1)[1].startswith(f"ERROR sub-{sub}_ses-pre1_task-rest_run-1: ")


def test_participant_level_problems_named(run_all):
    err = run_all["proc"].stderr
    assert re.search(r"ERROR sub-t1w: sub-t1w has no preprocessed 'rest' BOLD in space MNI152NLin6Asym \(spaces "
                     r"found: T1w\)", err)
    assert re.search(r"ERROR sub-ghost: participant sub-ghost does not exist", err)
    assert re.search(r"sub-tworez_ses-pre1_task-rest_run-1: the BOLD exists in 2 versions in space MNI152NLin6Asym "
                     r"\(res-2, res-3\); choose one with --space MNI152NLin6Asym:res-3", err)


def test_exclusions_say_why(broken, run_all):
    err = run_all["proc"].stderr
    moving = read_tsv(next((broken["out"] / "sub-moving").rglob("*_desc-network_measures.tsv"))).iloc[0]
    assert not bool(moving["included"]) and moving["n_frames"] == 0 and np.isnan(moving["dmn"])
    assert "run-1: every frame is censored" in moving["exclusion_reason"]
    assert re.search(r"WARNING sub-moving_ses-pre1: excluded from the group analysis: run-1: every frame is censored",
                     err)
    few = read_tsv(next((broken["out"] / "sub-fewframes").rglob("*_desc-network_measures.tsv"))).iloc[0]
    assert not bool(few["included"])
    assert "run-1: 30 retained frames are too few for the 36 regressors of the design" in few["exclusion_reason"]


def test_partial_mask_listed_and_excluded(broken, run_all):
    out = broken["out"] / "sub-partialmask" / "ses-pre1" / "func"
    qc = read_tsv(next(out.glob("*_desc-regions_qc.tsv")))
    lost = qc[qc["status"] != "ok"]
    assert len(lost) > 30 and set(lost["status"]) <= {"outside_mask", "shrunk", "too_small"}
    session = read_tsv(next(out.glob("*ses-pre1_task-rest_qc.tsv"))).set_index("run").loc["session"]
    missing = str(session["missing_regions"]).split(",")
    assert set(missing) == set(lost.loc[lost["status"] == "outside_mask", "label"])
    row = read_tsv(next(out.glob("*_desc-network_measures.tsv"))).iloc[0]
    # the lower half of the brain holds the limbic regions: that set is lost, so the session is excluded
    assert row["coverage_limbic"] < 0.5 and not bool(row["included"])
    assert "limbic regions" in row["exclusion_reason"]
    assert row["n_pairs_dmn"] < 41 * 40 / 2
    assert len(re.findall(r"WARNING sub-partialmask_ses-pre1: the brain mask misses \d+ region\(s\)",
                          run_all["proc"].stderr)) == 1


def test_runs_differing_by_acq_are_both_processed(broken, run_all):
    out = broken["out"] / "sub-twoacq" / "ses-pre1" / "func"
    for acq in ("hi", "lo"):
        assert len(list(out.glob(f"sub-twoacq_ses-pre1_task-rest_acq-{acq}_run-1_*stat-mean_timeseries.tsv"))) == 1
    row = read_tsv(next(out.glob("*_desc-network_measures.tsv"))).iloc[0]
    assert row["n_frames"] == 2 * N_FRAMES


def test_nothing_written_for_rejected_or_failed_sessions(broken, run_all):
    for sub in BAD:
        assert not (broken["out"] / f"sub-{sub}").exists(), sub
    assert not list(broken["out"].rglob("*.part"))


def _text(path):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text()))


def test_a_participant_whose_session_failed_still_gets_a_report_saying_why(broken, run_all):
    # sub-halfbroken: ses-pre1 computes, ses-post fails when its BOLD is read (a NaN inside the brain)
    text = _text(broken["out"] / "sub-halfbroken.html")
    assert "Included in the group analyses." in text  # ses-pre1, whole
    assert re.search(r"Session ses-post Not computed, so not written and not in the group analyses: run-1: .*"
                     r"sub-halfbroken_ses-post_task-rest_run-1_.*_desc-preproc_bold.nii.gz: the BOLD series contains "
                     r"NaN or infinite values inside the brain mask", text), text[:3000]
    assert re.search(r"ses-post n/a n/a no not computed: run-1: ", text)
    assert "Runs processed" not in text  # its only run failed
    assert list((broken["out"] / "sub-halfbroken").rglob("*_desc-network_measures.tsv")) == [
        next((broken["out"] / "sub-halfbroken" / "ses-pre1").rglob("*_desc-network_measures.tsv"))]
    assert re.search(r"WARNING sub-halfbroken: report sub-halfbroken.html shows 1 session\(s\) not computed",
                     run_all["proc"].stderr)
    # a participant whose only session failed at run time: a report all the same; none for one rejected when
    # planned (nothing of it ran)
    assert "Not computed" in _text(broken["out"] / "sub-nanbold.html")
    assert not (broken["out"] / "sub-t1w.html").exists()
