"""Group inputs: aseg.stats, gathering the participant level, optional tables, and every input error."""

import logging

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.errors import InputError
from ketamine_fc.group.inputs import gather_network_measures, load_group_inputs, parse_aseg, read_limbic_matrices
from ketamine_fc.config import GroupParams

from cohort import LIMBIC, make_cohort, write_aseg_stats, write_participant_outputs



@pytest.fixture
def cohort(tmp_path):
    return make_cohort(tmp_path / "bids")


def _load(cohort, tmp_path, params=None, **kw):
    kw.setdefault("fc_table", cohort["fc"])
    return load_group_inputs(cohort["root"], tmp_path / "out", params or GroupParams(), **kw)


def _edit(path, func):
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df = func(df)
    df.to_csv(path, sep="\t", index=False)


def test_parse_aseg_reads_the_six_structures_and_etiv(cohort, tmp_path):
    write_aseg_stats(cohort, tmp_path / "fmriprep")
    vols = cohort["volumes"].iloc[3]
    got = parse_aseg(tmp_path / "fmriprep" / "sourcedata" / "freesurfer" / vols["participant_id"] / "stats" /
                     "aseg.stats")
    assert got["icv"] == pytest.approx(vols["icv"], abs=1e-6)
    for col in ("hippocampus_l", "hippocampus_r", "amygdala_l", "amygdala_r", "accumbens_l", "accumbens_r"):
        assert got[col] == pytest.approx(round(vols[col], 1), abs=1e-9)
    assert len(got) == 7  # thalamus, ventricles, brain stem... are not taken


def test_parse_aseg_names_the_missing_structure(tmp_path):
    path = tmp_path / "aseg.stats"
    path.write_text("# Measure EstimatedTotalIntraCranialVol, eTIV, Estimated Total Intracranial Volume, "
                    "1500000.0, mm^3\n  1   17     4100     4100.5  Left-Hippocampus  80 10 40 120 80\n")
    with pytest.raises(InputError, match=r"aseg.stats: aseg.stats lacks accumbens_l, .*hippocampus_r"):
        parse_aseg(path)


def test_volumes_from_aseg_when_no_volumes_table(cohort, tmp_path, caplog):
    (cohort["root"] / "phenotype" / "volumes.tsv").unlink()
    write_aseg_stats(cohort, tmp_path / "fmriprep", skip={"sub-P05"})
    with caplog.at_level(logging.INFO, logger="ketamine_fc.group"):
        inputs = _load(cohort, tmp_path, fmriprep_dir=tmp_path / "fmriprep")
    assert "sub-P05" in caplog.text and "aseg.stats" in caplog.text
    vols = inputs.volumes.set_index("participant_id")
    assert len(vols) == 22 and "sub-P05" not in vols.index
    np.testing.assert_allclose(vols["icv"], cohort["volumes"].set_index("participant_id")["icv"].drop("sub-P05"))


def test_optional_tables_absent_are_skipped_with_a_reason(cohort, tmp_path):
    for name in ("cgi", "bprs", "ketamine_levels", "side_effects", "volumes"):
        (cohort["root"] / "phenotype" / f"{name}.tsv").unlink()
    inputs = _load(cohort, tmp_path)
    assert set(inputs.skipped) == {"cgi", "bprs", "ketamine_levels", "side_effects", "volumes",
                                   "edges_limbic_change"}
    assert "cgi.tsv does not exist" in inputs.skipped["cgi"]
    assert inputs.cgi is None and inputs.volumes is None


def test_gather_from_participant_outputs(cohort, tmp_path):
    write_participant_outputs(cohort, tmp_path / "out")
    gathered = gather_network_measures(tmp_path / "out")
    table = pd.read_csv(cohort["fc"], sep="\t")
    assert len(gathered) == len(table) == 23 + 18 + 20 + 27 + 7 + 1
    merged = gathered.merge(table, on=["participant_id", "session_id"], suffixes=("", "_ref"))
    np.testing.assert_allclose(merged["dmn"], merged["dmn_ref"])
    inputs = _load(cohort, tmp_path, fc_table=None)
    assert inputs.sources["fc"].endswith("group/network_fc.tsv")
    assert inputs.excluded_sessions[["participant_id", "session_id"]].values.tolist() == [["sub-C01", "ses-pre3"]]
    assert len(inputs.fc) == len(table) - 1
    limbic = read_limbic_matrices(tmp_path / "out")
    assert len(limbic) == len(table) and list(limbic[("sub-P01", "ses-pre1")].columns) == LIMBIC


