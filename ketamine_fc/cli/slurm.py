"""``ketamine-fc-slurm BIDS_DIR OUTPUT_DIR [participant options]``: the participant level as a Slurm job array.

One participant per array task, each with its own work folder and log (``OUTPUT_DIR/logs/slurm/%A_%a.out``),
then the group level as a job that starts once every task has ended (``--dependency=afterany``) and runs only if
all of them succeeded (otherwise it lists the failed ones and stops).

- The participants are those the participant level itself would process: the same planning step
  (:func:`ketamine_fc.plan.plan_participants`) with the same options, so a problem it finds is reported here,
  before anything is queued.
- A rerun submits only the participants whose outputs are missing or invalid (:func:`participant_states`: a
  planned session without its network measures, an unreadable one, one made with other settings, or no
  participant report); ``--all`` submits every one.
- ``--dry-run`` prints the two sbatch scripts and the commands that would submit them; nothing is written.
- ``--status`` lists the tasks of the last submission with their state (from ``sacct``, else ``squeue`` and the
  exit status each task writes), the log file of each failed one and its last error lines.

The settings travel as a complete ``--config`` TOML written into each script (absolute paths), so the jobs need
neither the submitting shell's folder nor its options. A task runs ``ketamine-fc`` from this Python environment,
from ``--venv PATH``, or from ``--container IMAGE`` (Apptainer/Singularity, Podman or Docker) with the
input folders bound read-only and the output and work folders writable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ketamine_fc import __version__

LOGGER = logging.getLogger("ketamine_fc")
ARRAY_NAME = "ketamine-fc"
GROUP_NAME = "ketamine-fc-group"
ENGINES = ("apptainer", "singularity", "podman", "docker")
#: options of ours that a participant-level option of the same name would shadow
USAGE = ("ketamine-fc-slurm BIDS_DIR OUTPUT_DIR [participant options of ketamine-fc] [--partition P] [--mem 2G] "
         "[--time 1:00:00] [--cpus 1] [--container IMAGE | --venv PATH] [--dry-run | --status]")
DESCRIPTION = ("The participant level of ketamine-fc as a Slurm job array (one participant per task), then the group "
               "level as a job that depends on it. A rerun submits only the participants whose outputs are missing "
               "or invalid.")
EPILOG = ("Every option that is not listed here is a participant-level option of ketamine-fc (ketamine-fc --help), "
          "for example --fd-thresh 0.3, --participant-label 01 02 or -w /scratch/work. Measured here: a participant "
          "with three 2 mm, 700-frame runs takes under a minute on one core and 0.6 GB (see the README).")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ketamine-fc-slurm", usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
                                allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"ketamine-fc-slurm {__version__}")
    p.add_argument("bids_dir", help="raw BIDS dataset, as for ketamine-fc")
    p.add_argument("output_dir", help="output folder, as for ketamine-fc")
    res = p.add_argument_group("resources of one array task (one participant)")
    res.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    res.add_argument("--account", help="Slurm account (default: yours)")
    res.add_argument("--mem", default="2G", help="memory per task, in sbatch's form (2G, 4000M) (default: %(default)s)")
    res.add_argument("--time", default="1:00:00", help="time limit per task (default: %(default)s)")
    res.add_argument("--cpus", type=int, default=1, help="cores per task; ketamine-fc runs that many processes "
                     "(default: %(default)s)")
    res.add_argument("--max-running", type=int, metavar="N", help="run at most N tasks at once (sbatch --array=...%%N)")
    res.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG", help="another sbatch option for both "
                     "jobs, e.g. --sbatch-arg=--qos=short (repeatable)")
    grp = p.add_argument_group("group level")
    grp.add_argument("--group-mem", default="4G", help="memory of the group job (default: %(default)s)")
    grp.add_argument("--group-time", default="1:00:00", help="time limit of the group job (default: %(default)s)")
    grp.add_argument("--no-group", action="store_true", help="submit the participant level only")
    env = p.add_argument_group("software the jobs run")
    how = env.add_mutually_exclusive_group()
    how.add_argument("--container", metavar="IMAGE", help="run ketamine-fc in this image: an Apptainer/Singularity "
                     ".sif file, or an image name for Podman/Docker (default: this Python environment)")
    how.add_argument("--venv", metavar="PATH", help="run ketamine-fc from this virtual environment")
    env.add_argument("--engine", choices=ENGINES, help="container engine (default: apptainer for a file, else podman)")
    act = p.add_argument_group("what to do")
    act.add_argument("--all", action="store_true", help="submit every participant, even those with complete outputs")
    what = act.add_mutually_exclusive_group()
    what.add_argument("--dry-run", action="store_true", help="print the sbatch scripts and commands; submit nothing")
    what.add_argument("--status", action="store_true", help="list the tasks of the last submission: state, log "
                      "files of the failed ones")
    return p


# ---------------------------------------------------------------------------------------------- options

@dataclass
class Request:
    """What to submit: the parsed options of ours, the participant-level settings and their options."""

    args: argparse.Namespace
    settings: object
    options: list

    @property
    def logs(self) -> Path:
        return Path(self.settings.output_dir) / "logs" / "slurm"

    @property
    def work_root(self) -> Path:
        return Path(self.settings.work_dir or (Path.cwd() / "work")).absolute()


def memory_gb(value: str) -> float:
    """sbatch's memory (``2G``, ``1500M``, ``1T``, a plain number in MB) in GB."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KkMmGgTt]?)[Bb]?\s*", str(value))
    if not match:
        raise ValueError(f"--mem: expected a size such as 2G or 1500M, got {value!r}")
    number, unit = float(match.group(1)), (match.group(2) or "M").upper()
    return number * {"K": 1 / 2**20, "M": 1 / 1024, "G": 1.0, "T": 1024.0}[unit]


