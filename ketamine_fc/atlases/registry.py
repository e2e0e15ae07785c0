"""Find atlas files: ``--atlas-dir``, ``$KETAMINE_FC_DATA``, the user cache, then a verified download."""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ketamine_fc.errors import AtlasError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

LOGGER = logging.getLogger("ketamine_fc.atlases")
ENV_DIR = "KETAMINE_FC_DATA"
ENV_CACHE = "KETAMINE_FC_CACHE"


@lru_cache(maxsize=1)
def registry() -> dict:
    """The registered atlas files (``ketamine_fc/data/atlases.toml``)."""
    return tomllib.loads(resources.files("ketamine_fc.data").joinpath("atlases.toml").read_text())


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE, Path.home() / ".cache" / "ketamine_fc"))


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fobj:
        for block in iter(lambda: fobj.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: dict = {}


def _verified(path: Path, expected: str) -> bool:
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256(path) == expected
    return _VERIFIED[key]


def candidates(atlas_dir=None) -> list[Path]:
    """Directories searched, in order."""
    dirs = [Path(atlas_dir)] if atlas_dir else []
    if os.environ.get(ENV_DIR):
        dirs.append(Path(os.environ[ENV_DIR]))
    dirs.append(cache_dir())
    return dirs


def download(key: str, dest: Path, url: str | None = None) -> Path:
    """Download ``key`` to ``dest`` and check its sha256; a mismatch deletes the file and raises."""
    entry = registry()[key]
    url = url or entry["url"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    LOGGER.info("Downloading %s from %s", dest.name, url)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            while block := response.read(2**20):
                out.write(block)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise AtlasError(f"could not download {entry['path']} from {url} ({err}); provide the atlas files with "
                         f"--atlas-dir or ${ENV_DIR}") from err
    got = sha256(tmp)
    if got != entry["sha256"]:
        tmp.unlink(missing_ok=True)
        raise AtlasError(f"the download of {entry['path']} from {url} has sha256 {got}, expected {entry['sha256']}")
    os.replace(tmp, dest)
    return dest


def resolve(key: str, atlas_dir=None) -> Path:
    """Path of a verified copy of the registered file ``key``."""
    try:
        entry = registry()[key]
    except KeyError:
        raise AtlasError(f"no atlas file named {key!r} is registered") from None
    looked = []
    for folder in candidates(atlas_dir):
        path = folder / entry["path"]
        looked.append(str(path))
        if path.exists():
            if _verified(path, entry["sha256"]):
                return path
            raise AtlasError(f"its sha256 does not match the registered one ({entry['sha256'][:12]}...): "
                             "the file is corrupt or another version", path=path)
    try:
        return download(key, cache_dir() / entry["path"])
    except AtlasError as err:
        raise AtlasError(f"atlas file {entry['path']} not found (looked in: {', '.join(looked)}) and {err}") from err


def fetch_all(dest) -> list[Path]:
    """Put every registered file under ``dest`` (used to bake the atlases into the Docker image)."""
    out = []
    for key, entry in registry().items():
        target = Path(dest) / entry["path"]
        if not (target.exists() and sha256(target) == entry["sha256"]):
            download(key, target)
        out.append(target)
    return out
