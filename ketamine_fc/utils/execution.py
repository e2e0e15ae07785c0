"""Run a Nipype workflow and learn from the execution graph itself what failed.

- :class:`WorkDirLock`: one lock file per participant (or ``group``) in the work folder, so that two invocations
  never work on the same node folders at once; the second one stops with a clear message.
- :func:`prepare_work_dir`: a cache that was moved or copied with its work folder is detected (its results
  point to the old place) and rebuilt, with a message; only the caches of the locked participants are touched.
- :func:`run_workflow`: runs with a status callback that records every failed node, and a crash folder of
  this invocation alone; returns one :class:`NodeFailure` per failed node, with the user-facing message
  extracted from the crash file. An exception's wording is never used to decide whether something failed.
- Nipype's Slurm plugins (``SLURM``, ``SLURMGraph``) run through the subclasses of :func:`slurm_plugin`: each job
  asks sbatch for its node's memory estimate and processes (:func:`sbatch_resources`), neither needs ``LOGNAME`` or
  ``USER`` (:func:`user_environment`), and ``SLURMGraph`` waits for the jobs it submitted and reports each one.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import math
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from ketamine_fc.errors import InputError

LOGGER = logging.getLogger("ketamine_fc")
MARKER = ".ketamine-fc-workdir.json"
#: the last line of a traceback raised by our own code for bad input
_OURS = re.compile(r"^ketamine_fc\.errors\.(?:InputError|AtlasError|KetamineFCError): (.*)$")
_ANY = re.compile(r"^((?:\w+\.)*\w*(?:Error|Exception|Interrupt|Exit)): ?(.*)$")


class WorkDirLock:
    """Exclusive locks on ``WORK_DIR/.locks/<name>.lock`` for the names an invocation works on."""

    def __init__(self, work_dir, names):
        self.folder = Path(work_dir) / ".locks"
        self.names = sorted(set(names))
        self._files = []

    def __enter__(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            path = self.folder / f"{name}.lock"
            fobj = open(path, "a+")
            try:
                fcntl.flock(fobj, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fobj.seek(0)
                holder = fobj.read().strip() or "another process"
                fobj.close()
                self.release()
                raise InputError(f"the work directory is in use for {name} by another ketamine-fc run ({holder}); "
                                 "wait for it to finish, or give each run its own -w/--work-dir",
                                 path=self.folder.parent) from None
            fobj.seek(0)
            fobj.truncate()
            fobj.write(f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
            fobj.flush()
            self._files.append(fobj)
        return self

    def release(self):
        for fobj in self._files:
            fcntl.flock(fobj, fcntl.LOCK_UN)
            fobj.close()
        self._files = []

    def __exit__(self, *exc):
        self.release()
        return False


def prepare_work_dir(work_dir, cache_folders) -> str | None:
    """Make ``work_dir`` usable for the caches ``cache_folders`` (paths relative to it, one per locked participant).

    Each cache folder records where it lives (``MARKER`` inside it). Nipype keeps absolute paths in its cached
    results, so a cache that was moved or copied cannot be resumed: it is cleared. Only the folders named here
    are touched, so caches that another invocation holds are left alone. Returns a sentence for the log when a
    cache was cleared, else None.
    """
    work_dir = Path(work_dir)
    moved_from, cleared = set(), []
    for name in cache_folders:
        folder = work_dir / name
        here = str(folder.resolve())
        marker = folder / MARKER
        if marker.is_file():
            try:
                recorded = json.loads(marker.read_text()).get("path")
            except (OSError, ValueError, AttributeError):
                recorded = None
            if recorded and recorded != here:
                shutil.rmtree(folder)
                cleared.append(name)
                moved_from.add(str(Path(recorded).parents[len(Path(name).parts) - 1]))
        folder.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(marker.name + f".{os.getpid()}")
        tmp.write_text(json.dumps({"path": here}))
        os.replace(tmp, marker)
    if not cleared:
        return None
    return (f"the work directory was moved or copied from {sorted(moved_from)[0]}: the cached results of "
            f"{', '.join(cleared)} point there and cannot be resumed, so they were cleared and are computed again")


@dataclass
class NodeFailure:
    """A node that failed: its full Nipype name, the user-facing message, the crash file and its text."""

    node: str
    message: str
    crash_file: str | None = None
    traceback: str = ""
    ours: bool = False  # raised by ketamine-fc for bad input (the message says it all)


def read_crash(path) -> NodeFailure:
    """Parse a Nipype text crash file into a :class:`NodeFailure`."""
    text = Path(path).read_text(errors="replace")
    node = re.search(r"^Node: (\S+)", text, re.M)
    lines = [ln.strip() for ln in text.splitlines()]
    ours = [m.group(1) for ln in lines if (m := _OURS.match(ln))]
    if ours:
        return NodeFailure(node.group(1) if node else Path(path).name, ours[-1], str(path), text, True)
    errors = [m for ln in lines if (m := _ANY.match(ln)) and not m.group(1).startswith("RuntimeError")]
    errors = errors or [m for ln in lines if (m := _ANY.match(ln))]
    if errors:
        kind, detail = errors[-1].group(1).split(".")[-1], errors[-1].group(2)
        message = f"{kind}: {detail}" if detail else kind
    else:
        message = "unknown error"
    return NodeFailure(node.group(1) if node else Path(path).name, message, str(path), text, False)


class StatusRecorder:
    """A Nipype status callback: remembers failed nodes and passes every event on to ``then``."""

    def __init__(self, then=None):
        self.failed: list[str] = []
        self.then = then

    def __call__(self, node, status):
        if status == "exception":
            self.failed.append(node.fullname)
        if self.then is not None:
            self.then(node, status)


CALLBACK_PLUGINS = ("Linear", "MultiProc", "LegacyMultiProc", "SGE", "SLURM", "PBS", "LSF", "Condor", "OAR",
                    "IPython", "DAGMan", "SLURMGraph")
#: Nipype's Slurm plugins, run through the subclasses of :func:`slurm_plugin`
SLURM_PLUGINS = ("SLURM", "SLURMGraph")
#: time limit of one node's job unless sbatch_args give one (the longest step, reading a 2 mm 700-frame run from
#: a slow disk, takes minutes)
SLURM_NODE_TIME = "01:00:00"
#: memory of the Python process that runs a node (interpreter, NumPy, Nipype), added to the node's estimate
INTERPRETER_GB = 0.3


def run_workflow(workflow, plugin: str, plugin_args: dict, crash_dir, progress=None) -> list[NodeFailure]:
    """Run ``workflow``; return the failed nodes (empty when everything ran).

    Failures are the nodes the status callback saw fail, with the messages from this invocation's crash files
    in ``crash_dir`` (a folder of this invocation alone). An exception that the engine itself raises without any
    node failing becomes one failure named ``workflow``.
    """
    crash_dir = Path(crash_dir)
    crash_dir.mkdir(parents=True, exist_ok=True)
    workflow.config["execution"].update({"crashdump_dir": str(crash_dir), "crashfile_format": "txt",
                                         "stop_on_first_crash": "false", "remove_unnecessary_outputs": "false"})
    recorder = StatusRecorder(progress)
    args = dict(plugin_args)
    if plugin in CALLBACK_PLUGINS:
        args["status_callback"] = recorder
    runner, environment = plugin, nullcontext()
    if plugin in SLURM_PLUGINS:
        runner, environment = slurm_plugin(plugin, args), user_environment()
    engine_error = None
    try:
        with environment:
            workflow.run(plugin=runner, plugin_args=args)
    except Exception as err:  # the engine re-raises a node's error; what failed is read from the graph below
        engine_error = err
        LOGGER.debug("Nipype finished with %s", type(err).__name__, exc_info=True)
    crashes = {f.node: f for f in (read_crash(p) for p in sorted(crash_dir.glob("crash-*.txt")))}
    failures = list(crashes.values())
    for name in recorder.failed:
        if name not in crashes:
            failures.append(NodeFailure(name, "failed without a crash file (see the log)"))
    if engine_error is not None and not failures:
        failures.append(NodeFailure("workflow", f"{type(engine_error).__name__}: {engine_error}"))
    return failures


# ---------------------------------------------------------------------------------------------- Slurm plugins

@contextmanager
def user_environment():
    """``LOGNAME`` and ``USER`` set, for the duration, when the environment lacks them.

    Nipype's SLURM plugin names every job after ``os.environ["LOGNAME"]`` (a KeyError without it) and
    ``getpass.getuser()``, which names Nipype's crash files, reads the same variables before the password database
    (where a container's ``--user`` often has no entry). CI jobs, cron and containers often lack both. The name is
    the account of this process's uid, or the uid itself when it has no account; the jobs inherit it.
    """
    missing = [key for key in ("LOGNAME", "USER") if not os.environ.get(key)]
    if not missing:
        yield
        return
    name = os.environ.get("LOGNAME") or os.environ.get("USER") or account_name()
    for key in missing:
        os.environ[key] = name
    try:
        yield
    finally:
        for key in missing:
            os.environ.pop(key, None)


def account_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _has_flag(tokens, *flags) -> bool:
    """Whether sbatch arguments ``tokens`` set any of ``flags`` (``--mem 2G``, ``--mem=2G``, ``-c4``, ``-c 4``)."""
    for token in tokens:
        for flag in flags:
            if token == flag or token.startswith(flag + "=") or (len(flag) == 2 and token.startswith(flag)):
                return True
    return False


def sbatch_resources(node, given: str = "") -> str:
    """sbatch arguments for one node's job: memory, processes and time, each unless ``given`` already sets it.

    Memory is the node's estimate (``mem_gb``: Nipype's 0.2 GB unless the workflow gives one, as it does for the
    BOLD read) plus :data:`INTERPRETER_GB` for the Python process, in MB rounded up; processes are ``n_procs``;
    the time limit is :data:`SLURM_NODE_TIME`. The partition is left to the cluster (or to ``given``).
    """
    tokens = shlex.split(given or "")
    out = []
    if not _has_flag(tokens, "--mem", "--mem-per-cpu", "--mem-per-gpu"):
        out.append(f"--mem={math.ceil((float(node.mem_gb) + INTERPRETER_GB) * 1024)}M")
    if not _has_flag(tokens, "-c", "--cpus-per-task"):
        out.append(f"--cpus-per-task={max(1, int(getattr(node, 'n_procs', 1) or 1))}")
    if not _has_flag(tokens, "-t", "--time"):
        out.append(f"--time={SLURM_NODE_TIME}")
    return " ".join(out)


def _node_sbatch_args(node) -> tuple[str, bool]:
    extra = node.plugin_args if isinstance(getattr(node, "plugin_args", None), dict) else {}
    return str(extra.get("sbatch_args", "") or ""), bool(extra.get("overwrite"))


def slurm_plugin(plugin: str, plugin_args: dict):
    """An instance of our subclass of Nipype's ``SLURM`` or ``SLURMGraph`` plugin for ``plugin_args``."""
    return _slurm_classes()[plugin](plugin_args=plugin_args)


