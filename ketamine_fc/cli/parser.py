"""Command-line parser (BIDS-App shape), built from the settings' field metadata in :mod:`ketamine_fc.config`.

Defaults live only in the dataclasses: the parser leaves an option out of its namespace unless it is given,
so the value of a setting is, in order of precedence, the command line, the ``--config`` TOML, the default.
"""

from __future__ import annotations

import argparse

from ketamine_fc import __version__
from ketamine_fc.config import (Settings, convert_value, default_of, load_toml, option_list,
                                settings_from_values)

DESCRIPTION = ("Resting-state functional connectivity before and after a treatment (Siegel et al. 2021), from "
               "fMRIPrep derivatives. Every option can also be a key of the --config TOML file (the option "
               "name with underscores, e.g. fd_thresh = 0.3); the command line wins.")


def _type(spec):
    def convert(value):
        try:
            return convert_value({**spec, "nargs": None} if spec.get("nargs") else spec, value)
        except (TypeError, ValueError) as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    convert.__name__ = spec["name"]
    return convert


def show_default(spec) -> str:
    """How a default reads in ``--help`` and the README."""
    value = default_of(spec)
    if spec.get("shown"):
        return spec["shown"]
    if spec.get("action") == "store_true":
        return "off"
    if spec.get("action") == "negatable":
        return "on" if value else "off"
    if value is None:
        return "not set"
    if isinstance(value, (tuple, list)):
        return " ".join(map(str, value)) if value else "all"
    if isinstance(value, dict):
        return "{}" if not value else str(value)
    return str(value)


def flags_of(spec) -> list[str]:
    flags = spec.get("flags") or ["--" + spec["name"].replace("_", "-")]
    if spec.get("action") == "negatable":
        flags = flags + ["--no-" + flags[0][2:]]
    return flags


def build_parser() -> argparse.ArgumentParser:
    """The ``ketamine-fc`` parser: one argument per setting of :class:`ketamine_fc.config.Settings`."""
    p = argparse.ArgumentParser(prog="ketamine-fc", description=DESCRIPTION)
    p.add_argument("--version", action="version", version=f"ketamine-fc {__version__}")
    p.add_argument("--config", metavar="TOML", help="settings file (for example OUTPUT_DIR/logs/*_config.toml of an "
                   "earlier run); the command line wins")
    groups = {}
    for spec in option_list():
        help_text = spec["help"].replace("%", "%%")
        if spec.get("positional"):
            p.add_argument(spec["name"], type=_type(spec), choices=spec.get("choices"), help=help_text)
            continue
        group = groups.get(spec["group"]) or groups.setdefault(spec["group"], p.add_argument_group(spec["group"]))
        kwargs = {"dest": spec["name"], "default": argparse.SUPPRESS,
                  "help": f"{help_text} (default: {show_default(spec).replace('%', '%%')})"}
        action = spec.get("action")
        if action == "store_true":
            kwargs["action"] = "store_true"
        elif action == "negatable":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif action == "count":
            kwargs["action"] = "count"
        else:
            kwargs.update(type=_type(spec), choices=spec.get("choices"), nargs=spec.get("nargs"),
                          metavar=spec.get("metavar"))
        group.add_argument(*(spec.get("flags") or ["--" + spec["name"].replace("_", "-")]), **kwargs)
    return p


def parse_args(argv=None) -> Settings:
    """Parse the command line (and ``--config``) into frozen settings."""
    args = vars(build_parser().parse_args(argv))
    config = args.pop("config", None)
    values = load_toml(config) if config else {}
    values.update({k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})
    return settings_from_values(values)


def options_markdown() -> str:
    """Every option, one table per option group, for the README (kept current by a test)."""
    lines, group = [], None
    for spec in option_list():
        if spec.get("positional"):
            continue
        if spec["group"] != group:
            group = spec["group"]
            lines += ["" if lines else None, f"**{group}**", "", "| option | default | what it does |", "|---|---|---|"]
        flags = " ".join(f"`{f}`" for f in flags_of(spec))
        lines.append(f"| {flags} | {show_default(spec)} | {spec['help']} |")
    return "\n".join(line for line in lines if line is not None)