def parse(argv) -> Request:
    """Our options, and the participant-level settings from the others (ketamine-fc's own parser)."""
    from ketamine_fc.cli.parser import parse_args

    args, rest = build_parser().parse_known_args(argv)
    for name in ("mem", "group_mem"):
        try:
            memory_gb(getattr(args, name))
        except ValueError as err:
            build_parser().error(str(err).replace("--mem", "--" + name.replace("_", "-")))
    if args.cpus < 1:
        build_parser().error("--cpus must be at least 1")
    if args.engine and not args.container:
        build_parser().error("--engine goes with --container")
    settings = parse_args([args.bids_dir, args.output_dir, "participant", *rest])
    return Request(args, settings, list(rest))


# ---------------------------------------------------------------------------------------------- selection

def expected_outputs(settings, sessions) -> list[Path]:
    """The files a finished participant has: each planned session's network measures, then its report."""
    from ketamine_fc.workflows.outputs import session_output

    files = [session_output(settings.output_dir, ses.entities, ses.runs[0].spatial, "measures", settings.atlas.atlas)
             for ses in sessions]
    return files + [Path(settings.output_dir) / f"sub-{sessions[0].subject}.html"]


def output_problem(settings, sessions) -> str | None:
    """Why a participant's outputs are missing or invalid, or None when they are complete."""
    from ketamine_fc.utils.derivatives import read_tsv
    from ketamine_fc.utils.provenance import differences, recorded_parameters

    wanted = json.loads(json.dumps(settings.parameters("participant")))
    *measures, report = expected_outputs(settings, sessions)
    for ses, path in zip(sessions, measures):
        if not path.is_file():
            return f"no network measures for {ses.label}"
        try:
            ok = len(read_tsv(path)) == 1
        except Exception:  # noqa: BLE001 - any unreadable table is invalid
            ok = False
        if not ok:
            return f"unreadable network measures for {ses.label} ({path.name})"
        recorded = next(iter(recorded_parameters([path])))
        if json.loads(recorded) != wanted:
            diffs = differences(json.loads(recorded), wanted)
            return f"{ses.label} was made with other settings ({'; '.join(diffs[:3]) or 'no sidecar'})"
    if not report.is_file():
        return f"no participant report ({report.name})"
    return None


def participant_states(settings, plan) -> dict:
    """Participant label -> None (outputs complete) or the reason it must run."""
    return {label: output_problem(settings, sessions) for label, sessions in plan.participants().items()}


