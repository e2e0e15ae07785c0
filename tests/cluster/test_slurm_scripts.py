"""What needs no cluster: the sbatch scripts of ketamine-fc-slurm (--dry-run), the choice of the participants a
rerun submits, the status listing, and the resources and environment of our Nipype Slurm plugins."""

import json
import os
import re
import subprocess
import types

import pytest
from slurm_study import make_dataset

from ketamine_fc.cli import slurm
from ketamine_fc.utils import execution

DESIGN = {"01": {"pre1": [[]], "post": [[]]}, "02": {"pre1": [[]]}}


@pytest.fixture(scope="module")
def bids(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("slurm_scripts") / "bids"
    make_dataset(root, shared_data, DESIGN, seed=4, n_frames=20)
    return root


def dry_run(capsys, *argv):
    code = slurm.main([*map(str, argv), "--dry-run"])
    out = capsys.readouterr()
    assert code == 0, out.err
    scripts = re.split(r"^#### (.+)$", out.out, flags=re.M)[1:]
    return {name: text for name, text in zip(scripts[::2], scripts[1::2]) if name.endswith(".sbatch")}, out


def embedded_settings(script: str) -> str:
    return script.split("<<'KETAMINE_FC_SETTINGS'\n", 1)[1].split("\nKETAMINE_FC_SETTINGS\n", 1)[0]


def test_dry_run_prints_an_array_of_the_planned_participants_and_a_dependent_group_job(bids, tmp_path, capsys):
    out, work = tmp_path / "out", tmp_path / "work"
    scripts, printed = dry_run(capsys, bids, out, "-w", work, "--fd-thresh", "0.3", "--partition", "short",
                               "--mem", "3G", "--time", "0:30:00", "--cpus", "2", "--max-running", "5",
                               "--sbatch-arg=--qos=low")
    array = next(text for name, text in scripts.items() if "_array_" in name)
    group = next(text for name, text in scripts.items() if "_group_" in name)
    for line in ["#SBATCH --job-name=ketamine-fc", "#SBATCH --array=0-1%5", "#SBATCH --cpus-per-task=2",
                 "#SBATCH --mem=3G", "#SBATCH --time=0:30:00", "#SBATCH --partition=short", "#SBATCH --qos=low",
                 f"#SBATCH --output={out}/logs/slurm/%A_%a.out", "PARTICIPANTS=(01 02)",
                 f'WORK={work}/"sub-$LABEL"']:
        assert line in array.splitlines(), line
    command = next(line for line in array.splitlines() if " -m ketamine_fc " in line)
    assert f" {bids} {out} participant " in command
    for word in ['--participant-label "$LABEL"', '-w "$WORK"', "--nprocs 2", "--mem-gb 2.5", "--plugin MultiProc"]:
        assert word in command
    assert 'echo "$rc" > "$STATUS"' in array
    # the settings travel whole, with absolute paths: --config reads them back to the same parameters
    from ketamine_fc.cli.parser import parse_args

    config = tmp_path / "config.toml"
    config.write_text(embedded_settings(array))
    again = parse_args([str(bids), str(out), "participant", "--config", str(config)])
    original = parse_args([str(bids), str(out), "participant", "--fd-thresh", "0.3"])
    assert again.parameters("participant") == original.parameters("participant")
    assert "fd_thresh = 0.3" in embedded_settings(array)
    # the group job checks every task's exit status before running the group level
    assert "#SBATCH --job-name=ketamine-fc-group" in group and "PARTICIPANTS=(01 02)" in group
    assert f" {bids} {out} group " in group and 'ARRAY="${1:?' in group
    assert re.search(r"^sbatch --dependency=afterany:\$ARRAY \S+_group_\S+\.sbatch \$ARRAY$", printed.out, re.M)
    for text in (array, group):  # valid bash
        assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    assert not out.exists() and not work.exists()  # a dry run writes nothing


def test_container_and_venv_commands(bids, tmp_path, capsys):
    out = tmp_path / "out"
    image = tmp_path / "ketamine-fc.sif"
    image.write_text("")
    scripts, _ = dry_run(capsys, bids, out, "-w", tmp_path / "w", "--container", image, "--no-group")
    (array,) = scripts.values()
    command = next(line for line in array.splitlines() if " participant --config" in line)
    assert command.startswith("apptainer exec --cleanenv ")
    assert f"--bind {bids}:{bids}:ro" in command and f"--bind {out}:{out} " in command
    assert f" {image} ketamine-fc {bids} {out} participant" in command
    if os.environ.get("KETAMINE_FC_DATA"):
        assert f"--env KETAMINE_FC_DATA={os.environ['KETAMINE_FC_DATA']}" in command
    scripts, _ = dry_run(capsys, bids, out, "-w", tmp_path / "w", "--container", "ketamine-fc:1.0", "--engine",
                         "podman", "--no-group")
    command = next(line for line in next(iter(scripts.values())).splitlines() if " participant --config" in line)
    assert command.startswith('podman run --rm --user "$(id -u):$(id -g)" ')
    assert f"-v {bids}:{bids}:ro" in command and f" ketamine-fc:1.0 {bids} {out} participant" in command
    scripts, _ = dry_run(capsys, bids, out, "-w", tmp_path / "w", "--venv", tmp_path / "venv", "--no-group")
    command = next(line for line in next(iter(scripts.values())).splitlines() if " participant --config" in line)
    assert command.startswith(f"{tmp_path / 'venv' / 'bin' / 'ketamine-fc'} {bids} {out} participant")


def _complete(settings, sessions, parameters=None):
    """Fake the outputs of a finished participant."""
    *measures, report = slurm.expected_outputs(settings, sessions)
    for ses, path in zip(sessions, measures):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"participant_id\tsession_id\tdmn\nsub-{ses.subject}\tses-{ses.session}\t0.5\n")
        path.with_suffix(".json").write_text(json.dumps({"Parameters": parameters or
                                                         settings.parameters("participant")}))
    report.write_text("<html></html>")
    return measures


