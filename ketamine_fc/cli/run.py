"""``ketamine-fc BIDS_DIR OUTPUT_DIR participant|group``: settings -> inputs -> workflow -> run -> exit code."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from ketamine_fc import __version__
from ketamine_fc.errors import KetamineFCError

LOGGER = logging.getLogger("ketamine_fc")


def _setup_logging(verbose: int):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(logging.DEBUG if verbose else logging.INFO)
    LOGGER.propagate = False
    from nipype import logging as nlogging

    level = logging.INFO if verbose >= 2 else logging.CRITICAL
    for name in ("nipype.workflow", "nipype.interface", "nipype.utils"):
        nlogging.getLogger(name).setLevel(level)


def main(argv=None) -> int:
    """Entry point; returns the process exit code (0 all done, 1 a participant or input failed, 2 usage)."""
    from ketamine_fc.cli.parser import parse_args

    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    try:
        settings = parse_args(argv)
        _setup_logging(settings.verbose)
        LOGGER.info("ketamine-fc %s, %s level", __version__, settings.analysis_level)
        if settings.analysis_level == "participant":
            from ketamine_fc.cli.participant import run_participant

            return run_participant(settings)
        from ketamine_fc.cli.group import run_group_level

        return run_group_level(settings)
    except KetamineFCError as err:
        if verbose:
            raise
        print(f"ketamine-fc: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ketamine-fc: interrupted; rerun with the same -w/--work-dir to resume", file=sys.stderr)
        return 130


def plugin_settings(settings) -> tuple[str, dict]:
    """The Nipype plugin and its arguments from ``--plugin``, ``--nprocs`` and ``--mem-gb``."""
    plugin = settings.plugin or ("MultiProc" if settings.nprocs > 1 else "Linear")
    args = dict(settings.plugin_args)
    if plugin == "MultiProc":
        args.setdefault("n_procs", settings.nprocs)
        if settings.mem_gb:
            args.setdefault("memory_gb", settings.mem_gb)
    return plugin, args


class Progress:
    """A Nipype status callback that logs each finished step in words."""

    STEPS = {"censor_frames": "censoring frames", "build_atlas": "building the atlas on the BOLD grid",
             "extract_signals": "reading the BOLD", "denoise_signals": "cleaning region signals",
             "connectivity": "computing FC and network measures"}

    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, {}

    def __call__(self, node, status):
        step = self.STEPS.get(node.name)
        if step is None:
            return
        where = ".".join(p for p in node.fullname.split(".")[1:-1] if not p.endswith("bold_wf"))
        if status == "start":
            self.started[node.fullname] = time.time()
        elif status in ("end", "exception"):
            self.done += 1
            took = time.time() - self.started.pop(node.fullname, time.time())
            verb = "done" if status == "end" else "FAILED"
            LOGGER.info("[%d/%d] %s: %s %s (%.1f s)", self.done, self.total, where, step, verb, took)


def time_since(start: float) -> str:
    seconds = time.time() - start
    return f"{seconds / 60:.1f} min" if seconds > 90 else f"{seconds:.1f} s"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