def test_gather_without_outputs_says_what_to_do(tmp_path):
    with pytest.raises(InputError, match="run the participant level first or give --fc-table"):
        gather_network_measures(tmp_path)


def test_empty_and_na_scores_are_missing_not_errors(cohort, tmp_path):
    path = cohort["root"] / "phenotype" / "madrs.tsv"
    _edit(path, lambda df: df.assign(madrs=df["madrs"].where(df.index != 3, "n/a").where(df.index != 9, "")))
    inputs = _load(cohort, tmp_path)
    assert len(inputs.madrs) == len(pd.read_csv(path, sep="\t")) - 2


@pytest.mark.parametrize("edit, where, message", [
    (lambda df: pd.concat([df, df.iloc[[4]]]), "network_fc.tsv",
     r"the FC table has 2 rows for sub-P02, ses-pre2; each must appear once"),
    (lambda df: df.assign(included=df["included"].where(df.index != 2, "maybe")), "network_fc.tsv",
     r"column included must be true or false, got 'maybe' for sub-P01 ses-post"),
    (lambda df: df.assign(limbic=df["limbic"].where(df.index != 7, "0.3o")), "network_fc.tsv",
     r"non-numeric value '0.3o' in column limbic for sub-P03 \(data row 8\)"),
    (lambda df: df.drop(columns="visual"), "network_fc.tsv", r"the FC table lacks measure column\(s\) visual"),
])
def test_fc_table_errors(cohort, tmp_path, edit, where, message):
    _edit(cohort["fc"], edit)
    with pytest.raises(InputError, match=message) as err:
        _load(cohort, tmp_path)
    assert err.value.path.endswith(where)


@pytest.mark.parametrize("table, edit, message", [
    ("madrs", lambda df: pd.concat([df, pd.DataFrame([{"participant_id": "sub-Z01", "timepoint": "baseline",
                                                       "madrs": "30"}])]),
     r"participant\(s\) sub-Z01 in the MADRS table are not in participants.tsv"),
    ("madrs", lambda df: pd.concat([df, df.iloc[[0]]]), r"the MADRS table has 2 rows for sub-P01, baseline"),
    ("cgi", lambda df: df.assign(cgi_i=df["cgi_i"].where(df.index != 0, "much better")),
     r"non-numeric value 'much better' in column cgi_i for sub-P02"),
    ("ketamine_levels", lambda df: df.assign(ketamine_r=df["ketamine_r"].where(df.index != 1, "<LOD")),
     r"non-numeric value '<LOD' in column ketamine_r for sub-P02"),
])
def test_phenotype_errors(cohort, tmp_path, table, edit, message):
    path = cohort["root"] / "phenotype" / f"{table}.tsv"
    _edit(path, edit)
    with pytest.raises(InputError, match=message) as err:
        _load(cohort, tmp_path)
    assert err.value.path == str(path)


@pytest.mark.parametrize("params, message", [
    (GroupParams(baseline_timepoint="screening"), r"--baseline-timepoint 'screening' is not a timepoint"),
    (GroupParams(patient_group="TRD"), r"no participant has group 'TRD' \(groups found: control, patient"),
    (GroupParams(post_sessions=("followup",)), r"the patients need pre and post sessions"),
])
def test_option_errors(cohort, tmp_path, params, message):
    with pytest.raises(InputError, match=message):
        _load(cohort, tmp_path, params)


def test_participant_of_neither_group_is_logged(cohort, tmp_path, caplog):
    _edit(cohort["root"] / "participants.tsv", lambda df: df.assign(group=df["group"].where(df.index != 30, "pilot")))
    with caplog.at_level(logging.INFO, logger="ketamine_fc.group"):
        _load(cohort, tmp_path)
    assert "1 participant(s) of neither group 'patient' nor 'control' are left out: sub-C08" in caplog.text