# ---------------------------------------------------------------------------------------------- scripts

def _q(value) -> str:
    return shlex.quote(str(value))


def _binds(request) -> list[tuple[Path, bool]]:
    """Folders a container needs, with whether each is writable; inputs first so outputs inside them stay writable."""
    s = request.settings
    inputs = [s.bids_dir, s.fmriprep_dir]
    if s.atlas.atlas_dir:
        inputs.append(s.atlas.atlas_dir)
    for var in ("KETAMINE_FC_DATA",):
        inputs += [Path(p) for p in os.environ.get(var, "").split(os.pathsep) if p]
    outputs = [s.output_dir, request.work_root]
    if os.environ.get("KETAMINE_FC_CACHE"):
        outputs.append(Path(os.environ["KETAMINE_FC_CACHE"]))
    out, seen = [], set()
    for path, writable in [(Path(p), False) for p in inputs] + [(Path(p), True) for p in outputs]:
        path = path.absolute()
        if path in seen:
            continue
        seen.add(path)
        if not writable and any(path == o or Path(o) in path.parents for o in outputs):
            continue
        out.append((path, writable))
    return out


def engine_of(args) -> str:
    if args.engine:
        return args.engine
    return "apptainer" if Path(args.container).suffix in (".sif", ".simg") or Path(args.container).is_file() \
        else "podman"


def environment_lines(request) -> list[str]:
    """Exports the jobs need: the atlas folders of the submitting shell (made absolute at start)."""
    lines = []
    for var in ("KETAMINE_FC_DATA", "KETAMINE_FC_CACHE"):
        if os.environ.get(var) and not request.args.container:
            lines.append(f"export {var}={_q(os.environ[var])}")
    return lines


def command_prefix(request) -> str:
    """The shell words that start ``ketamine-fc`` in a job."""
    args = request.args
    if args.venv:
        return _q(Path(args.venv).absolute() / "bin" / "ketamine-fc")
    if not args.container:
        return f"{_q(sys.executable)} -m ketamine_fc"
    engine = engine_of(args)
    env = {var: os.environ[var] for var in ("KETAMINE_FC_DATA", "KETAMINE_FC_CACHE") if os.environ.get(var)}
    binds = _binds(request)
    if engine in ("apptainer", "singularity"):
        words = [engine, "exec", "--cleanenv"]
        for path, writable in binds:
            words += ["--bind", f"{path}:{path}" + ("" if writable else ":ro")]
        for var, value in env.items():
            words += ["--env", f"{var}={value}"]
        return " ".join(_q(w) for w in words + [Path(args.container).absolute() if Path(args.container).is_file()
                                                  else args.container, "ketamine-fc"])
    words = [engine, "run", "--rm", "--user", "UIDGID"]
    for path, writable in binds:
        words += ["-v", f"{path}:{path}" + ("" if writable else ":ro")]
    for var, value in env.items():
        words += ["-e", f"{var}={value}"]
    words.append(args.container)  # its entrypoint is ketamine-fc
    return " ".join(_q(w) for w in words).replace("UIDGID", '"$(id -u):$(id -g)"')


def _sbatch_header(request, name: str, mem: str, time_limit: str, cpus: int, output: str, array: str = "") -> list:
    args = request.args
    lines = ["#!/bin/bash", f"#SBATCH --job-name={name}"]
    if array:
        lines.append(f"#SBATCH --array={array}")
    lines += [f"#SBATCH --cpus-per-task={cpus}", f"#SBATCH --mem={mem}", f"#SBATCH --time={time_limit}"]
    if args.partition:
        lines.append(f"#SBATCH --partition={args.partition}")
    if args.account:
        lines.append(f"#SBATCH --account={args.account}")
    lines.append(f"#SBATCH --output={output}")
    lines += [f"#SBATCH {extra}" for extra in args.sbatch_arg]
    return lines


def _config_lines(request, path: str) -> list:
    from ketamine_fc.config import dump_toml

    text = dump_toml(request.settings, f"settings written by ketamine-fc-slurm {__version__}").rstrip("\n")
    return [f"cat > {path} <<'KETAMINE_FC_SETTINGS'", text, "KETAMINE_FC_SETTINGS"]


