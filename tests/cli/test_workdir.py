"""The work folder: moved or copied work folders are detected and recomputed, concurrent runs on the same
participant are stopped by a lock, and the two pieces (WorkDirLock, prepare_work_dir) on their own."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ketamine_fc.errors import InputError
from ketamine_fc.utils.execution import MARKER, WorkDirLock, prepare_work_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "participant"))
from builder import make_dataset  # noqa: E402

N_FRAMES = 60
ERROR = "ketamine-fc: error:"
MOVED = "the work directory was moved or copied from"


def run_cli(bids, out, work, shared_data, *extra, cwd=None):
    argv = [sys.executable, "-m", "ketamine_fc", str(bids), str(out), "participant", "-w", str(work),
            "--min-frames", "20", "--atlas-dir", str(shared_data / "atlases"), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=cwd)


def tsvs(out: Path) -> dict:
    """Every TSV under ``out`` -> sha256 of its bytes."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.tsv"))}


def mtimes(work: Path, pattern="signals.npz") -> dict:
    return {str(p.relative_to(work)): p.stat().st_mtime_ns for p in work.rglob(pattern)}


def warning_lines(text: str) -> list:
    return [line for line in text.splitlines() if " WARNING " in f" {line} "]


# --- (a) a moved work folder -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moved(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("moved")
    bids = root / "bids"
    make_dataset(bids, shared_data, {"01": {"pre1": [[]]}}, seed=5, n_frames=N_FRAMES)
    old, new = root / "work", root / "scratch" / "work-moved"
    first = run_cli(bids, root / "out1", old, shared_data, cwd=root)
    first_tsvs = tsvs(root / "out1")
    first_signals = mtimes(old)
    new.parent.mkdir()
    old.rename(new)
    time.sleep(0.05)  # mtimes of files written from now on differ from the moved ones
    moved_at = time.time_ns()
    # a new output folder, so that identical TSVs prove identical results rather than files left in place
    second = run_cli(bids, root / "out2", new, shared_data, cwd=root)
    second_signals = mtimes(new)
    old_recreated = old.exists()
    third = run_cli(bids, root / "out2", new, shared_data, cwd=root)
    return dict(root=root, old=old, new=new, first=first, second=second, third=third, first_tsvs=first_tsvs,
                first_signals=first_signals, second_signals=second_signals, moved_at=moved_at,
                old_recreated=old_recreated)


@pytest.mark.slow
def test_first_run_in_place_has_no_warning(moved):
    first = moved["first"]
    assert first.returncode == 0, first.stderr
    assert not warning_lines(first.stderr) and MOVED not in first.stderr
    assert moved["first_tsvs"] and moved["first_signals"]


@pytest.mark.slow
def test_moved_work_dir_warns_once_and_recomputes(moved):
    second = moved["second"]
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stdout + second.stderr
    assert ERROR not in second.stderr
    warnings = warning_lines(second.stderr)
    assert len(warnings) == 1, second.stderr
    assert MOVED in warnings[0] and str(moved["old"]) in warnings[0]
    assert sum(MOVED in line for line in second.stderr.splitlines()) == 1
    # recomputed in the new place: the cached BOLD signals were written again, after the move
    assert set(moved["second_signals"]) == set(moved["first_signals"])
    assert all(t > moved["moved_at"] for t in moved["second_signals"].values())
    # and nothing was written back at the old place through stale cached paths
    assert not moved["old_recreated"]
    markers = list(moved["new"].glob(f"ketamine_fc_wf/*/{MARKER}"))
    assert markers and all(json.loads(m.read_text())["path"] == str(m.parent.resolve()) for m in markers)


@pytest.mark.slow
def test_moved_work_dir_gives_identical_tsvs(moved):
    assert moved["second"].returncode == 0, moved["second"].stderr
    second_tsvs = tsvs(moved["root"] / "out2")
    assert set(second_tsvs) == set(moved["first_tsvs"])
    different = [name for name in second_tsvs if second_tsvs[name] != moved["first_tsvs"][name]]
    assert not different


