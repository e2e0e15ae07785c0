"""Provenance of every invocation, under ``OUTPUT_DIR/logs/``: a log file (command, versions, timings, full
tracebacks), the complete settings as a TOML file that ``--config`` reads back, and the methods text to cite
(``OUTPUT_DIR/CITATION.md``, with a copy in ``logs/``).

Also: the settings that made the outputs already in a folder, so that a rerun with other settings stops
instead of silently mixing results.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import platform
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

from ketamine_fc import __version__
from ketamine_fc.utils.derivatives import atomic_path

LOGGER = logging.getLogger("ketamine_fc")
PACKAGES = ("numpy", "scipy", "pandas", "statsmodels", "nibabel", "nilearn", "nipype", "pybids", "matplotlib",
            "zlib-ng")
#: loggers whose records go to the log file
LOGGED = ("ketamine_fc", "ketamine_fc.trace", "nipype", "py.warnings")


def versions() -> dict:
    """ketamine-fc, Python and the versions of the packages the results depend on."""
    out = {"ketamine-fc": __version__, "python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no LOGNAME/USER and no passwd entry (containers, cron)
        return str(os.getuid())


@dataclass
class Invocation:
    """One run of ``ketamine-fc``: its identity, log file and settings file."""

    level: str
    ident: str
    started: float
    log_file: Path
    config_file: Path
    handler: logging.Handler

    def finish(self, code: int) -> None:
        seconds = time.time() - self.started
        LOGGER.debug("Finished with exit code %d after %.1f s", code, seconds)
        for name in LOGGED:
            logging.getLogger(name).removeHandler(self.handler)
        self.handler.close()


def start_invocation(settings, argv, level: str) -> Invocation:
    """Open ``OUTPUT_DIR/logs/ketamine-fc_<level>_<time>_<id>.log`` and write the settings beside it."""
    from ketamine_fc.config import dump_toml

    logs = Path(settings.output_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ident = f"{level}_{datetime.now():%Y%m%d-%H%M%S}_{uuid.uuid4().hex[:6]}"
    log_file = logs / f"ketamine-fc_{ident}.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    for name in LOGGED:
        logging.getLogger(name).addHandler(handler)
    config_file = logs / f"ketamine-fc_{ident}_config.toml"
    header = (f"ketamine-fc {__version__}, {level} level, {datetime.now():%Y-%m-%d %H:%M:%S}\n"
              f"reproduce with: ketamine-fc {settings.bids_dir} NEW_OUTPUT_DIR {level} --config {config_file.name}")
    with atomic_path(config_file) as tmp:
        tmp.write_text(dump_toml(settings, header), encoding="utf-8")
    LOGGER.debug("Command: %s", " ".join([Path(sys.argv[0]).name] + [str(a) for a in argv]))
    LOGGER.debug("Working directory: %s; host %s; user %s", os.getcwd(), socket.gethostname(), _user())
    LOGGER.debug("Versions: %s", json.dumps(versions()))
    LOGGER.debug("Settings: %s", config_file)
    return Invocation(level, ident, time.time(), log_file, config_file, handler)


def write_citation(output_dir, text: str) -> Path:
    """Write (or refresh) ``OUTPUT_DIR/CITATION.md``: what was run, in words, with references; return its path.

    The same text goes to ``OUTPUT_DIR/logs/CITATION.md`` beside the log of the invocation, where earlier
    versions wrote it. Each level calls this, so the file describes the last level run.
    """
    path = Path(output_dir) / "CITATION.md"
    for target in (path, Path(output_dir) / "logs" / "CITATION.md"):
        with atomic_path(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return path


def recorded_parameters(files) -> dict:
    """``{json.dumps(Parameters): [files]}`` from the JSON sidecars of ``files`` (outputs or their sidecars)."""
    groups: dict = {}
    for path in files:
        path = Path(path)
        sidecar = path if path.suffix == ".json" else path.with_name(path.name.rsplit(".", 1)[0] + ".json")
        try:
            params = json.loads(sidecar.read_text(encoding="utf-8")).get("Parameters")
        except (OSError, ValueError, AttributeError):
            params = None
        groups.setdefault(json.dumps(params, sort_keys=True), []).append(path)
    return groups


def differences(old: dict | None, new: dict) -> list[str]:
    """``name: old -> new`` for every setting that differs (settings missing on one side included)."""
    old = old or {}
    names = list(new) + [k for k in old if k not in new]
    out = []
    for name in names:
        a, b = old.get(name, "not recorded"), new.get(name, "not recorded")
        if _norm(a) != _norm(b):
            out.append(f"{name}: {_show(a)} -> {_show(b)}")
    return out


def _norm(value):
    return json.loads(json.dumps(value))


def _show(value) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)
