"""Run a Nipype workflow and learn from the execution graph itself what failed.

- :class:`WorkDirLock`: one lock file per participant (or ``group``) in the work folder, so that two invocations
  never work on the same node folders at once; the second one stops with a clear message.
- :func:`prepare_work_dir`: a cache that was moved or copied with its work folder is detected (its results
  point to the old place) and rebuilt, with a message; only the caches of the locked participants are touched.
- :func:`run_workflow`: runs with a status callback that records every failed node, and a crash folder of
  this invocation alone; returns one :class:`NodeFailure` per failed node, with the user-facing message
  extracted from the crash file. An exception's wording is never used to decide whether something failed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import socket
import time
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
                    "IPython", "DAGMan")


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
    engine_error = None
    try:
        workflow.run(plugin=plugin, plugin_args=args)
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
