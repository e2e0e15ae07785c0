"""Helpers of the cluster tests: whether a Slurm cluster answers, a small study, and TSV comparison."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "participant"))

from builder import make_dataset  # noqa: E402

SUBJECTS = ("01", "02")
#: two participants, one short run each; pre and post sessions so that the group level has something to compare
DESIGN = {"01": {"pre1": [[10]]}, "02": {"post": [[]]}}
PARTICIPANT_OPTIONS = ("--min-frames", "20")


def slurm_unavailable() -> str | None:
    """Why the Slurm tests cannot run here, or None."""
    if shutil.which("sinfo") is None:
        return "no Slurm here (sinfo not found); tools/slurm_local.sh start makes a single-node cluster"
    try:
        proc = subprocess.run(["sinfo", "--noheader", "--states=idle,mix", "--format=%n"], capture_output=True,
                              text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo does not answer"
    if proc.returncode != 0:
        return f"sinfo failed ({(proc.stderr or proc.stdout).strip()})"
    if not proc.stdout.strip():
        return "sinfo shows no idle node (tools/slurm_local.sh start makes one)"
    return None


def cli(*args, env=None, timeout=600):
    """Run a command of this package in a fresh process; fails on a traceback."""
    proc = subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


def without_user(environ=None) -> dict:
    """The environment without LOGNAME and USER (as in CI jobs, cron, containers)."""
    env = dict(os.environ if environ is None else environ)
    env.pop("LOGNAME", None)
    env.pop("USER", None)
    return env


def write_study(root: Path, shared_data: Path) -> Path:
    bids = root / "bids"
    make_dataset(bids, shared_data, DESIGN, seed=3, n_frames=60)
    (bids / "phenotype").mkdir()
    pd.DataFrame({"participant_id": [f"sub-{s}" for s in SUBJECTS] * 2,
                  "timepoint": ["baseline"] * 2 + ["week2"] * 2,
                  "madrs": [30, 30, 10, 25]}).to_csv(bids / "phenotype" / "madrs.tsv", sep="\t", index=False)
    return bids


def tsv_files(out: Path) -> list[str]:
    """Every TSV of the participants and of the group level, relative to ``out`` (none carries a timestamp)."""
    patterns = ("sub-*/**/*.tsv", "group/**/*.tsv")
    return sorted(str(p.relative_to(out)) for pattern in patterns for p in out.glob(pattern))


def differing(reference: Path, out: Path, group=True) -> list[str]:
    """The TSVs of ``reference`` (participants, and the group level if ``group``) that ``out`` lacks or has
    with other bytes."""
    names = [n for n in tsv_files(reference) if group or not n.startswith("group")]
    assert names, f"no TSV in {reference}"
    return [n for n in names if not (out / n).is_file() or (out / n).read_bytes() != (reference / n).read_bytes()]