def array_script(request, labels) -> str:
    """The sbatch script of the participant level: task i processes ``labels[i]``."""
    args, s = request.args, request.settings
    logs = request.logs
    throttle = f"%{args.max_running}" if args.max_running else ""
    lines = _sbatch_header(request, ARRAY_NAME, args.mem, args.time, args.cpus, f"{logs}/%A_%a.out",
                           array=f"0-{len(labels) - 1}{throttle}")
    lines += [
        (f"# ketamine-fc {__version__}: the participant level, one participant per array task, written by "
         f"ketamine-fc-slurm on {datetime.now():%Y-%m-%d %H:%M}."),
        "# Each task writes its exit status to OUTPUT_DIR/logs/slurm/<array job>_<task>.exit, read by the group job.",
        "set -uo pipefail",
        f"PARTICIPANTS=({' '.join(_q(label) for label in labels)})",
        'LABEL="${PARTICIPANTS[$SLURM_ARRAY_TASK_ID]}"',
        f'WORK={_q(request.work_root)}/"sub-$LABEL"',
        f'STATUS={_q(logs)}/"${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}.exit"',
        'rm -f "$STATUS"',  # a stale one (job ids restart with a new cluster) must not pass for this task's
        'mkdir -p "$WORK"',
        ('echo "ketamine-fc participant level of sub-$LABEL: task ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on '
         '$(hostname), $(date)"'),
        *_config_lines(request, '"$WORK/ketamine-fc-slurm_config.toml"'),
        *environment_lines(request),
    ]
    mem_gb = max(0.5, round(memory_gb(args.mem) - 0.5, 1))  # the rest is the main process's
    run = [command_prefix(request), _q(s.bids_dir), _q(s.output_dir), "participant",
           '--config "$WORK/ketamine-fc-slurm_config.toml"', '--participant-label "$LABEL"', '-w "$WORK"',
           f"--nprocs {args.cpus}", f"--mem-gb {mem_gb:g}", f"--plugin {'MultiProc' if args.cpus > 1 else 'Linear'}",
           "--plugin-args '{}'"]
    if s.overwrite:
        run.append("--overwrite")
    if s.verbose:
        run.append("-" + "v" * s.verbose)
    lines += [" ".join(run), "rc=$?", 'echo "$rc" > "$STATUS"', 'exit "$rc"']
    return "\n".join(lines) + "\n"


def group_script(request, labels) -> str:
    """The sbatch script of the group level; its argument is the array job's id (``none`` without one)."""
    args, s = request.args, request.settings
    logs = request.logs
    lines = _sbatch_header(request, GROUP_NAME, args.group_mem, args.group_time, 1, f"{logs}/group_%j.out")
    rerun = "ketamine-fc-slurm ... --status lists them; the same ketamine-fc-slurm command resubmits them"
    lines += [
        f"# ketamine-fc {__version__}: the group level, written by ketamine-fc-slurm on {datetime.now():%Y-%m-%d}.",
        "# Submitted with --dependency=afterany:<array job> and that id as its argument: it runs once every task has",
        "# ended, and only if every task succeeded.",
        "set -uo pipefail",
        'ARRAY="${1:?usage: sbatch --dependency=afterany:ARRAY_JOB_ID this-script ARRAY_JOB_ID (or none)}"',
        f"PARTICIPANTS=({' '.join(_q(label) for label in labels)})",
        "failed=0",
        'if [ "$ARRAY" != none ]; then',
        '  for i in "${!PARTICIPANTS[@]}"; do',
        f'    if [ "$(cat {_q(logs)}/"${{ARRAY}}_$i.exit" 2>/dev/null)" != 0 ]; then',
        f'      echo "sub-${{PARTICIPANTS[$i]}} failed or did not finish: see {logs}/${{ARRAY}}_$i.out" >&2',
        "      failed=$((failed + 1))",
        "    fi",
        "  done",
        "fi",
        f'STATUS={_q(logs)}/"group_${{SLURM_JOB_ID}}.exit"',
        'if [ "$failed" -ne 0 ]; then',
        f'  echo "The group level was not run: $failed participant(s) failed ({rerun})." >&2',
        '  echo 1 > "$STATUS"',
        "  exit 1",
        "fi",
        f"WORK={_q(request.work_root)}/group",
        'mkdir -p "$WORK"',
        *_config_lines(request, '"$WORK/ketamine-fc-slurm_config.toml"'),
        *environment_lines(request),
        " ".join([command_prefix(request), _q(s.bids_dir), _q(s.output_dir), "group",
                  '--config "$WORK/ketamine-fc-slurm_config.toml"', '-w "$WORK"', "--plugin Linear",
                  "--plugin-args '{}'"] + (["-" + "v" * s.verbose] if s.verbose else [])),
        "rc=$?",
        'echo "$rc" > "$STATUS"',
        'exit "$rc"',
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- Slurm

def run_command(cmd, timeout=120):
    """Run a Slurm command; (exit code, stdout, stderr); 127 when it is not installed."""
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return 127, "", f"{cmd[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, "", f"{cmd[0]}: no answer within {timeout} s"
    return proc.returncode, proc.stdout, proc.stderr


def sbatch(script: Path, options=(), script_args=()) -> str:
    """Submit ``script`` with sbatch ``options`` and the script's arguments; its job id."""
    from ketamine_fc.errors import KetamineFCError

    code, out, err = run_command(["sbatch", "--parsable", *options, script, *script_args])
    if code != 0:
        raise KetamineFCError(f"sbatch refused {script.name}: {err.strip() or out.strip()}")
    return out.strip().split(";")[0]


ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "STAGE_OUT"}


