"""fMRIPrep confounds: both layouts, legacy names, XCP-D strategies, and errors that name file and column."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.core.confounds import (
    STRATEGIES,
    motion_params,
    n_dummy_from_confounds,
    nuisance_strategy,
    read_confounds,
    select_nuisance,
)
from ketamine_fc.core.motion import MOTION_COLUMNS
from ketamine_fc.errors import InputError

CONF = "fmri/fmriprep_confounds"
NEW = "test-v21_desc-confounds_timeseries.tsv"
OLD = "test_desc-confounds_regressors.tsv"

# XCP-D's data/nuisance/*.yml column lists, typed out here as the independent reference
_MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
_FULL = ["", "_derivative1", "_power2", "_derivative1_power2"]
XCPD_24P = {m + s for m in _MOTION for s in _FULL}
XCPD_27P = XCPD_24P | {"global_signal", "csf", "white_matter"}
XCPD_36P = XCPD_24P | {t + s for t in ("global_signal", "csf", "white_matter") for s in _FULL}
XCPD_ACOMPCOR_MOTION = {m + s for m in _MOTION for s in ("", "_derivative1")}


@pytest.fixture(scope="module")
def new(shared_data):
    return read_confounds(shared_data / CONF / NEW)


@pytest.fixture(scope="module")
def old(shared_data):
    return read_confounds(shared_data / CONF / OLD)


@pytest.mark.parametrize("layout", ["new", "old"])
def test_motion_strategies_have_xcpd_columns(layout, request):
    df = request.getfixturevalue(layout)
    for name, ref in (("24P", XCPD_24P), ("27P", XCPD_27P), ("36P", XCPD_36P)):
        out = select_nuisance(df, name)
        assert out.shape == (len(df), len(ref)) and set(out.columns) == ref and out.notna().all().all()
        np.testing.assert_array_equal(out["rot_y_derivative1_power2"].iloc[1:], df["rot_y_derivative1_power2"].iloc[1:])
    assert select_nuisance(df, "none").shape == (len(df), 0)


def test_first_row_na_of_derivatives_is_zero_as_xcpd(shared_data, new):
    raw = pd.read_csv(shared_data / CONF / NEW, sep="\t", na_values="n/a")
    na_first = [c for c in raw.columns if np.isnan(raw[c].iloc[0])]
    assert "trans_x_derivative1" in na_first and "framewise_displacement" in na_first
    assert all(new[c].iloc[0] == 0 for c in na_first)
    pd.testing.assert_frame_equal(new.iloc[1:].reset_index(drop=True), raw.iloc[1:].reset_index(drop=True),
                                  check_dtype=False)


def test_acompcor_new_layout_takes_what_exists(new):
    out = select_nuisance(new, "acompcor")
    # this file has 4 WM and 3 CSF components and one cosine; XCP-D's regexes take them all
    comps = ["w_comp_cor_00", "w_comp_cor_01", "w_comp_cor_02", "w_comp_cor_03",
             "c_comp_cor_00", "c_comp_cor_01", "c_comp_cor_02", "cosine00"]
    assert set(out.columns) == XCPD_ACOMPCOR_MOTION | set(comps)
    assert list(out.columns)[12:] == comps


def test_acompcor_old_layout_uses_the_sidecar_masks(shared_data, old):
    meta = json.loads((shared_data / CONF / OLD.replace(".tsv", ".json")).read_text())
    out = select_nuisance(old, "acompcor")
    assert out.shape[1] == 12 + 5 + 5 + 4  # motion + derivatives, 5 WM, 5 CSF, 4 cosines
    for mask, prefix in (("WM", "w_comp_cor"), ("CSF", "c_comp_cor")):
        retained = {k: v["SingularValue"] for k, v in meta.items() if isinstance(v, dict)
                    and v.get("Mask") == mask and v.get("Retained") and k in old.columns}
        top5 = sorted(retained, key=retained.get, reverse=True)[:5]  # the five largest singular values
        picked = [out.attrs["sources"][f"{prefix}_{i:02d}"] for i in range(5)]
        assert picked == top5
        for i, src in enumerate(picked):
            np.testing.assert_array_equal(out[f"{prefix}_{i:02d}"], old[src])


def test_missing_column_is_named_with_the_file(tmp_path, shared_data):
    df = pd.read_csv(shared_data / CONF / NEW, sep="\t")
    path = tmp_path / "sub-x_desc-confounds_timeseries.tsv"
    df.drop(columns=["csf_power2"]).to_csv(path, sep="\t", index=False, na_rep="n/a")
    conf = read_confounds(path)
    with pytest.raises(InputError, match=r"sub-x_desc-confounds_timeseries\.tsv: .*36P .*csf_power2") as err:
        select_nuisance(conf, "36P")
    assert err.value.path == str(path)
    assert select_nuisance(conf, "27P").shape[1] == 27  # not needed there
    df.drop(columns=[c for c in df.columns if c.startswith("w_comp_cor")]).to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"acompcor strategy needs at least 1 column\(s\) matching .*w_comp_cor"):
        select_nuisance(read_confounds(path), "acompcor")


def test_nan_in_a_used_column_is_named_with_the_file_and_row(tmp_path, shared_data):
    df = pd.read_csv(shared_data / CONF / NEW, sep="\t")
    path = tmp_path / "sub-y_desc-confounds_timeseries.tsv"
    df.loc[7, "white_matter"] = np.nan
    df.loc[3, "tcompcor"] = np.nan  # unused by every strategy: no error
    df.to_csv(path, sep="\t", index=False, na_rep="n/a")
    conf = read_confounds(path)
    assert select_nuisance(conf, "24P").shape[1] == 24
    with pytest.raises(InputError, match=r"sub-y_desc.*column white_matter has missing values .* row\(s\) 8"):
        select_nuisance(conf, "36P")
    df.loc[7, "white_matter"] = 1.0
    df.loc[5, "rot_z"] = np.nan
    df.to_csv(path, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(InputError, match=r"column rot_z has missing values .* row\(s\) 6"):
        motion_params(read_confounds(path))
    # n/a beyond the first row of a derivative column is an error too
    df.loc[5, "rot_z"] = 0.0
    df.loc[4, "trans_x_derivative1"] = np.nan
    df.to_csv(path, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(InputError, match=r"column trans_x_derivative1 .* row\(s\) 5"):
        select_nuisance(read_confounds(path), "24P")


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(InputError, match=r"absent\.tsv: the confounds file does not exist"):
        read_confounds(tmp_path / "absent.tsv")
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.tsv: the confounds file is empty"):
        read_confounds(empty)
    header = tmp_path / "header.tsv"
    header.write_text("trans_x\ttrans_y\n")
    with pytest.raises(InputError, match=r"header\.tsv: .*no rows"):
        read_confounds(header)
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("a\tb\n1\t2\n1\t2\t3\t4\n")
    with pytest.raises(InputError, match=r"ragged\.tsv: .*cannot be parsed"):
        read_confounds(ragged)
    text = tmp_path / "text.tsv"
    text.write_text("trans_x\ttrans_y\n0.1\tabc\n")
    with pytest.raises(InputError, match=r"text\.tsv: non-numeric values in confound column\(s\) trans_y"):
        read_confounds(text)


def test_fmriprep_1_0_names_are_renamed(tmp_path, shared_data):
    df = pd.read_csv(shared_data / CONF / NEW, sep="\t")
    legacy = {"trans_x": "X", "trans_y": "Y", "trans_z": "Z", "rot_x": "RotX", "rot_y": "RotY", "rot_z": "RotZ",
              "global_signal": "GlobalSignal", "white_matter": "WhiteMatter", "csf": "CSF",
              "framewise_displacement": "FramewiseDisplacement", "non_steady_state_outlier00":
              "NonSteadyStateOutlier00", "a_comp_cor_00": "aCompCor00", "cosine00": "Cosine00"}
    cols = list(legacy) + ["non_steady_state_outlier01"]
    path = tmp_path / "sub-z_task-rest_bold_confounds.tsv"
    df[cols].rename(columns=legacy).rename(columns={"non_steady_state_outlier01": "NonSteadyStateOutlier01"}).to_csv(
        path, sep="\t", index=False, na_rep="n/a")
    conf = read_confounds(path)
    assert list(conf.columns) == cols
    np.testing.assert_array_equal(motion_params(conf), df[list(MOTION_COLUMNS)].to_numpy())
    assert n_dummy_from_confounds(conf) == 2 and conf["framewise_displacement"].iloc[0] == 0
    with pytest.raises(InputError, match="needs column"):  # 1.0-1.3 files had no expansions
        select_nuisance(conf, "24P")


def test_dummy_scans_from_non_steady_state_columns(shared_data, new, old):
    assert n_dummy_from_confounds(new) == 3
    assert n_dummy_from_confounds(old) == 1
    none = read_confounds(shared_data / CONF / "no_nonsteady_desc-confounds_regressors.tsv")
    assert n_dummy_from_confounds(none) == 0
    # the leading flagged frames only: a flag later in the run is not a dummy scan
    frame = pd.DataFrame({"non_steady_state_outlier00": [1.0, 0, 0, 0], "non_steady_state_outlier01": [0, 1.0, 0, 0],
                          "non_steady_state_outlier02": [0, 0, 0, 1.0]})
    assert n_dummy_from_confounds(frame) == 2


def test_strategy_files_and_the_motion_table(new, tmp_path, shared_data):
    for name in STRATEGIES:
        spec = nuisance_strategy(name)
        assert spec["name"] == name and spec["description"]
    spec["columns"].append("mutated")  # callers get a copy
    assert "mutated" not in nuisance_strategy("none")["columns"]
    with pytest.raises(InputError, match="unknown nuisance strategy"):
        nuisance_strategy("9P")
    assert motion_params(new).shape == (len(new), 6)
    np.testing.assert_array_equal(motion_params(new)[:, 3], new["rot_x"])
    with pytest.raises(InputError, match="rot_z"):
        motion_params(new.drop(columns=["rot_z"]))
    # a copy of the old layout without its JSON sidecar cannot find WM/CSF components
    lone = tmp_path / OLD
    shutil.copy(shared_data / CONF / OLD, lone)
    with pytest.raises(InputError, match=r"test_desc-confounds_regressors\.tsv: .*w_comp_cor"):
        select_nuisance(read_confounds(lone), "acompcor")
