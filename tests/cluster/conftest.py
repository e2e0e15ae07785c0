"""Fixtures of the cluster tests: whether a Slurm cluster answers, and a small study with its MultiProc reference.

Tests marked ``slurm`` need a cluster with an idle node (``tools/slurm_local.sh start`` makes a single-node one on
this machine, as ``.ci/run`` does); elsewhere they are skipped with the reason. The reference run is made once per
test session, also under pytest-xdist (a file lock in the shared temporary folder).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from slurm_study import PARTICIPANT_OPTIONS, cli, slurm_unavailable, write_study  # noqa: E402


@pytest.fixture(scope="session")
def slurm_cluster():
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def study(slurm_cluster, tmp_path_factory, shared_data):
    """The study and its MultiProc reference (participant and group levels): ``{root, bids, reference}``."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # one folder for every xdist worker
    root = shared / "slurm_study"
    with open(str(root) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (root / "done").is_file():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            bids = write_study(root, shared_data)
            ref = root / "multiproc"
            proc = cli("ketamine_fc", bids, ref, "participant", "-w", root / "work_multiproc", "--nprocs", "2",
                       *PARTICIPANT_OPTIONS)
            assert proc.returncode == 0, proc.stderr
            proc = cli("ketamine_fc", bids, ref, "group", "-w", root / "work_multiproc")
            assert proc.returncode == 0, proc.stderr
            (root / "done").write_text("ok")
    return {"root": root, "bids": root / "bids", "reference": root / "multiproc"}