def job_states(job_ids) -> dict:
    """Job (or ``<array>_<task>``) id -> Slurm state, from sacct when it has accounting, else squeue (which
    knows ended jobs for the cluster's MinJobAge only). Unknown jobs are absent."""
    ids = ",".join(str(j) for j in job_ids if j and j != "none")
    if not ids:
        return {}
    states = {}
    code, out, _ = run_command(["sacct", "--noheader", "--parsable2", "--allocations", "--jobs", ids,
                                "--format=JobID,State,ExitCode"])
    if code == 0:
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) >= 2 and parts[0]:
                states[parts[0]] = parts[1].split()[0]  # "CANCELLED by 0" -> CANCELLED
        if states:
            return states
    code, out, _ = run_command(["squeue", "--noheader", "--array", "--states=all", "--jobs", ids, "--format=%i|%T"])
    if code == 0:
        for line in out.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 2:
                states[parts[0]] = parts[1]
    return states


def _task_state(states, array, index, exit_file: Path) -> str:
    """The state of array task ``index`` (or of job ``array`` itself when ``index`` is None)."""
    state = states.get(str(array) if index is None else f"{array}_{index}")
    if state is None and index is not None:  # a pending range such as 123_[2-5] (sacct, squeue without --array)
        for key, value in states.items():
            match = re.fullmatch(rf"{re.escape(str(array))}_\[(.+)\]", key)
            if match and any(_in_range(index, part) for part in match.group(1).split("%")[0].split(",")):
                state = value
    exit_text = exit_file.read_text().strip() if exit_file.is_file() else None
    if state in ACTIVE:
        return state
    if exit_text is not None:
        return "COMPLETED" if exit_text == "0" else f"FAILED (exit {exit_text})"
    return state or "ENDED WITHOUT EXIT STATUS"


def _in_range(index: int, part: str) -> bool:
    lo, _, hi = part.partition("-")
    try:
        return int(lo) <= index <= int(hi or lo)
    except ValueError:
        return False


def last_errors(log: Path, n=3) -> list:
    """The last error lines of a task's log (ours, Slurm's time or memory kill)."""
    if not log.is_file():
        return []
    keep = [line.rstrip() for line in log.read_text(errors="replace").splitlines()
            if " ERROR " in line or "error:" in line.lower() or "oom" in line.lower() or "CANCELLED" in line]
    return keep[-n:]


def submissions(logs: Path) -> list:
    """The submission records of an output folder, oldest first."""
    out = []
    for path in logs.glob("submission_*.json"):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda r: (r.get("submitted", ""), str(r.get("array_job"))))


