"""Atlas descriptions: each atlas as data (``ketamine_fc/data/atlas_descriptions.toml`` documents the keys).

The package's own descriptions are read from ``atlas_descriptions.toml``; further ones from ``<name>.atlas.toml``
files (one atlas each, its keys at the top level) in the ``--atlas-dir`` folder and in the folders of
``$KETAMINE_FC_ATLASES`` (``os.pathsep``-separated). ``--atlas NAME`` chooses one (default the paper's
``GordonSeitzman``); a composed atlas lists its ``components``, a simple one is its own single component.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ketamine_fc.errors import AtlasError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

#: the paper's atlas, the default of ``--atlas``; its name is the ``atlas-``/``seg-`` label of the outputs
DEFAULT_ATLAS = "GordonSeitzman"
ENV_ATLASES = "KETAMINE_FC_ATLASES"
SUFFIX = ".atlas.toml"


@dataclass(frozen=True)
class Description:
    """One atlas description: its key, its data (the TOML table) and the folder its relative paths start from."""

    key: str
    data: dict
    folder: Path | None = field(default=None, compare=False)

    def __getitem__(self, item):
        return self.data[item]

    def get(self, item, default=None):
        return self.data.get(item, default)

    @property
    def name(self) -> str:
        """The region table's ``atlas`` value of its regions."""
        return str(self.data.get("name", self.key))

    @property
    def prefix(self) -> str:
        return str(self.data.get("label_prefix", self.name))

    @property
    def offset(self) -> int:
        return int(self.data.get("index_offset", 0))

    @property
    def is_composed(self) -> bool:
        return "components" in self.data

    def label(self, own_index) -> str:
        """Region label of the atlas's own index ``own_index``."""
        return f"{self.prefix}_{int(own_index)}"

    def roles(self, role: str) -> dict:
        """``{own index: role string}`` of one structure role (``limbic``)."""
        return {int(k): str(v) for k, v in self.data.get("roles", {}).get(role, {}).items()}

    def whole_structures(self) -> dict:
        return dict(self.data.get("whole_structures", {}))

    def files(self, space: str) -> dict:
        """``{resolution: file reference}`` of one space (``MNI152NLin6Asym``, ``fsLR``)."""
        return dict(self.data.get("files", {}).get(space, {}))


