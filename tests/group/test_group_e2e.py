"""Group level end to end from an FC table: planted effects found, the null one not; clear input errors."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.cli.run import main
from ketamine_fc.utils.derivatives import read_tsv

from cohort import make_cohort


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("group")
    cohort = make_cohort(root / "bids")
    out = root / "out"
    code = main([str(root / "bids"), str(out), "group", "--fc-table", str(cohort["fc"]), "-w", str(root / "work")])
    return {"code": code, "out": out / "group", "cohort": cohort, "root": root}


def test_runs_and_writes_every_table_with_a_sidecar(result):
    assert result["code"] == 0
    names = ["clinical_timecourse", "clinical_anova", "lme", "baseline_reliability", "controls_vs_patients",
             "correlations", "logistic", "primary_outcomes", "edges_limbic_change", "network_fc"]
    for name in names:
        meta = json.loads((result["out"] / f"{name}.json").read_text())
        assert meta["GeneratedBy"][0]["Name"] == "ketamine-fc" and "Parameters" in meta
        assert (result["out"] / f"{name}.tsv").exists()
    for fig in ("fig1_madrs", "fig2_3_prepost", "fig4_controls_patients", "fig5_volume"):
        for ext in ("png", "svg"):
            assert (result["out"] / "figures" / f"{fig}.{ext}").exists()


def test_report_is_self_contained_and_lists_tables_and_exclusions(result):
    text = (result["out"] / "report.html").read_text()
    assert not re.search(r'src="(?!data:)', text)
    assert text.count("data:image/png;base64,") >= 4
    for name in ("clinical_timecourse", "lme", "primary_outcomes", "controls_vs_patients", "Excluded sessions"):
        assert name in text
    assert "ses-pre3" in text  # the session flagged included = false is listed


def test_planted_effects_found_and_null_not(result):
    lme = read_tsv(result["out"] / "lme.tsv").set_index(["measure", "term"])
    for m in ("dmn", "limbic"):
        assert lme.loc[(m, "time"), "estimate"] < 0 and lme.loc[(m, "time"), "p"] < 0.00625
    # responders' sgACC-DMN falls more: a negative time x response interaction
    assert lme.loc[("sgacc_dmn", "time:response"), "estimate"] < 0
    assert lme.loc[("sgacc_dmn", "time:response"), "p"] < 0.00625
    assert lme.loc[("visual", "time"), "p"] > 0.05 and lme.loc[("visual", "time:response"), "p"] > 0.05
    assert (lme["df"] == lme["n_obs"] - 3).all()  # residual DF, as the paper's 40 - 3 = 37
    cvp = read_tsv(result["out"] / "controls_vs_patients.tsv").set_index(["measure", "comparison"])
    for m in ("dmn", "sgacc_dmn", "limbic"):
        assert cvp.loc[(m, "baseline"), "mean_patient"] > cvp.loc[(m, "baseline"), "mean_control"]
        assert cvp.loc[(m, "baseline"), "p"] < 0.01
    assert cvp.loc[("visual", "baseline"), "p"] > 0.05
    assert cvp.loc[("dmn", "baseline"), "n_control"] == 27 and cvp.loc[("dmn", "baseline"), "n_patient"] == 23


def test_primary_outcomes_and_bonferroni(result):
    prim = read_tsv(result["out"] / "primary_outcomes.tsv")
    assert len(prim) == 8
    assert (prim["bonferroni_threshold"] == 0.05 / 8).all()
    np.testing.assert_array_equal(prim["passes_bonferroni"].astype(bool), prim["p"] < 0.00625)


def test_clinical_counts_per_protocol(result):
    course = read_tsv(result["out"] / "clinical_timecourse.tsv").set_index("timepoint")
    madrs = pd.read_csv(result["cohort"]["root"] / "phenotype" / "madrs.tsv", sep="\t")
    wide = madrs.pivot(index="participant_id", columns="timepoint", values="madrs")
    both = wide[["baseline", "week2"]].dropna()
    expected = int(((both["baseline"] - both["week2"]) / both["baseline"] >= 0.5).sum())
    assert course.loc["week2", "response_n"] == expected
    assert course.loc["week2", "n"] == wide["week2"].notna().sum()
    assert course.loc["week2", "remission_n"] == int((wide["week2"] < 10).sum())


def test_null_cohort_has_no_imaging_effect(tmp_path):
    cohort = make_cohort(tmp_path / "bids", seed=11, null=True)
    out = tmp_path / "out"
    assert main([str(tmp_path / "bids"), str(out), "group", "--fc-table", str(cohort["fc"]),
                 "-w", str(tmp_path / "work")]) == 0
    prim = read_tsv(out / "group" / "primary_outcomes.tsv")
    imaging = prim[prim["outcome"].str.contains("dmn|limbic")]
    assert not imaging["passes_bonferroni"].astype(bool).any()


def _fresh(tmp_path):
    cohort = make_cohort(tmp_path / "bids")
    return cohort, tmp_path / "bids"


def test_participant_missing_from_participants_tsv(tmp_path, capsys):
    cohort, bids = _fresh(tmp_path)
    fc = pd.read_csv(cohort["fc"], sep="\t")
    fc.loc[len(fc)] = fc.iloc[0].to_dict() | {"participant_id": "sub-X99"}
    fc.to_csv(cohort["fc"], sep="\t", index=False)
    code = main([str(bids), str(tmp_path / "o"), "group", "--fc-table", str(cohort["fc"]), "-w", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 1 and "network_fc.tsv: participant(s) sub-X99 in the FC table are not in" in err
    assert "Traceback" not in err


def test_unknown_timepoint(tmp_path, capsys):
    cohort, bids = _fresh(tmp_path)
    code = main([str(bids), str(tmp_path / "o"), "group", "--fc-table", str(cohort["fc"]), "--response-timepoint",
                 "week3", "-w", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 1 and "madrs.tsv: --response-timepoint 'week3' is not a timepoint of the MADRS table" in err


def test_non_numeric_score(tmp_path, capsys):
    cohort, bids = _fresh(tmp_path)
    path = bids / "phenotype" / "madrs.tsv"
    madrs = pd.read_csv(path, sep="\t", dtype=str)
    madrs.loc[5, "madrs"] = "twelve"
    madrs.to_csv(path, sep="\t", index=False)
    code = main([str(bids), str(tmp_path / "o"), "group", "--fc-table", str(cohort["fc"]), "-w", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 1
    assert re.search(r"madrs.tsv: non-numeric score 'twelve' in column madrs for sub-P\d+ \(data row 6\)", err)
