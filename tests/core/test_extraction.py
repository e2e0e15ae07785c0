"""The typed hand-off of the read: ExtractedSignals round-trips through its file and refuses anything else."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.core import regions
from ketamine_fc.core.extraction import ARRAYS, FRAME_FIELDS, ExtractedSignals
from ketamine_fc.errors import InputError

T, R, N_SUB, N_SAMPLE = 13, 5, 4, 7
SHAPE = (6, 5, 4)


def _signals(rng, **changes):
    values = dict(
        kind="volume", space="MNI152NLin6Asym", tr=2.0, region_index=np.array([1, 2, 3, 1236, 1244]),
        region_means=rng.normal(100, 1, (T, R)), region_voxels=np.array([9, 8, 7, 6, 5]),
        atlas_voxels=np.array([10, 8, 9, 6, 5]), region_tsnr=rng.uniform(20, 80, R), brain_tsnr=51.5,
        sub_region=np.array([3, 3, 4, 4]), sub_has_cortex=np.array([True, False, True, True]),
        sub_voxels=rng.normal(100, 1, (T, N_SUB)).astype(np.float32), sub_adjacent=rng.normal(100, 1, (T, N_SUB)),
        sample=rng.normal(100, 1, (T, N_SAMPLE)).astype(np.float32), mean=rng.uniform(90, 110, 11),
        positions=np.sort(rng.choice(int(np.prod(SHAPE)), 11, replace=False)), grid_shape=SHAPE,
        affine=np.diag([2.0, 2.0, 2.0, 1.0]), source="sub-01_bold.nii.gz")
    values.update(changes)
    return ExtractedSignals(**values)


def _assert_same(a, b):
    for f in dataclasses.fields(ExtractedSignals):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
        else:
            assert x == y or (x != x and y != y), f.name


def test_save_and_load_round_trip_every_field(rng, tmp_path):
    sig = _signals(rng)
    path = sig.save(tmp_path / "signals.npz")
    assert path == tmp_path / "signals.npz" and path.is_file()
    back = ExtractedSignals.load(path)
    _assert_same(sig, back)
    assert back.n_frames == T and back.n_regions == R and back.n_sub == N_SUB
    for name, dtype in ARRAYS.items():
        assert getattr(back, name).dtype == np.dtype(dtype), name


def test_a_name_without_npz_is_kept(rng, tmp_path):
    path = _signals(rng, kind="cifti", space="fsLR", grid_shape=(50,), positions=np.arange(11), affine=None,
                    brain_tsnr=float("nan")).save(tmp_path / "signals.data")
    assert path.name == "signals.data"
    back = ExtractedSignals.load(path)
    assert back.kind == "cifti" and back.affine is None and np.isnan(back.brain_tsnr)


def test_drop_frames_slices_only_the_frame_arrays(rng):
    sig = _signals(rng)
    short = sig.drop_frames(3)
    for name in FRAME_FIELDS:
        assert np.array_equal(getattr(short, name), getattr(sig, name)[3:])
    assert np.array_equal(short.region_voxels, sig.region_voxels) and short.n_frames == T - 3


def test_mean_volume_puts_the_means_back_on_the_grid(rng):
    sig = _signals(rng)
    vol = sig.mean_volume()
    assert vol.shape == SHAPE
    assert np.allclose(vol.ravel(order="F")[sig.positions], sig.mean)
    assert np.count_nonzero(vol) == sig.positions.size
    with pytest.raises(ValueError, match="no mean volume"):
        _signals(rng, kind="cifti", grid_shape=(50,), positions=np.arange(11)).mean_volume()


@pytest.mark.parametrize("changes,message", [
    ({"region_tsnr": np.ones(R + 1)}, "region_tsnr has shape"),
    ({"sub_voxels": np.ones((T - 1, N_SUB))}, "sub_voxels has shape"),
    ({"sub_region": np.array([0, 1, 2, 9])}, "sub_region points outside"),
    ({"sample": np.ones(T)}, "sample has shape"),
    ({"mean": np.ones(3)}, "one value per position"),
    ({"kind": "surface"}, "kind must be one of"),
    ({"tr": 0.0}, "repetition time"),
    ({"positions": np.array([0, 500] + [1] * 9)}, "outside the"),
])
def test_inconsistent_fields_are_refused_with_the_reason(rng, changes, message):
    with pytest.raises(ValueError, match=message):
        _signals(rng, **changes)


def _rewrite(path, edit):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    edit(arrays)
    with open(path, "wb") as fobj:
        np.savez(fobj, **arrays)


def test_load_says_what_is_wrong_with_the_file(rng, tmp_path):
    path = _signals(rng).save(tmp_path / "s.npz")
    _rewrite(path, lambda a: a.pop("sub_adjacent"))
    with pytest.raises(InputError, match="missing: sub_adjacent") as err:
        ExtractedSignals.load(path)
    assert str(path) in str(err.value)

    path = _signals(rng).save(tmp_path / "s2.npz")
    _rewrite(path, lambda a: a.__setitem__("sub_region", np.array([0, 0, 0, 7])))
    with pytest.raises(InputError, match="inconsistent extracted signals: sub_region points outside"):
        ExtractedSignals.load(path)

    def other_version(a):
        meta = json.loads(str(a["__meta__"]))
        a["__meta__"] = np.array(json.dumps(dict(meta, version=99)))
    path = _signals(rng).save(tmp_path / "s3.npz")
    _rewrite(path, other_version)
    with pytest.raises(InputError, match="version 99"):
        ExtractedSignals.load(path)


def test_an_npz_of_string_keys_from_an_earlier_version_is_named_as_such(tmp_path):
    path = tmp_path / "signals.npz"
    np.savez(path, region_means=np.zeros((3, 2)), sample=np.zeros((3, 1)))
    with pytest.raises(InputError, match="no format record.*remove that work directory"):
        ExtractedSignals.load(path)
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot be read as extracted signals"):
        ExtractedSignals.load(tmp_path / "garbage.npz")
    with pytest.raises(InputError, match="does not exist"):
        ExtractedSignals.load(tmp_path / "absent.npz")


def _censoring(n, dummy=0):
    return pd.DataFrame({"framewise_displacement": np.r_[np.nan, np.full(n - 1, 0.05)],
                         "dummy": (np.arange(n) < dummy).astype(int), "retained": (np.arange(n) >= dummy).astype(int)})


PARAMS = dict(detrend=True, lower_bpf=0.0, upper_bpf=0.0, disable_bandpass_filter=True, bpf_order=2,
              denoise_order="filter-regress")


def test_denoise_run_takes_the_contract_and_a_mapping_alike(rng):
    sig = _signals(rng)
    table = pd.DataFrame({"index": sig.region_index, "label": [f"r{i}" for i in sig.region_index]})
    nuisance = pd.DataFrame(index=range(T))
    typed = regions.denoise_run(sig, _censoring(T, dummy=2), nuisance, table, 2.0, PARAMS)
    mapping = {f.name: getattr(sig, f.name) for f in dataclasses.fields(sig)
               if f.name not in ("kind", "space", "tr", "region_index", "grid_shape", "affine", "source", "mean",
                                 "positions")}  # the arrays of a simulation's hand-made reduction
    loose = regions.denoise_run(mapping, _censoring(T, dummy=2), nuisance, table, 2.0, PARAMS)
    pd.testing.assert_frame_equal(typed["timeseries"], loose["timeseries"])
    assert typed["qc"]["median_tsnr"] == 51.5 and typed["qc"]["n_dummy"] == 2


def test_denoise_run_refuses_signals_of_another_atlas_or_length(rng):
    sig = _signals(rng)
    table = pd.DataFrame({"index": [1, 2, 3, 1236, 1245], "label": list("abcde")})
    with pytest.raises(ValueError, match="not the 5 rows of the region table"):
        regions.denoise_run(sig, _censoring(T), pd.DataFrame(index=range(T)), table, 2.0, PARAMS)
    table["index"] = sig.region_index
    with pytest.raises(ValueError, match="13 frames, the censoring table 12"):
        regions.denoise_run(sig, _censoring(T - 1), pd.DataFrame(index=range(T - 1)), table, 2.0, PARAMS)
