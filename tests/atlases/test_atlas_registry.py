"""Atlas registry: resolution order, checksums, error messages, download through file:// URLs."""

from __future__ import annotations

import io
import os
import re
import shutil

import pytest

from ketamine_fc.atlases import registry as reg
from ketamine_fc.errors import AtlasError

KEY = "seitzman300_anatomy"  # the smallest registered file


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Empty explicit, environment and cache directories; the environment points at them."""
    dirs = {name: tmp_path / name for name in ("explicit", "env", "cache")}
    for path in dirs.values():
        path.mkdir()
    monkeypatch.setenv(reg.ENV_DIR, str(dirs["env"]))
    monkeypatch.setenv(reg.ENV_CACHE, str(dirs["cache"]))
    return dirs


def _put(folder, atlas_dir, key=KEY):
    rel = reg.registry()[key]["path"]
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(atlas_dir / rel, folder / rel)
    return folder / rel


def _with_urls(monkeypatch, urls: dict):
    patched = {k: dict(v, url=urls.get(k, v["url"])) for k, v in reg.registry().items()}
    monkeypatch.setattr(reg, "registry", lambda: patched)
    return patched


def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no download expected")
    monkeypatch.setattr(reg.urllib.request, "urlopen", refuse)


def _shared_copy(entry, shared_data, atlas_dir):
    """The shared copy of a registered file: atlases sit in shared/data/atlases, the surfaces beside them."""
    return atlas_dir / entry["path"] if (atlas_dir / entry["path"]).is_file() else shared_data / entry["path"]


def test_registry_matches_provenance_and_the_shared_files(shared_data, atlas_dir):
    provenance = (shared_data / "PROVENANCE.md").read_text()
    entries = reg.registry()
    assert {"gordon333_1mm", "gordon333_3mm", "gordon333_labels", "seitzman300_rois", "seitzman300_anatomy",
            "harvard_oxford_sub_1mm", "harvard_oxford_sub_2mm", "gordon333_fslr32k", "fslr32k_midthickness_L",
            "fslr32k_midthickness_R", "fslr32k_vertex_info"} <= set(entries)
    for key, entry in entries.items():
        name = entry["path"].split("/")[-1]
        row = next(line for line in provenance.splitlines() if line.startswith(f"| `{name}`"))
        assert entry["sha256"] in row, key
        assert reg.sha256(_shared_copy(entry, shared_data, atlas_dir)) == entry["sha256"], key
        # canonical public source: a raw GitHub file at a fixed commit that PROVENANCE.md names, or a file inside
        # a PyPI wheel (content-addressed URL, archive checksum) of the package and version PROVENANCE.md names
        match = re.fullmatch(r"https://raw\.githubusercontent\.com/([^/]+/[^/]+)/([0-9a-f]{40})/(.+)", entry["url"])
        wheel = re.fullmatch(r"https://files\.pythonhosted\.org/packages/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}/"
                             r"([A-Za-z0-9_.]+)-([^-]+)-[^/]+\.whl", entry["url"])
        assert match or wheel, key
        if match:
            assert match.group(2) in provenance and match.group(1) in provenance, key
        else:
            assert f"PyPI `{wheel.group(1).replace('_', '-')}` {wheel.group(2)}" in provenance, key
            assert re.fullmatch(r"[0-9a-f]{64}", entry["archive_sha256"]) and entry["member"].endswith(name), key


def test_resolution_order(places, atlas_dir, monkeypatch):
    _no_network(monkeypatch)
    for name in ("explicit", "env", "cache"):
        _put(places[name], atlas_dir)
    assert reg.resolve(KEY, places["explicit"]).is_relative_to(places["explicit"])
    assert reg.resolve(KEY).is_relative_to(places["env"])
    monkeypatch.delenv(reg.ENV_DIR)
    assert reg.resolve(KEY).is_relative_to(places["cache"])
    # an explicit directory without the file falls through to the next place
    assert reg.resolve(KEY, places["explicit"] / "nothing-here").is_relative_to(places["cache"])


def test_a_damaged_file_is_refused_naming_it(places, atlas_dir, monkeypatch):
    _no_network(monkeypatch)
    path = _put(places["explicit"], atlas_dir)
    assert reg.resolve(KEY, places["explicit"]) == path
    path.write_text(path.read_text().replace("7", "6"))
    with pytest.raises(AtlasError) as err:
        reg.resolve(KEY, places["explicit"])
    assert str(path) in str(err.value) and "sha256" in str(err.value)


def test_verification_is_cached_by_path_mtime_and_size(places, atlas_dir, monkeypatch):
    _no_network(monkeypatch)
    path = _put(places["explicit"], atlas_dir)
    reg.resolve(KEY, places["explicit"])
    calls = []
    real = reg.sha256
    monkeypatch.setattr(reg, "sha256", lambda p: calls.append(p) or real(p))
    for _ in range(3):
        reg.resolve(KEY, places["explicit"])
    assert calls == []
    path.write_bytes(path.read_bytes() + b"\n")  # new size and mtime: checked again, and refused
    with pytest.raises(AtlasError):
        reg.resolve(KEY, places["explicit"])
    assert len(calls) == 1


def test_missing_everywhere_says_what_where_and_how(places, tmp_path, monkeypatch):
    _with_urls(monkeypatch, {KEY: (tmp_path / "no-such-file.txt").as_uri()})
    with pytest.raises(AtlasError) as err:
        reg.resolve(KEY, places["explicit"])
    msg = str(err.value)
    assert "seitzman300/ROIs_anatomicalLabels.txt" in msg
    for name in ("explicit", "env", "cache"):
        assert str(places[name]) in msg
    assert "--atlas-dir" in msg and "KETAMINE_FC_DATA" in msg and "could not be downloaded" in msg
    assert not any(p.is_file() for p in places["cache"].rglob("*"))  # nothing half-written left behind
    with pytest.raises(AtlasError, match="no atlas file named"):
        reg.resolve("schaefer400")


def test_download_through_a_file_url_into_the_cache(places, atlas_dir, monkeypatch):
    source = atlas_dir / reg.registry()[KEY]["path"]
    _with_urls(monkeypatch, {KEY: source.as_uri()})
    path = reg.resolve(KEY, places["explicit"])
    assert path == places["cache"] / reg.registry()[KEY]["path"]
    assert path.read_bytes() == source.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    _no_network(monkeypatch)
    assert reg.resolve(KEY) == path  # now found in the cache


def test_a_download_with_the_wrong_checksum_is_deleted(places, atlas_dir, monkeypatch):
    wrong = atlas_dir / "seitzman300" / "README_release.txt"
    _with_urls(monkeypatch, {KEY: wrong.as_uri()})
    with pytest.raises(AtlasError) as err:
        reg.download(KEY, places["cache"] / "x" / "labels.txt")
    assert "sha256" in str(err.value) and reg.sha256(wrong) in str(err.value)
    assert not any((places["cache"] / "x").iterdir())
    with pytest.raises(AtlasError, match="sha256"):
        reg.resolve(KEY)
    assert not any(p.is_file() for p in places["cache"].rglob("*"))


def test_download_with_a_patched_opener(places, atlas_dir, monkeypatch):
    payload = (atlas_dir / reg.registry()[KEY]["path"]).read_bytes()
    seen = []

    def opener(url, timeout=None):
        seen.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(reg.urllib.request, "urlopen", opener)
    path = reg.resolve(KEY)
    assert seen == [reg.registry()[KEY]["url"]] and path.read_bytes() == payload


def test_fetch_all_populates_a_directory(places, shared_data, atlas_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(reg.ENV_DIR)
    _with_urls(monkeypatch, {k: _shared_copy(v, shared_data, atlas_dir).as_uri() for k, v in reg.registry().items()})
    dest = tmp_path / "baked"
    paths = reg.fetch_all(dest)
    assert len(paths) == len(reg.registry())
    for key, entry in reg.registry().items():
        assert reg.sha256(dest / entry["path"]) == entry["sha256"], key
    _no_network(monkeypatch)
    assert reg.fetch_all(dest) == paths  # already there: nothing fetched again
    # with a local copy known (as in a Docker build given KETAMINE_FC_DATA), files are copied, not downloaded
    monkeypatch.setenv(reg.ENV_DIR, os.pathsep.join([str(atlas_dir), str(shared_data)]))  # surfaces/ beside atlases/
    copied = reg.fetch_all(tmp_path / "copied")
    assert all(p.is_file() for p in copied)


@pytest.mark.parametrize("surface", [False, True])
def test_the_atlas_sidecar_names_each_source_file_with_its_sha256(surface, atlas_dir):
    import hashlib

    from ketamine_fc.atlases.build import atlas_sources

    sources = atlas_sources(atlas_dir=atlas_dir, surface=surface)
    names = {entry["File"].split("/")[-1] for entry in sources}
    labels = ("tpl-fsLR_atlas-Gordon_den-32k_dseg.dlabel.nii" if surface else
              "tpl-MNI152NLin6Asym_atlas-Gordon_res-01_dseg.nii.gz")
    assert {labels, "atlas-Gordon_dseg.tsv", "ROIs_300inVol_MNI_allInfo.txt"} <= names
    # the limbic structures come from Harvard-Oxford in volumes, from the CIFTI structures on the surface
    assert any(n.startswith("HarvardOxford-sub") for n in names) != surface
    for entry in sources:
        assert hashlib.sha256((atlas_dir / entry["File"]).read_bytes()).hexdigest() == entry["Sha256"]
        assert entry["URL"].startswith("https://") and entry["Citation"]