def test_a_rerun_selects_only_participants_with_missing_or_invalid_outputs(bids, tmp_path, capsys):
    from ketamine_fc.cli.parser import parse_args
    from ketamine_fc.plan import plan_participants

    out = tmp_path / "out"
    settings = parse_args([str(bids), str(out), "participant"])
    plan = plan_participants(settings)
    sessions = plan.participants()
    assert slurm.participant_states(settings, plan) == {
        "01": "no network measures for sub-01_ses-post", "02": "no network measures for sub-02_ses-pre1"}
    measures = _complete(settings, sessions["01"])
    assert slurm.participant_states(settings, plan)["01"] is None
    scripts, printed = dry_run(capsys, bids, out, "-w", tmp_path / "w")
    assert "PARTICIPANTS=(02)" in next(iter(scripts.values())) and "#SBATCH --array=0-0" in printed.out
    assert "not submitted again (--all would): 01" in printed.err
    scripts, _ = dry_run(capsys, bids, out, "-w", tmp_path / "w", "--all")
    assert "PARTICIPANTS=(01 02)" in next(iter(scripts.values()))
    # one session lost (sessions sort by label: post, pre1): the participant runs again
    measures[1].unlink()
    assert slurm.participant_states(settings, plan)["01"] == "no network measures for sub-01_ses-pre1"
    # unreadable, or made with other settings: invalid
    measures[1].write_text("")
    assert slurm.participant_states(settings, plan)["01"].startswith("unreadable network measures for sub-01_ses-pre1")
    _complete(settings, sessions["01"], parameters=dict(settings.parameters("participant"), fd_thresh=0.5))
    assert slurm.participant_states(settings, plan)["01"] == (
        "sub-01_ses-post was made with other settings (fd_thresh: 0.5 -> 0.2)")
    # ... which the participant level refuses without --overwrite: so does the submission, before queueing
    assert slurm.main([str(bids), str(out), "-w", str(tmp_path / "w"), "--dry-run"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    scripts, _ = dry_run(capsys, bids, out, "-w", tmp_path / "w", "--overwrite")
    array = next(iter(scripts.values()))
    assert "PARTICIPANTS=(01 02)" in array and " --overwrite" in array
    # complete again, and the group level newer: nothing to submit
    _complete(settings, sessions["01"]), _complete(settings, sessions["02"])
    (out / "group").mkdir()
    (out / "group" / "report.html").write_text("")
    assert slurm.main([str(bids), str(out), "-w", str(tmp_path / "w")]) == 0
    assert "Nothing to submit" in capsys.readouterr().err


def _record(logs, states):
    logs.mkdir(parents=True)
    (logs / "submission_77.json").write_text(json.dumps({
        "submitted": "2026-01-01T10:00:00", "array_job": "77", "group_job": "78", "participants": ["01", "02"],
        "expected": {"01": [], "02": []}}))
    for i, (exit_code, log) in enumerate(states):
        if exit_code is not None:
            (logs / f"77_{i}.exit").write_text(f"{exit_code}\n")
        (logs / f"77_{i}.out").write_text(log)


def test_status_lists_failed_tasks_with_their_logs(tmp_path, monkeypatch, capsys):
    logs = tmp_path / "out" / "logs" / "slurm"
    _record(logs, [(0, "fine\n"), (1, "10:00:01 ERROR sub-02_ses-pre1_task-rest_run-1: the BOLD is damaged\n")])
    calls = []

    def no_accounting(cmd, timeout=120):
        calls.append(cmd[0])
        if cmd[0] == "sacct":
            return 1, "", "sacct: error: Slurm accounting storage is disabled"
        return 0, "", ""  # squeue: the jobs are gone

    monkeypatch.setattr(slurm, "run_command", no_accounting)
    assert slurm.main(["bids", str(tmp_path / "out"), "--status"]) == 1
    text = capsys.readouterr().out
    assert calls[:2] == ["sacct", "squeue"]
    assert re.search(r"sub-01\s+COMPLETED", text)
    assert f"FAILED sub-02 (FAILED (exit 1)): {logs / '77_1.out'}" in text
    assert "ERROR sub-02_ses-pre1_task-rest_run-1: the BOLD is damaged" in text
    assert "submits only the participants whose outputs are missing or invalid" in text


def test_status_reads_sacct_states_such_as_a_time_limit(tmp_path, monkeypatch, capsys):
    logs = tmp_path / "out" / "logs" / "slurm"
    killed = "slurmstepd: error: *** JOB 79 ON vm CANCELLED AT 2026-01-01T10:00:00 DUE TO TIME LIMIT ***\n"
    _record(logs, [(0, ""), (None, killed)])
    sacct = "77_0|COMPLETED|0:0\n77_1|TIMEOUT|0:0\n78|CANCELLED by 0|0:0\n"
    monkeypatch.setattr(slurm, "run_command", lambda cmd, timeout=120: (0, sacct if cmd[0] == "sacct" else "", ""))
    assert slurm.main(["bids", str(tmp_path / "out"), "--status"]) == 1
    text = capsys.readouterr().out
    assert f"FAILED sub-02 (TIMEOUT): {logs / '77_1.out'}" in text and "DUE TO TIME LIMIT" in text
    assert re.search(r"group\s+CANCELLED", text)


def test_status_of_running_tasks(tmp_path, monkeypatch, capsys):
    logs = tmp_path / "out" / "logs" / "slurm"
    _record(logs, [(None, ""), (None, "")])
    monkeypatch.setattr(slurm, "run_command", lambda cmd, timeout=120: (
        (1, "", "disabled") if cmd[0] == "sacct" else (0, "77_0|RUNNING\n77_1|PENDING\n78|PENDING\n", "")))
    assert slurm.main(["bids", str(tmp_path / "out"), "--status"]) == 0
    assert "2 task(s) still queued or running" in capsys.readouterr().out


def test_memory_sizes():
    assert slurm.memory_gb("2G") == 2 and slurm.memory_gb("1536M") == 1.5 and slurm.memory_gb("2048") == 2
    with pytest.raises(ValueError):
        slurm.memory_gb("lots")


# ---------------------------------------------------------------------------------------------- the plugins

def fake_node(mem_gb=0.2, n_procs=1, plugin_args=None):
    return types.SimpleNamespace(mem_gb=mem_gb, n_procs=n_procs, plugin_args=plugin_args or {}, _id="extract",
                                 fullname="wf.sub_01_wf.extract", _hierarchy="wf.sub_01_wf", base_dir="/tmp")


def test_each_job_asks_for_its_nodes_memory_processes_and_a_time_limit():
    args = execution.sbatch_resources(fake_node(mem_gb=0.53, n_procs=2))
    assert args == f"--mem={int((0.53 + 0.3) * 1024) + 1}M --cpus-per-task=2 --time=01:00:00"
    assert execution.sbatch_resources(fake_node(), "-p short --mem 4G -t 10") == "--cpus-per-task=1"
    assert execution.sbatch_resources(fake_node(), "--mem-per-cpu=1G -c4 --time=5") == ""


def test_without_logname_or_user_the_account_name_is_set_for_the_run_only(monkeypatch):
    import pwd

    monkeypatch.delenv("LOGNAME", raising=False)
    monkeypatch.delenv("USER", raising=False)
    with execution.user_environment():
        assert os.environ["LOGNAME"] == os.environ["USER"] == pwd.getpwuid(os.getuid()).pw_name
    assert "LOGNAME" not in os.environ and "USER" not in os.environ
    monkeypatch.setenv("LOGNAME", "someone")
    with execution.user_environment():
        assert os.environ["USER"] == "someone"
    assert "USER" not in os.environ and os.environ["LOGNAME"] == "someone"
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))  # a container's --user
    assert execution.account_name() == str(os.getuid())


