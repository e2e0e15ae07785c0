"""Package data: atlas checksums, nuisance strategies and the pybids configuration of the outputs."""

from pathlib import Path


def bids_config() -> Path:
    """Path of the pybids configuration naming every entity of the outputs (``seg``, ``stat``, ``atlas`` ...).

    Use it on its own, ``BIDSLayout(out, config=[bids_config()], validate=False)``: pybids refuses an entity that
    its own ``bids`` or ``derivatives`` configuration defines too.
    """
    return Path(__file__).with_name("bids_config.json")
