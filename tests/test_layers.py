"""The package keeps its layers: the import-linter contracts of setup.cfg hold, and CI checks them."""

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _contracts():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return cfg, {s.split(":", 2)[2]: cfg[s] for s in cfg.sections() if s.startswith("importlinter:contract:")}


def _modules(value):
    return set(value.split())


def test_lint_imports_keeps_every_contract():
    pytest.importorskip("importlinter", reason="import-linter is not installed: pip install '.[test]' brings it")
    out = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                          "sys.exit(lint_imports_command())", "--no-cache"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"lint-imports found broken contracts:\n{out.stdout}\n{out.stderr}"
    assert re.search(r"Contracts: \d+ kept, 0 broken", out.stdout), out.stdout


def test_the_required_contracts_are_declared():
    cfg, contracts = _contracts()
    assert cfg["importlinter"]["root_package"] == "ketamine_fc"
    assert cfg["importlinter"].getboolean("include_external_packages")  # needed to forbid nipype
    core = contracts["core"]
    assert _modules(core["source_modules"]) == {"ketamine_fc.core"}
    assert {"nipype", "ketamine_fc.workflows", "ketamine_fc.interfaces", "ketamine_fc.cli"} <= _modules(
        core["forbidden_modules"])
    interfaces = contracts["interfaces"]
    assert _modules(interfaces["source_modules"]) == {"ketamine_fc.interfaces"}
    assert {"ketamine_fc.workflows", "ketamine_fc.cli"} <= _modules(interfaces["forbidden_modules"])
    cli = contracts["cli"]
    assert _modules(cli["source_modules"]) == {"ketamine_fc.cli"}
    assert _modules(cli["forbidden_modules"]) == {"ketamine_fc.core"}
    assert not cli.get("ignore_imports", "").split()  # the CLI imports nothing of core, without exception
    config = contracts["config"]
    assert {"ketamine_fc.utils", "ketamine_fc.interfaces", "ketamine_fc.workflows", "ketamine_fc.cli"} <= _modules(
        config["forbidden_modules"])
    assert contracts["layers"]["type"] == "layers"


def test_ci_lints_before_the_tests():
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    tests = next(i for i, line in enumerate(lines) if "pytest" in line and not line.startswith("#"))
    assert "ruff check ." in lines[:tests] and "lint-imports" in lines[:tests]
    extras = configparser.ConfigParser()
    extras.read(REPO / "setup.cfg")
    test_extras = extras["options.extras_require"]["test"]
    assert re.search(r"^ruff\b", test_extras, re.M) and re.search(r"^import-linter\b", test_extras, re.M)
    assert (REPO / "ruff.toml").is_file()