def test_slurm_plugin_adds_the_resources_to_each_sbatch_call(monkeypatch):
    plugin = execution.slurm_plugin("SLURM", {"sbatch_args": "-p short"})
    seen = []
    parent = type(plugin).__mro__[1]
    monkeypatch.setattr(parent, "_submit_batchtask", lambda self, script, node: seen.append(self._sbatch_args))
    plugin._submit_batchtask("script.sh", fake_node(mem_gb=1.0))
    plugin._submit_batchtask("script.sh", fake_node(plugin_args={"sbatch_args": "--mem=8G"}))
    assert seen == ["-p short --mem=1332M --cpus-per-task=1 --time=01:00:00",
                    "-p short --cpus-per-task=1 --time=01:00:00"]  # Nipype then appends the node's --mem=8G


def test_slurmgraph_plugin_is_usable_without_plugin_args_and_tags_its_jobs():
    plugin = execution.slurm_plugin("SLURMGraph", {})  # Nipype's own raises AttributeError here
    assert plugin._dont_resubmit_completed_jobs is False
    template, args = plugin._get_args(fake_node(mem_gb=0.7), ["template", "sbatch_args"])
    assert template.startswith("#!/bin/bash")
    assert args == f"--mem=1024M --cpus-per-task=1 --time=01:00:00 --comment={plugin.comment}"
    plugin = execution.slurm_plugin("SLURMGraph", {"sbatch_args": "-p short", "status_callback": print})
    (args,) = plugin._get_args(fake_node(plugin_args={"sbatch_args": "-t 5"}), ["sbatch_args"])
    assert args == f"-p short -t 5 --mem=512M --cpus-per-task=1 --comment={plugin.comment}"
    assert plugin._callback is print
