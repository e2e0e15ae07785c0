"""Shared fixtures: the project's real data live in ../shared/data, never in this repository."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KETAMINE_FC_SHARED_DATA", REPO.parent / "shared" / "data"))
ATLAS_DIR = SHARED_DATA / "atlases"


def pytest_configure(config):
    # the package finds atlases through KETAMINE_FC_DATA; point it at the shared copy (no network here): the
    # atlases folder, then the data folder for the fs_LR surfaces (registered as surfaces/fslr32k/...)
    os.environ.setdefault("KETAMINE_FC_DATA", os.pathsep.join([str(ATLAS_DIR), str(SHARED_DATA)]))
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA}; set KETAMINE_FC_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def atlas_dir(shared_data) -> Path:
    return shared_data / "atlases"


@pytest.fixture
def rng():
    return np.random.default_rng(20210301)


@pytest.fixture(autouse=True)
def _ketamine_fc_logs_reach_caplog(monkeypatch):
    """caplog listens on the root logger; a CLI run in the same worker stops ``ketamine_fc`` records from
    reaching it and leaves its console handler behind, so every test starts from propagating logs."""
    logger = logging.getLogger("ketamine_fc")
    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logger, "handlers", [])