@pytest.mark.slow
def test_third_run_resumes_without_warning(moved):
    third = moved["third"]
    assert third.returncode == 0, third.stderr
    assert "Traceback" not in third.stdout + third.stderr
    assert not warning_lines(third.stderr) and MOVED not in third.stderr
    assert mtimes(moved["new"]) == moved["second_signals"]  # the BOLD was not read again
    assert tsvs(moved["root"] / "out2") == moved["first_tsvs"]
    assert not moved["old"].exists()


@pytest.mark.slow
def test_copied_work_dir_leaves_the_original_untouched(tmp_path, shared_data):
    bids = tmp_path / "bids"
    make_dataset(bids, shared_data, {"01": {"pre1": [[]]}}, seed=6, n_frames=N_FRAMES)
    original, copy = tmp_path / "work", tmp_path / "work-copy"
    first = run_cli(bids, tmp_path / "out1", original, shared_data, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    shutil.copytree(original, copy, symlinks=True)
    state = {str(p.relative_to(original)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
             for p in original.rglob("*") if ".locks" not in p.parts}
    second = run_cli(bids, tmp_path / "out2", copy, shared_data, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    warnings = warning_lines(second.stderr)
    assert len(warnings) == 1 and MOVED in warnings[0] and str(original) in warnings[0], second.stderr
    assert tsvs(tmp_path / "out2") == tsvs(tmp_path / "out1")
    after = {str(p.relative_to(original)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
             for p in original.rglob("*") if ".locks" not in p.parts}
    assert after == state  # the run in the copy never wrote into the original
    # the original, used in place again, still resumes
    signals = mtimes(original)
    third = run_cli(bids, tmp_path / "out1", original, shared_data, cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert not warning_lines(third.stderr)
    assert mtimes(original) == signals


# --- (b) a work folder in use ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_participants(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("locked")
    bids = root / "bids"
    make_dataset(bids, shared_data, {"01": {"pre1": [[]]}, "02": {"pre1": [[]]}}, seed=7, n_frames=N_FRAMES)
    return root, bids


@pytest.mark.slow
def test_participant_in_use_is_refused(two_participants, shared_data):
    root, bids = two_participants
    out, work = root / "out-busy", root / "work-busy"
    with WorkDirLock(work, ["sub-01"]):
        proc = run_cli(bids, out, work, shared_data, "--participant-label", "01", cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith(ERROR)]
    assert len(lines) == 1, proc.stderr
    assert "in use" in lines[0] and "sub-01" in lines[0] and str(work) in lines[0]
    assert f"pid {os.getpid()}" in lines[0]  # names the holder: this test process
    assert not (out / "sub-01").exists()
    assert not list(work.rglob("signals.npz")) and not (work / "ketamine_fc_wf" / "sub_01_wf").exists()


@pytest.mark.slow
def test_lock_on_another_participant_does_not_block(two_participants, shared_data):
    root, bids = two_participants
    out, work = root / "out-other", root / "work-other"
    with WorkDirLock(work, ["sub-02"]):
        proc = run_cli(bids, out, work, shared_data, "--participant-label", "01", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and ERROR not in proc.stderr
    assert list((out / "sub-01" / "ses-pre1" / "func").glob("*_desc-network_measures.tsv"))
    assert not (out / "sub-02").exists()


@pytest.mark.slow
def test_overwrite_run_refused_as_in_use_keeps_the_outputs(two_participants, shared_data):
    """A run stopped because the participant is in use must not touch its outputs, even with --overwrite."""
    root, bids = two_participants
    out, work = root / "out-overwrite", root / "work-overwrite"
    first = run_cli(bids, out, work, shared_data, "--participant-label", "01", cwd=root)
    assert first.returncode == 0, first.stderr
    before = tsvs(out / "sub-01")
    assert before
    with WorkDirLock(work, ["sub-01"]):  # the other run, still writing sub-01
        proc = run_cli(bids, out, work, shared_data, "--participant-label", "01", "--fd-thresh", "0.3",
                       "--overwrite", cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith(ERROR) and "in use" in line]
    assert tsvs(out / "sub-01") == before


@pytest.mark.slow
def test_moved_work_dir_keeps_the_caches_of_participants_in_use(two_participants, shared_data):
    """After a move, the run for sub-01 clears the stale caches, but not those that another run holds (sub-02)."""
    root, bids = two_participants
    out, old, new = root / "out-moved2", root / "work-moved2-old", root / "work-moved2-new"
    first = run_cli(bids, out, old, shared_data, cwd=root)
    assert first.returncode == 0, first.stderr
    old.rename(new)
    held = {k: v for k, v in mtimes(new).items() if k.startswith("ketamine_fc_wf/sub_02_wf/")}
    assert held
    with WorkDirLock(new, ["sub-02"]):  # another invocation is at work on sub-02 in the moved folder
        proc = run_cli(bids, out, new, shared_data, "--participant-label", "01", cwd=root)
        still_there = {k: v for k, v in mtimes(new).items() if k.startswith("ketamine_fc_wf/sub_02_wf/")}
    assert "Traceback" not in proc.stdout + proc.stderr
    assert still_there == held, proc.stderr


# --- (c) the pieces on their own ---------------------------------------------------------------------------

TRY_LOCK = textwrap.dedent("""
    import sys
    from ketamine_fc.errors import InputError
    from ketamine_fc.utils.execution import WorkDirLock
    try:
        with WorkDirLock(sys.argv[1], sys.argv[2:]):
            print("acquired")
    except InputError as err:
        print(err)
        sys.exit(3)
""")

HOLD_LOCK = textwrap.dedent("""
    import sys
    from ketamine_fc.utils.execution import WorkDirLock
    with WorkDirLock(sys.argv[1], sys.argv[2:]):
        print("holding", flush=True)
        sys.stdin.read()
""")


def try_lock(work, *names):
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(work), *names], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def holder(tmp_path):
    """Start a process that holds locks until its stdin closes; yields a function (names) -> Popen."""
    started = []

    def start(work, *names):
        proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(work), *names], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "holding"
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_lock_is_exclusive_across_processes(tmp_path):
    work = tmp_path / "work"
    with WorkDirLock(work, ["sub-01"]) as lock:
        assert (work / ".locks" / "sub-01.lock").is_file()
        refused = try_lock(work, "sub-01")
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "in use" in refused.stdout and "sub-01" in refused.stdout and f"pid {os.getpid()}" in refused.stdout
        assert try_lock(work, "sub-02").returncode == 0  # other names are free
        lock.release()
        freed = try_lock(work, "sub-01")
        assert freed.returncode == 0 and "acquired" in freed.stdout, freed.stdout + freed.stderr


def test_lock_held_by_another_process(tmp_path, holder):
    work = tmp_path / "work"
    proc = holder(work, "sub-01")
    with pytest.raises(InputError, match="in use") as info:
        with WorkDirLock(work, ["sub-01"]):
            pass
    assert f"pid {proc.pid}" in str(info.value) and str(work) in str(info.value)
    proc.stdin.close()  # the holder leaves its with-block and exits
    assert proc.wait(timeout=30) == 0
    with WorkDirLock(work, ["sub-01"]):
        pass


def test_lock_of_a_killed_process_is_free(tmp_path, holder):
    work = tmp_path / "work"
    proc = holder(work, "sub-01")
    proc.kill()
    proc.wait()
    with WorkDirLock(work, ["sub-01"]):  # the OS released it: no stale lock after a crash
        pass


def test_partial_acquisition_is_released(tmp_path, holder):
    """Asking for sub-01 and sub-02 while sub-02 is held fails and leaves sub-01 free."""
    work = tmp_path / "work"
    holder(work, "sub-02")
    lock = WorkDirLock(work, ["sub-02", "sub-01"])
    with pytest.raises(InputError, match="in use for sub-02"):
        lock.__enter__()
    # the lock object is still alive here: sub-01 must have been released by the failed acquisition itself
    assert try_lock(work, "sub-01").returncode == 0
    del lock


def test_prepare_fresh_work_dir(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    assert prepare_work_dir(work, ["ketamine_fc_wf", "group_wf"]) is None
    for name in ("ketamine_fc_wf", "group_wf"):
        assert json.loads((work / name / MARKER).read_text())["path"] == str((work / name).resolve())


def test_prepare_in_place_keeps_the_cache(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    assert prepare_work_dir(work, ["ketamine_fc_wf"]) is None
    cached = work / "ketamine_fc_wf" / "sub_01_wf" / "result.pklz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"cached")
    assert prepare_work_dir(work, ["ketamine_fc_wf"]) is None
    assert cached.read_bytes() == b"cached"
    # the same folder reached through a symbolic link is still the same folder
    link = tmp_path / "link"
    link.symlink_to(work, target_is_directory=True)
    assert prepare_work_dir(link, ["ketamine_fc_wf"]) is None
    assert cached.is_file()


@pytest.mark.parametrize("how", ["move", "copy"])
def test_prepare_after_move_clears_the_named_caches(tmp_path, how):
    old, new = tmp_path / "work", tmp_path / "elsewhere" / "work"
    old.mkdir()
    assert prepare_work_dir(old, ["ketamine_fc_wf", "group_wf"]) is None
    for name in ("ketamine_fc_wf/sub_01_wf", "group_wf/stats", "crash/run1", "keep_me"):
        (old / name).mkdir(parents=True)
        (old / name / "file.txt").write_text(name)
    new.parent.mkdir()
    if how == "move":
        old.rename(new)
    else:
        shutil.copytree(old, new)
    message = prepare_work_dir(new, ["ketamine_fc_wf", "group_wf"])
    assert message is not None and MOVED in message and str(old.resolve()) in message
    assert not (new / "ketamine_fc_wf" / "sub_01_wf").exists() and not (new / "group_wf" / "stats").exists()
    assert (new / "crash" / "run1" / "file.txt").is_file() and (new / "keep_me" / "file.txt").is_file()
    assert json.loads((new / "ketamine_fc_wf" / MARKER).read_text())["path"] == str((new / "ketamine_fc_wf").resolve())
    if how == "copy":  # the original is not touched
        assert (old / "ketamine_fc_wf" / "sub_01_wf" / "file.txt").read_text() == "ketamine_fc_wf/sub_01_wf"
        assert json.loads((old / "ketamine_fc_wf" / MARKER).read_text())["path"] == str((old / "ketamine_fc_wf").resolve())
        assert prepare_work_dir(old, ["ketamine_fc_wf", "group_wf"]) is None
    # now in place: nothing more to clear, no message
    (new / "ketamine_fc_wf").mkdir(exist_ok=True)
    assert prepare_work_dir(new, ["ketamine_fc_wf", "group_wf"]) is None
    assert (new / "ketamine_fc_wf").is_dir()


def test_prepare_clears_only_the_names_given(tmp_path):
    old, new = tmp_path / "a", tmp_path / "b"
    old.mkdir()
    prepare_work_dir(old, ["ketamine_fc_wf/sub_01_wf", "ketamine_fc_wf/sub_02_wf", "group_wf"])
    for name in ("ketamine_fc_wf/sub_01_wf", "ketamine_fc_wf/sub_02_wf", "group_wf"):
        (old / name / "cached.txt").write_text(name)
    old.rename(new)
    message = prepare_work_dir(new, ["ketamine_fc_wf/sub_01_wf"])  # another run holds sub-02 and the group
    assert message is not None and str(old.resolve()) in message and "ketamine_fc_wf/sub_01_wf" in message
    assert not (new / "ketamine_fc_wf" / "sub_01_wf" / "cached.txt").exists()
    assert (new / "ketamine_fc_wf" / "sub_02_wf" / "cached.txt").is_file()
    assert (new / "group_wf" / "cached.txt").is_file()