#: Slurm job states of a job that has not ended
ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
                 "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}
STARTED_STATES = ACTIVE_STATES - {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}


def squeue_jobs(comment: str) -> list[tuple[str, str, str, str]] | None:
    """``(job id, name, state, reason)`` of this user's jobs whose comment is ``comment``, finished ones included
    (Slurm keeps them for MinJobAge, 300 s by default); None when squeue cannot answer."""
    try:
        proc = subprocess.run(["squeue", f"--user={os.getuid()}", "--noheader", "--states=all",
                               "--format=%i|%j|%T|%r|%k"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    jobs = []
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 5 and parts[4] == comment:
            jobs.append((parts[0], parts[1], parts[2], parts[3]))
    return jobs


@functools.cache
def _slurm_classes() -> dict:
    from nipype.pipeline.plugins.slurm import SLURMPlugin as NipypeSLURM
    from nipype.pipeline.plugins.slurmgraph import SLURMGraphPlugin as NipypeSLURMGraph

    class SLURMPlugin(NipypeSLURM):
        """Nipype's SLURM plugin (one job per node, polled with squeue), asking for each node's resources."""

        def __init__(self, plugin_args=None):
            super().__init__(plugin_args=plugin_args)
            self._base_sbatch_args = self._sbatch_args or ""

        def _submit_batchtask(self, scriptfile, node):
            given, overwrite = _node_sbatch_args(node)
            if not overwrite:  # Nipype appends the node's arguments to these
                self._sbatch_args = " ".join(filter(None, [
                    self._base_sbatch_args, sbatch_resources(node, f"{self._base_sbatch_args} {given}")]))
            return super()._submit_batchtask(scriptfile, node)

    class SLURMGraphPlugin(NipypeSLURMGraph):
        """Nipype's SLURMGraph plugin (the whole graph submitted at once, dependencies left to Slurm), made usable.

        Nipype's version fails with an AttributeError when its plugin_args lack ``dont_resubmit_completed_jobs``
        (the attribute is set only inside an ``if``), joins the global and a node's sbatch arguments without a
        space, and returns as soon as the jobs are submitted: the caller would report success before anything ran,
        and a failed job leaves its dependants pending forever (``DependencyNeverSatisfied``). Here the jobs carry a
        comment of this run; :meth:`run` follows them with squeue until all have ended, reports each node's start
        and end to the status callback, cancels the jobs that can no longer run, and records a job that Slurm ended
        (time limit, memory) as a crash file of its node.
        """

        def __init__(self, plugin_args=None):
            args = dict(plugin_args or {})
            self._callback = args.pop("status_callback", None)  # Nipype warns that graph plugins ignore it
            self._poll = float(args.pop("poll_sleep_duration", 2.0))
            args.setdefault("dont_resubmit_completed_jobs", False)
            args.setdefault("sbatch_args", "")
            super().__init__(plugin_args=args)
            self._dont_resubmit_completed_jobs = bool(args["dont_resubmit_completed_jobs"])
            self.comment = f"ketamine-fc-{uuid.uuid4().hex[:12]}"
            self._global_sbatch_args = self._sbatch_args or ""  # Nipype reads -o/-e from it; _get_args adds it

        def _get_args(self, node, keywords):
            values = list(super()._get_args(node, [k for k in keywords if k != "sbatch_args"]))
            out = []
            for keyword in keywords:
                if keyword != "sbatch_args":
                    out.append(values.pop(0))
                    continue
                given, overwrite = _node_sbatch_args(node)
                wanted = sbatch_resources(node, f"{self._global_sbatch_args} {given}")
                args = [given] if overwrite else [self._global_sbatch_args, given, wanted]
                out.append(" ".join(a for a in args + [f"--comment={self.comment}"] if a))
            return tuple(out)

        def run(self, graph, config, updatehash=False):
            import networkx as nx

            nodes = list(nx.topological_sort(graph))  # the order Nipype numbers the jobs in
            self._crash_dir = Path(config["execution"].get("crashdump_dir") or os.getcwd())
            try:
                super().run(graph, config, updatehash=updatehash)
                self._follow(nodes)
            except KeyboardInterrupt:
                self._cancel([job for job, _, state, _ in squeue_jobs(self.comment) or [] if state in ACTIVE_STATES])
                raise

        @staticmethod
        def job_name(index, node) -> str:
            return f"j{index}_{node._id}".replace("-", "_").replace(".", "_").replace(":", "_")

        def _notify(self, node, status):
            if self._callback is not None:
                self._callback(node, status)

        def _cancel(self, jobs):
            if jobs:
                subprocess.run(["scancel", *jobs], capture_output=True, text=True, timeout=120)

        def _follow(self, nodes):
            by_name = {self.job_name(i, node): node for i, node in enumerate(nodes)}
            started, ended, cancelled, failures = set(), set(), set(), 0
            while True:
                jobs = squeue_jobs(self.comment)
                if jobs is None:  # squeue did not answer (a busy controller): ask again
                    failures += 1
                    if failures > 30:
                        raise RuntimeError("squeue does not answer: cannot follow the submitted Slurm jobs")
                    time.sleep(self._poll)
                    continue
                failures, active, stuck = 0, False, []
                for job, name, state, reason in jobs:
                    node = by_name.get(name)
                    if node is None or job in cancelled:
                        continue
                    if state in STARTED_STATES or (state not in ACTIVE_STATES and name not in started):
                        if name not in started:
                            started.add(name)
                            self._notify(node, "start")
                    if state == "PENDING" and reason == "DependencyNeverSatisfied":
                        stuck.append(job)  # an upstream job failed: this one can never run
                    elif state in ACTIVE_STATES:
                        active = True
                    elif name not in ended:
                        ended.add(name)
                        if state == "COMPLETED":
                            self._notify(node, "end")
                        else:
                            self._job_crash(node, job, state)
                            self._notify(node, "exception")
                if stuck:  # their dependants then become stuck in turn, and are cancelled at the next poll
                    LOGGER.debug("Cancelling %d Slurm job(s) whose upstream job failed", len(stuck))
                    self._cancel(stuck)
                    cancelled.update(stuck)
                elif not active:
                    break
                time.sleep(self._poll)
            seen = {name for _, name, _, _ in jobs}
            for name, node in by_name.items():  # ended before squeue saw them, or never submitted
                if name in ended or name in seen:
                    continue
                if list(Path(node.output_dir()).glob("result_*.pklz")):
                    continue
                self._job_crash(node, None, "not found by squeue")
                self._notify(node, "exception")

        def _job_crash(self, node, job, state):
            """A crash file for a job that ended without Nipype's own (killed by Slurm: time, memory, node)."""
            if any(f"Node: {node.fullname}\n" in p.read_text(errors="replace")
                   for p in self._crash_dir.glob("crash-*.txt")):
                return  # the node raised: Nipype wrote the crash file
            log = Path(node.base_dir or ".") / (node._hierarchy or "").split(".")[0] / "batch"
            what = f"the Slurm job {job} of this step ended {state}" if job else "this step's Slurm job was not seen"
            self._crash_dir.mkdir(parents=True, exist_ok=True)
            (self._crash_dir / f"crash-slurm-{job or uuid.uuid4().hex[:8]}-{node._id}.txt").write_text(
                f"Node: {node.fullname}\n\nSlurmJobError: {what} without a result "
                f"(its sbatch output is in {log})\n")

    return {"SLURM": SLURMPlugin, "SLURMGraph": SLURMGraphPlugin}