def show_status(output_dir) -> int:
    """Print the tasks of the last submission; 1 if one failed, else 0."""
    logs = Path(output_dir).absolute() / "logs" / "slurm"
    records = submissions(logs)
    if not records:
        print(f"ketamine-fc-slurm: no submission recorded in {logs}", file=sys.stderr)
        return 1
    record = records[-1]
    array, group = record.get("array_job") or "none", record.get("group_job")
    states = job_states([array, group])
    labels = record.get("participants", [])
    print(f"Submitted {record.get('submitted')}: array job {array} ({len(labels)} participant(s)), group job "
          f"{group or 'none'}" + (f"; {len(records) - 1} earlier submission(s)" if len(records) > 1 else ""))
    failed, running = [], 0
    for i, label in enumerate(labels):
        log = logs / f"{array}_{i}.out"
        state = _task_state(states, array, i, logs / f"{array}_{i}.exit")
        missing = [p for p in record.get("expected", {}).get(label, []) if not Path(p).is_file()]
        if state in ACTIVE:
            running += 1
        elif state != "COMPLETED" or missing:
            failed.append((label, state, log))
        note = f", {len(missing)} output(s) missing" if missing and state == "COMPLETED" else ""
        print(f"  sub-{label:<12} {state}{note}  log: {log}")
    if group:
        glog = logs / f"group_{group}.out"
        gstate = _task_state(states, group, None, logs / f"group_{group}.exit")
        print(f"  group            {gstate}  log: {glog}")
        if gstate not in ACTIVE and gstate != "COMPLETED":
            for line in last_errors(glog):
                print(f"      {line}")
    for label, state, log in failed:
        print(f"FAILED sub-{label} ({state}): {log}")
        for line in last_errors(log):
            print(f"      {line}")
    if failed:
        print(f"{len(failed)} task(s) failed. Running the same ketamine-fc-slurm command again submits only the "
              "participants whose outputs are missing or invalid.")
        return 1
    print(f"{running} task(s) still queued or running." if running else "Every task completed.")
    return 0


def active_submission(logs: Path) -> str | None:
    """The ids of an earlier submission still queued or running, if any."""
    for record in reversed(submissions(logs)):
        ids = [record.get("array_job"), record.get("group_job")]
        code, out, _ = run_command(["squeue", "--noheader", "--jobs", ",".join(str(i) for i in ids if i and
                                                                              i != "none"), "--format=%i|%T"])
        if code == 0 and out.strip():
            return " and ".join(str(i) for i in ids if i and i != "none")
    return None


