"""The documentation runs as written: the README's Python example and every factory's ``.. workflow::`` example."""

import ast
import re
import textwrap
from pathlib import Path

import pytest
from nipype.pipeline import engine as pe

REPO = Path(__file__).resolve().parents[1]


def _workflow_examples():
    for path in sorted((REPO / "ketamine_fc" / "workflows").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("init_"):
                doc = ast.get_docstring(node) or ""
                match = re.search(r"\.\. workflow::\n\n((?:(?: {4}.*)?\n)+)", doc + "\n")
                yield pytest.param(path.stem, node.name, textwrap.dedent(match.group(1)) if match else None,
                                   id=f"{path.stem}.{node.name}")


@pytest.mark.parametrize("module,factory,code", list(_workflow_examples()))
def test_every_factory_has_a_workflow_example_that_builds(module, factory, code, tmp_path, monkeypatch):
    assert code, f"{module}.{factory} has no '.. workflow::' example in its docstring"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, f"{module}.{factory}", "exec"), namespace)
    wf = namespace["wf"]
    assert isinstance(wf, pe.Workflow)
    wf._create_flat_graph()  # every connection resolves


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    pipeline = namespace["my_pipeline"]
    pipeline._create_flat_graph()
    names = [n.fullname for n in pipeline._get_all_nodes()]
    assert any(n.endswith("extract_signals") for n in names) and any(n.endswith("connectivity") for n in names)
    assert "extract_signals" in capsys.readouterr().out
