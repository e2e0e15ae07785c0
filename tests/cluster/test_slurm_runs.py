"""The participant level on a real Slurm cluster, three ways, each byte-identical (TSVs) to MultiProc:
Nipype's SLURM and SLURMGraph plugins (without LOGNAME or USER in the environment), and the job array of
ketamine-fc-slurm with the group level as a dependent job."""

import json
import re
import subprocess

import pytest
from slurm_study import PARTICIPANT_OPTIONS, cli, differing, without_user

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def jobs_left(comment) -> list:
    out = subprocess.run(["squeue", "--me", "--noheader", "--format=%i|%k"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split("|")[-1] == comment]


@pytest.mark.parametrize("plugin", ["SLURM", "SLURMGraph"])
def test_nipype_slurm_plugins_without_logname(study, plugin, tmp_path):
    out = tmp_path / "out"
    proc = cli("ketamine_fc", study["bids"], out, "participant", "-w", tmp_path / "work", "--plugin", plugin,
               *PARTICIPANT_OPTIONS, env=without_user())
    assert proc.returncode == 0, proc.stderr
    assert differing(study["reference"], out, group=False) == []
    batch = next((tmp_path / "work").rglob("batch"))
    if plugin == "SLURM":
        assert list(batch.glob("slurm-*.out"))  # the steps ran as Slurm jobs
    else:
        # each step's job asked for its node's memory and a time limit, and the command waited for every job
        submit = (batch / "submit_jobs.sh").read_text()
        assert "--mem=" in submit and "--time=" in submit
        comment = re.search(r"--comment=(ketamine-fc-\w+)", submit).group(1)
        assert jobs_left(comment) == []
    log = next((out / "logs").glob("ketamine-fc_participant_*.log")).read_text()
    assert "KeyError" not in log


def test_job_array_then_dependent_group_job(study, tmp_path):
    from ketamine_fc.cli.slurm import submissions, wait_for

    out, work = tmp_path / "out", tmp_path / "work"
    args = ["ketamine_fc.cli.slurm", study["bids"], out, "-w", work, *PARTICIPANT_OPTIONS, "--mem", "1500M",
            "--time", "0:20:00"]
    proc = cli(*args, env=without_user())
    assert proc.returncode == 0, proc.stderr
    record = submissions(out / "logs" / "slurm")[-1]
    assert record["participants"] == ["01", "02"] and record["group_job"]
    states = wait_for([record["array_job"], record["group_job"]], timeout=300)
    logs = out / "logs" / "slurm"
    assert set(states.values()) <= {"COMPLETED"}, (states, [p.read_text() for p in logs.glob("*.out")])
    assert (logs / f"{record['array_job']}_0.exit").read_text().strip() == "0"
    assert differing(study["reference"], out) == []  # participants and group alike
    status = cli("ketamine_fc.cli.slurm", study["bids"], out, "--status")
    assert status.returncode == 0 and "Every task completed" in status.stdout, status.stdout
    assert re.search(r"group\s+COMPLETED", status.stdout), status.stdout

    # a rerun finds nothing to do; with one session's measures gone it plans that participant alone
    again = cli(*args)
    assert again.returncode == 0 and "Nothing to submit" in again.stderr, again.stderr
    next(out.glob("sub-02/**/*_desc-network_measures.tsv")).unlink()
    dry = cli(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "PARTICIPANTS=(02)" in dry.stdout and "#SBATCH --array=0-0" in dry.stdout
    assert "sub-02: no network measures for sub-02_ses-post" in dry.stderr
    assert json.loads((logs / f"submission_{record['array_job']}.json").read_text())["expected"]["02"]
