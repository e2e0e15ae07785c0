"""``ketamine-fc BIDS_DIR OUTPUT_DIR participant|group``: settings -> plan -> workflow -> run -> summary -> exit code.

The console shows what happens in words and one line per problem, never a traceback; full tracebacks go
to the log file under ``OUTPUT_DIR/logs/``. Exit codes: 0 everything done, 1 a problem was reported,
2 a usage error (argparse), 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
import time

from ketamine_fc import __version__
from ketamine_fc.errors import KetamineFCError

LOGGER = logging.getLogger("ketamine_fc")
#: records that only the log file receives (tracebacks)
TRACE = logging.getLogger("ketamine_fc.trace")


class _ConsoleFormatter(logging.Formatter):
    def format(self, record):
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = "" if record.levelno < logging.WARNING else f"{record.levelname} "
        return f"{stamp} {level}{record.getMessage()}"


def setup_logging(verbose: int = 0) -> None:
    """Console: our messages (INFO, DEBUG with -v); Nipype's only with -vv. Python warnings go to the log file."""
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_ConsoleFormatter())
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    LOGGER.handlers[:] = [console]
    LOGGER.setLevel(logging.DEBUG)
    LOGGER.propagate = False
    TRACE.propagate = False
    TRACE.setLevel(logging.DEBUG)
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.propagate = False
    warnings_logger.handlers[:] = [logging.NullHandler()]
    import nipype  # noqa: F401  (importing nipype installs its console handler on the "nipype" logger)

    nipype_logger = logging.getLogger("nipype")
    nipype_logger.propagate = False
    for handler in list(nipype_logger.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.INFO if verbose >= 2 else logging.CRITICAL + 10)


def main(argv=None) -> int:
    """Entry point; returns the process exit code."""
    from ketamine_fc.atlases.registry import absolutize_environment
    from ketamine_fc.cli.parser import parse_args

    argv = list(sys.argv[1:] if argv is None else argv)
    absolutize_environment()
    setup_logging()
    try:
        settings = parse_args(argv)
    except KetamineFCError as err:  # a usage error: the options or the --config file
        print(f"ketamine-fc: error: {err}", file=sys.stderr)
        return 2
    try:
        setup_logging(settings.verbose)
        LOGGER.info("ketamine-fc %s, %s level", __version__, settings.analysis_level)
        if settings.analysis_level == "participant":
            from ketamine_fc.cli.participant import run_participant

            return run_participant(settings, argv)
        from ketamine_fc.cli.group import run_group_level

        return run_group_level(settings, argv)
    except KetamineFCError as err:
        print(f"ketamine-fc: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ketamine-fc: interrupted; rerun with the same -w/--work-dir to resume", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line here; run_level has written the traceback to the log file
        print(f"ketamine-fc: internal error ({type(err).__name__}: {err}); the traceback is in the log file under "
              "OUTPUT_DIR/logs/. Please report it.", file=sys.stderr)
        return 1


def prepare_folders(settings):
    """Check the folders before anything is written; return the settings with ``work_dir`` set."""
    from pathlib import Path

    from ketamine_fc.config import replace
    from ketamine_fc.errors import InputError
    from ketamine_fc.utils.dirs import check_output_dir, check_work_dir, check_writable

    work_dir = settings.work_dir or (Path.cwd() / "work").absolute()
    if not Path(settings.bids_dir).is_dir():
        raise InputError("the BIDS directory does not exist", path=settings.bids_dir)
    check_output_dir(settings.output_dir, settings.bids_dir, settings.fmriprep_dir)
    check_work_dir(work_dir, settings.output_dir, settings.bids_dir, settings.fmriprep_dir)
    created = [p for p in (settings.output_dir, work_dir) if not Path(p).exists()]
    try:
        check_writable(work_dir, "work directory")
        check_writable(settings.output_dir, "output directory")
    except InputError:
        for folder in created:  # leave no empty folder behind
            if Path(folder).is_dir() and not any(Path(folder).iterdir()):
                Path(folder).rmdir()
        raise
    return replace(settings, work_dir=work_dir)


def run_level(settings, argv, level: str, body) -> int:
    """Check the folders and the plugin, open the invocation's log, run ``body(settings, invocation)``."""
    from ketamine_fc.utils.provenance import start_invocation

    settings = prepare_folders(settings)
    plugin_settings(settings)  # an unknown plugin stops here, before anything is written
    invocation = start_invocation(settings, argv, level)
    code = 1
    try:
        code = body(settings, invocation)
    except Exception as err:
        TRACE.debug("Stopped by %s", type(err).__name__, exc_info=True)
        raise
    finally:
        invocation.finish(code)
    return code


def plugin_settings(settings) -> tuple[str, dict]:
    """The Nipype plugin and its arguments from ``--plugin``, ``--nprocs`` and ``--mem-gb``."""
    import nipype.pipeline.plugins as plugins

    from ketamine_fc.errors import InputError

    plugin = settings.plugin or ("MultiProc" if settings.nprocs > 1 else "Linear")
    if not hasattr(plugins, f"{plugin}Plugin"):
        known = sorted(n[: -len("Plugin")] for n in dir(plugins) if n.endswith("Plugin") and n != "DebugPlugin")
        raise InputError(f"--plugin {plugin} is not a Nipype plugin (available: {', '.join(known)})")
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
             "connectivity": "computing FC and network measures", "run_report": "drawing the run's report figures",
             "session_report": "drawing the session's report figures",
             "participant_report": "writing the participant report"}

    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, {}

    def __call__(self, node, status):
        key = next((k for k in self.STEPS if node.name == k or node.name.endswith(f"_{k}")), None)
        if key is None:
            return
        step = self.STEPS[key]
        where = ".".join(p for p in node.fullname.split(".")[1:-1] + [node.name[: -len(key) - 1]] if p)
        where = where.replace("_bold_wf", "").replace("_fc_wf", "").replace("_wf", "")
        if status == "start":
            self.started[node.fullname] = time.time()
        elif status in ("end", "exception") and node.fullname in self.started:  # Linear reports skipped steps too
            self.done += 1
            took = time.time() - self.started.pop(node.fullname, time.time())
            verb = "done" if status == "end" else "FAILED"
            LOGGER.info("[%d/%d] %s: %s %s (%.1f s)", self.done, self.total, where, step, verb, took)


def time_since(start: float) -> str:
    seconds = time.time() - start
    return f"{seconds / 60:.1f} min" if seconds > 90 else f"{seconds:.1f} s"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
