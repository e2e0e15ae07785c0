"""What can be checked of the packaging without a Docker engine: entry points, image recipe, CI, README."""

import configparser
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_console_scripts_declared_and_version_runs():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    scripts = cfg["options.entry_points"]["console_scripts"]
    assert "ketamine-fc = ketamine_fc.cli.run:main" in scripts
    out = subprocess.run([sys.executable, "-m", "ketamine_fc", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("ketamine-fc ")


def test_dockerfile_is_a_bids_app_installing_this_repository():
    text = (REPO / "docker" / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["ketamine-fc"\]', text, re.M)
    assert re.search(r"^COPY \. /src", text, re.M) and "pip install --no-cache-dir --no-deps /src" in text
    assert "fetch_all(" in text  # atlases baked in at build time
    reqs = (REPO / "docker" / "requirements.txt").read_text().split()
    names = {r.split("==")[0].lower() for r in reqs}
    assert all("==" in r for r in reqs)
    assert {"nipype", "nibabel", "nilearn", "numpy", "scipy", "statsmodels", "pybids", "pandas", "matplotlib"} <= names


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    test_cmd = next(c for c in commands if "pytest" in c)
    assert test_cmd.strip() in (REPO / ".ci" / "run").read_text()