# ---------------------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    from ketamine_fc.atlases.registry import absolutize_environment
    from ketamine_fc.cli.run import setup_logging
    from ketamine_fc.errors import KetamineFCError

    argv = list(sys.argv[1:] if argv is None else argv)
    absolutize_environment()
    setup_logging()
    if "--status" in argv:
        args, _ = build_parser().parse_known_args(argv)
        return show_status(args.output_dir)
    try:
        request = parse(argv)
    except KetamineFCError as err:
        print(f"ketamine-fc-slurm: error: {err}", file=sys.stderr)
        return 2
    try:
        return _submit(request)
    except KetamineFCError as err:
        print(f"ketamine-fc-slurm: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _submit(request) -> int:
    from ketamine_fc.cli.participant import check_previous_outputs
    from ketamine_fc.plan import plan_participants
    from ketamine_fc.utils.dirs import check_output_dir, check_work_dir

    args, s = request.args, request.settings
    if not Path(s.bids_dir).is_dir():
        from ketamine_fc.errors import InputError

        raise InputError("the BIDS directory does not exist", path=s.bids_dir)
    check_output_dir(s.output_dir, s.bids_dir, s.fmriprep_dir)
    check_work_dir(request.work_root, s.output_dir, s.bids_dir, s.fmriprep_dir)
    plan = plan_participants(s)
    for problem in plan.problems:
        LOGGER.log(logging.WARNING if problem.kind == "skipped" else logging.ERROR, "%s", problem.line())
    participants = plan.participants()
    if not participants:
        LOGGER.error("No session can be processed; nothing was submitted")
        return 1
    if not s.overwrite:
        check_previous_outputs(s, [])  # stops, as every task would, when OUTPUT_DIR holds other settings' outputs
    states = participant_states(s, plan)
    todo = sorted(label for label, why in states.items() if why or args.all)
    done = sorted(set(states) - set(todo))
    for label in todo:
        LOGGER.info("sub-%s: %s", label, states[label] or "complete; resubmitted (--all)")
    if done:
        LOGGER.info("%d participant(s) with complete outputs are not submitted again (--all would): %s", len(done),
                    " ".join(done))
    expected = {label: [str(p) for p in expected_outputs(s, participants[label])] for label in todo}
    if not todo and (args.no_group or _group_current(s)):
        LOGGER.info("Nothing to submit: every participant's outputs are complete%s",
                    "" if args.no_group else " and the group level is newer than them")
        return 0
    logs = request.logs
    scripts = {}
    if todo:
        scripts["array"] = array_script(request, todo)
    if not args.no_group:
        scripts["group"] = group_script(request, todo)
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}"
    paths = {kind: logs / f"ketamine-fc_{kind}_{stamp}.sbatch" for kind in scripts}
    dependency = "--dependency=afterany:"
    if args.dry_run:
        for kind, text in scripts.items():
            print(f"#### {paths[kind]}\n{text}")
        print("#### to submit:")
        print(f"mkdir -p {_q(logs)}")
        if "array" in scripts:
            print(f"ARRAY=$(sbatch --parsable {_q(paths['array'])} | cut -d';' -f1)")
        if "group" in scripts:
            print(f"sbatch {dependency}$ARRAY {_q(paths['group'])} $ARRAY" if "array" in scripts else
                  f"sbatch {_q(paths['group'])} none")
        return 0
    earlier = active_submission(logs)
    if earlier:
        from ketamine_fc.errors import KetamineFCError

        raise KetamineFCError(f"jobs {earlier} of an earlier submission to this output folder are still queued or "
                              "running; wait for them (ketamine-fc-slurm ... --status), or cancel them with scancel")
    logs.mkdir(parents=True, exist_ok=True)
    request.work_root.mkdir(parents=True, exist_ok=True)
    for kind, text in scripts.items():
        paths[kind].write_text(text)
    array = sbatch(paths["array"]) if "array" in scripts else "none"
    group = None
    if "group" in scripts:
        group = sbatch(paths["group"], [f"{dependency}{array}"] if array != "none" else [], [array])
    record = {"submitted": datetime.now().isoformat(timespec="seconds"), "array_job": array, "group_job": group,
              "participants": todo, "expected": expected, "scripts": {k: str(v) for k, v in paths.items()},
              "command": ["ketamine-fc-slurm", *map(str, sys.argv[1:])]}
    (logs / f"submission_{array if array != 'none' else 'group-' + str(group)}.json").write_text(
        json.dumps(record, indent=1))
    if array != "none":
        LOGGER.info("Submitted the participant level as array job %s (%d task(s)); logs %s/%s_<task>.out", array,
                    len(todo), logs, array)
    if group:
        LOGGER.info("Submitted the group level as job %s%s; log %s/group_%s.out", group,
                    f", to start when array job {array} has ended" if array != "none" else "", logs, group)
    LOGGER.info("Follow it with: ketamine-fc-slurm %s %s --status", s.bids_dir, s.output_dir)
    return 0


def _group_current(settings) -> bool:
    """Whether the group report is newer than every participant's network measures."""
    report = Path(settings.output_dir) / "group" / "report.html"
    if not report.is_file():
        return False
    newest = max((p.stat().st_mtime for p in Path(settings.output_dir).glob("sub-*/**/*_desc-network_measures.tsv")),
                 default=0)
    return report.stat().st_mtime >= newest


def wait_for(job_ids, timeout=3600, poll=2.0) -> dict:
    """Wait until none of ``job_ids`` is queued or running; their last states (tests, scripts)."""
    start = time.time()
    while True:
        states = job_states(job_ids)
        if not any(state in ACTIVE for state in states.values()) or time.time() - start > timeout:
            return states
        time.sleep(poll)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