@lru_cache(maxsize=1)
def _builtin() -> dict:
    text = resources.files("ketamine_fc.data").joinpath("atlas_descriptions.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def description_dirs(atlas_dir=None) -> list[Path]:
    """Folders searched for ``<name>.atlas.toml``: ``atlas_dir``, then those of ``$KETAMINE_FC_ATLASES``."""
    dirs = [Path(atlas_dir).expanduser()] if atlas_dir else []
    dirs += [Path(p).expanduser() for p in os.environ.get(ENV_ATLASES, "").split(os.pathsep) if p]
    return dirs


def _read_user(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise AtlasError(f"cannot read this atlas description: {err}", path=path) from err


def available(atlas_dir=None) -> list[str]:
    """Names of every atlas description found (the package's, then the user's)."""
    names = list(_builtin())
    for folder in description_dirs(atlas_dir):
        if folder.is_dir():
            names += sorted(p.name[: -len(SUFFIX)] for p in folder.glob("*" + SUFFIX) if p.is_file())
    return list(dict.fromkeys(names))


def describe(name: str = DEFAULT_ATLAS, atlas_dir=None) -> Description:
    """The description of the atlas ``name``; raises :class:`AtlasError` listing the known names."""
    name = str(name or DEFAULT_ATLAS)
    builtin = _builtin()
    if name in builtin:
        return Description(name, builtin[name])
    for folder in description_dirs(atlas_dir):
        path = folder / (name + SUFFIX)
        if path.is_file():
            return Description(name, _read_user(path), path.parent)
    raise AtlasError(f"no atlas is described as {name!r} (known: {', '.join(available(atlas_dir))}); describe it "
                     f"in a {name}{SUFFIX} file in --atlas-dir or in a folder of ${ENV_ATLASES}")


def components(name: str = DEFAULT_ATLAS, atlas_dir=None) -> list[Description]:
    """The component descriptions of an atlas, in order (a simple atlas is its own single component)."""
    desc = describe(name, atlas_dir)
    if not desc.is_composed:
        return [desc]
    return [describe(str(c), atlas_dir) for c in desc["components"]]


def resolve_file(desc: Description, ref, atlas_dir=None) -> Path:
    """Path of a file reference of ``desc``: a registry key (verified, downloaded if need be), or
    ``{path, sha256?}`` relative to the description's folder, else to the atlas folders."""
    from ketamine_fc.atlases.registry import candidates, resolve, verify

    if isinstance(ref, str):
        return resolve(ref, atlas_dir)
    if not isinstance(ref, dict) or "path" not in ref:
        raise AtlasError(f"atlas {desc.key!r}: a file is a registry key or {{path = ..., sha256 = ...}}, got {ref!r}")
    rel = Path(ref["path"]).expanduser()
    places = [rel] if rel.is_absolute() else [d / rel for d in ([desc.folder] if desc.folder else [])
                                               + candidates(atlas_dir)]
    for path in places:
        if path.is_file():
            if ref.get("sha256") and not verify(path, ref["sha256"]):
                raise AtlasError(f"atlas {desc.key!r}: this file's sha256 is not the described {ref['sha256']}",
                                 path=path)
            return path
    raise AtlasError(f"atlas {desc.key!r}: file {rel} was not found (looked in "
                     f"{', '.join(str(p.parent) for p in places)})")


def _mm(resolution: str) -> float:
    digits = "".join(ch for ch in str(resolution) if ch.isdigit() or ch == ".")
    return float(digits) if digits else float("inf")


def volume_file(desc: Description, template: str = "MNI152NLin6Asym"):
    """The finest label image described for ``template`` (its file reference), or None."""
    files = desc.files(template)
    return files[min(files, key=_mm)] if files else None


def network_spec(name: str = DEFAULT_ATLAS, atlas_dir=None) -> dict:
    """What :func:`ketamine_fc.core.networks.network_sets` needs of an atlas, as plain data.

    ``{"sets": {set: [[atlas name, network value], ...]}, "sgacc": {"atlas": name, "offset": int, "presets":
    {preset: [indices]}, "indices": [first, last] or None}, "prefixes": {label prefix: index offset}}``.
    """
    sets: dict = {}
    sgacc: dict = {}
    prefixes = {}
    for comp in components(name, atlas_dir):
        prefixes[comp.prefix] = comp.offset
        for set_name, values in comp.get("networks", {}).items():
            values = [values] if isinstance(values, str) else list(values)
            sets.setdefault(str(set_name), []).extend([comp.name, str(v)] for v in values)
        if comp.get("sgacc") and not sgacc:
            expect = comp.get("table", {}).get("expect_indices")
            sgacc = {"atlas": comp.name, "offset": comp.offset,
                     "presets": {k: [int(i) for i in v] for k, v in comp["sgacc"].items()},
                     "indices": [int(i) for i in expect] if expect else None}
    return {"sets": sets, "sgacc": sgacc, "prefixes": prefixes}


def sgacc_for(name: str, parcels, atlas_dir=None):
    """The sgACC argument of :func:`~ketamine_fc.core.networks.network_sets` for atlas ``name``.

    ``--sgacc`` is read before the atlas is known, so its presets become the paper's parcels; for another atlas a
    value equal to one of the paper's presets stands for that atlas's preset of the same name (its own indices).
    """
    parcels = tuple(sorted(int(p) for p in parcels))
    if describe(name, atlas_dir).key == DEFAULT_ATLAS:
        return list(parcels)
    paper = network_spec(DEFAULT_ATLAS)["sgacc"]["presets"]
    own = network_spec(name, atlas_dir)["sgacc"].get("presets", {})
    for preset, values in paper.items():
        if tuple(sorted(values)) == parcels and preset in own:
            return preset
    return list(parcels)


def output_name(name: str = DEFAULT_ATLAS, atlas_dir=None) -> str:
    """The ``atlas-``/``seg-`` label of the outputs: the description's key (checked to exist)."""
    return describe(name, atlas_dir).key


def sidecar_description(name: str = DEFAULT_ATLAS, atlas_dir=None, *, cifti=False) -> str:
    """The atlas sidecar's ``Description``."""
    desc = describe(name, atlas_dir)
    key = "cifti_description" if cifti else "volume_description"
    if desc.get(key):
        return str(desc[key])
    titles = " plus ".join(str(c.get("title", c.name)) for c in components(name, atlas_dir))
    return (f"{titles} on the fs_LR grayordinates of the dense time series." if cifti else
            f"{titles} resampled to the BOLD grid with nearest neighbour.")
