"""The group level keeps going: an analysis that cannot be computed is logged once and left out (or written as
n/a rows) while every other table, figure and the report are still written.

Covered: an uncomputable analysis (a side effect coded 2) through the CLI, with the stale table of an earlier run
removed; a patient with a baseline MADRS of 0; a rank-deficient LME design (every patient with a post session a
responder, or none); volume tables in every usual spelling, with unrecognised names and without an ICV; and
participant-level outputs made with different settings, which are never pooled.

Numbers are checked against independent computations: a cohort built without the zero-baseline patient,
scipy ``pearsonr`` of volume / ICV against the MADRS percent change computed by hand, statsmodels ``AnovaRM``
and scipy ``binomtest`` for the clinical outcomes.
"""

import json
import logging
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ketamine_fc.config import GroupParams, Settings
from ketamine_fc.errors import InputError
from ketamine_fc.group.analyses import madrs_change, responders, run_group_analyses
from ketamine_fc.group.inputs import (check_same_settings, gather_network_measures, load_group_inputs,
                                      volume_name)
from ketamine_fc.group.outputs import write_group_tables
from ketamine_fc.reports.report import write_report
from ketamine_fc.utils.derivatives import read_tsv

from cohort import make_cohort, write_participant_outputs

TABLES = ("network_fc", "clinical_timecourse", "clinical_anova", "lme", "baseline_reliability",
          "controls_vs_patients", "correlations", "logistic", "primary_outcomes", "edges_limbic_change",
          "motion", "excluded_sessions")
FIGURES = ("fig1_madrs", "fig2_3_prepost", "fig4_controls_patients", "fig5_volume")
IMAGING = [f"{m} {t}" for m in ("dmn", "sgacc_dmn", "limbic") for t in ("time", "time:response")]
SKIPPED_HEADING = "Analyses skipped or not computed"



@pytest.fixture
def cohort(tmp_path):
    return make_cohort(tmp_path / "bids")


# ------------------------------------------------------------------------------------------------- helpers


def _phenotype(cohort, name):
    return cohort["root"] / "phenotype" / f"{name}.tsv"


def _read(path):
    return pd.read_csv(path, sep="\t")


def _write(df, path):
    df.to_csv(path, sep="\t", index=False)


def _analyse(cohort, out, caplog, params=None, fc_table="default"):
    """Load and analyse in Python; return inputs, tables and the WARNING messages of the group logger."""
    params = params or GroupParams()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ketamine_fc"):
        inputs = load_group_inputs(cohort["root"], out, params, cohort["fc"] if fc_table == "default" else fc_table)
        tables = run_group_analyses(inputs, params)
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and r.name.startswith("ketamine_fc")]
    return inputs, tables, warnings


def _write_all(tables, inputs, out, params=None):
    params = params or GroupParams()
    write_group_tables(tables, out, params, inputs)
    return write_report(tables, inputs, params, out)


def _madrs_wide(cohort):
    return _read(_phenotype(cohort, "madrs")).pivot(index="participant_id", columns="timepoint", values="madrs")


def _percent_change(cohort, timepoint="week2"):
    """MADRS percent change by hand: patients assessed at baseline and ``timepoint`` with a positive baseline."""
    w = _madrs_wide(cohort)
    both = w[["baseline", timepoint]].dropna()
    both = both[both["baseline"] > 0]
    return 100 * (both[timepoint] - both["baseline"]) / both["baseline"]


def _skipped_section(report_text):
    """The items of the report's "Analyses skipped or not computed" list, or [] when the section is absent."""
    if SKIPPED_HEADING not in report_text:
        return []
    section = report_text.split(SKIPPED_HEADING, 1)[1].split("</ul>", 1)[0]
    return re.findall(r"<li>(.*?)</li>", section, flags=re.S)


def _pearson_reference(volumes, structure, change):
    """scipy pearsonr of ``structure`` / ICV against the MADRS change, pairs with a missing value dropped."""
    ratio = (volumes[structure] / volumes["icv"]).reindex(change.index)
    ok = ratio.notna() & change.notna()
    r, p = stats.pearsonr(ratio[ok], change[ok])
    return int(ok.sum()), r, p


# ------------------------------------------------------------- 1. an uncomputable analysis: logged, left out


def _corrupt_side_effects(cohort):
    """Code one side effect as 2: the logistic regression cannot be fit (outcomes must be 0/1)."""
    path = _phenotype(cohort, "side_effects")
    df = _read(path)
    df.loc[4, "dissociation"] = 2
    _write(df, path)
    return df.loc[4, "participant_id"]


def test_uncomputable_analysis_is_logged_once_and_left_out_in_python(cohort, tmp_path, caplog):
    _corrupt_side_effects(cohort)
    inputs, tables, warnings = _analyse(cohort, tmp_path / "out", caplog)
    assert "logistic" not in tables
    assert set(tables) == set(TABLES) - {"logistic"}
    assert "0/1" in inputs.skipped["logistic"] and inputs.skipped["logistic"].startswith("not computed:")
    logistic_lines = [w for w in warnings if w.startswith("logistic not computed:")]
    assert logistic_lines == ["logistic not computed: logistic regression outcome must be coded 0/1"]
    assert len(warnings) == 1, warnings
    report = _write_all(tables, inputs, tmp_path / "out")
    items = _skipped_section(report.read_text())
    assert any(i.startswith("logistic: not computed:") and "0/1" in i for i in items), items


def test_cli_rerun_removes_the_stale_table_and_writes_everything_else(cohort, tmp_path, capsys):
    from ketamine_fc.cli.run import main

    out = tmp_path / "out"
    group = out / "group"
    argv = [str(cohort["root"]), str(out), "group", "--fc-table", str(cohort["fc"])]
    assert main(argv + ["-w", str(tmp_path / "work1")]) == 0
    capsys.readouterr()
    assert (group / "logistic.tsv").exists() and (group / "logistic.json").exists()
    first = {name: read_tsv(group / f"{name}.tsv") for name in ("lme", "correlations", "primary_outcomes")}
    assert SKIPPED_HEADING not in (group / "report.html").read_text() or \
        "logistic" not in " ".join(_skipped_section((group / "report.html").read_text()))

    _corrupt_side_effects(cohort)
    logs_before = set((out / "logs").glob("*.log"))
    assert main(argv + ["-w", str(tmp_path / "work2")]) == 0
    err = capsys.readouterr().err
    # the stale table and its sidecar from the first run are gone; everything else is written
    assert not (group / "logistic.tsv").exists() and not (group / "logistic.json").exists()
    for name in set(TABLES) - {"logistic"}:
        assert (group / f"{name}.tsv").exists() and (group / f"{name}.json").exists(), name
    for fig in FIGURES:
        assert (group / "figures" / f"{fig}.png").stat().st_size > 1000, fig
    for name, before in first.items():  # the other analyses are untouched by the failure
        pd.testing.assert_frame_equal(read_tsv(group / f"{name}.tsv"), before, check_exact=False, rtol=1e-9)
    # one WARNING line on the console and in this run's log file
    console = [line for line in err.splitlines() if "WARNING" in line]
    assert len(console) == 1 and "logistic not computed: logistic regression outcome must be coded 0/1" in \
        console[0], err
    (log,) = set((out / "logs").glob("*.log")) - logs_before
    assert len([line for line in log.read_text().splitlines() if "logistic not computed" in line]) == 1
    # and the report says so
    text = (group / "report.html").read_text()
    items = _skipped_section(text)
    assert any(i.startswith("logistic: not computed:") and "0/1" in i for i in items), items
    assert "(logistic.tsv)</h3>" not in text and "(lme.tsv)</h3>" in text


def test_rerun_with_the_same_work_dir_sees_the_edited_phenotype(cohort, tmp_path, capsys):
    """The default work directory is ./work, so a plain rerun after editing a phenotype table reuses it."""
    from ketamine_fc.cli.run import main

    out = tmp_path / "out"
    argv = [str(cohort["root"]), str(out), "group", "--fc-table", str(cohort["fc"]), "-w", str(tmp_path / "work")]
    assert main(argv) == 0
    assert (out / "group" / "logistic.tsv").exists()
    _corrupt_side_effects(cohort)
    assert main(argv) == 0
    capsys.readouterr()
    assert not (out / "group" / "logistic.tsv").exists(), \
        "logistic.tsv from the first run is still there: the edited side_effects.tsv was not read again"


# ----------------------------------------------------------------------------- 2. a baseline MADRS of 0


def _zero_baseline_patient(cohort):
    """A patient with pre and post sessions and a week-2 score (so that they would otherwise be in the LME)."""
    fc = _read(cohort["fc"])
    w = _madrs_wide(cohort)
    post = set(fc.loc[fc["session_id"] == "ses-post", "participant_id"])
    candidates = [p for p in cohort["patients"][4:] if p in post and pd.notna(w.loc[p, "week2"])]
    return candidates[0]


def _without(cohort, who, root):
    """A copy of the cohort with ``who`` removed from every table (the reference for a left-out patient)."""
    shutil.copytree(cohort["root"], root)
    for path in [root / "participants.tsv", root / "network_fc.tsv", *sorted((root / "phenotype").glob("*.tsv"))]:
        df = _read(path)
        _write(df[df["participant_id"] != who], path)
    return {**cohort, "root": root, "fc": root / "network_fc.tsv"}


def test_zero_baseline_patient_is_named_once_and_left_out_of_change_analyses(cohort, tmp_path, caplog):
    who = _zero_baseline_patient(cohort)
    reference = _without(cohort, who, tmp_path / "reference")  # before the edit: same scores for everyone else
    path = _phenotype(cohort, "madrs")
    madrs = _read(path)
    madrs.loc[(madrs["participant_id"] == who) & (madrs["timepoint"] == "baseline"), "madrs"] = 0
    _write(madrs, path)

    inputs, tables, warnings = _analyse(cohort, tmp_path / "out", caplog)
    naming = [w for w in warnings if who in w]
    assert len(naming) == 1 and "baseline MADRS of 0" in naming[0], warnings
    assert not [w for w in warnings if "not computed" in w], warnings
    params = GroupParams()
    assert who not in madrs_change(inputs, params, "week2").index
    assert who not in responders(inputs, params).index
    assert set(tables) == set(TABLES)

    # clinical_timecourse: still written; the patient is assessed, but response_n counts positive baselines only
    course = tables["clinical_timecourse"].set_index("timepoint")
    w = _madrs_wide(cohort)
    assert course.loc["baseline", "n"] == w["baseline"].notna().sum()
    assert course.loc["baseline", "mean"] == pytest.approx(w["baseline"].mean())
    for tp in ("day1", "week2", "week8"):
        both = w[["baseline", tp]].dropna()
        positive = both[both["baseline"] > 0]
        expected = int(((positive["baseline"] - positive[tp]) / positive["baseline"] >= 0.5).sum())
        assert course.loc[tp, "response_n"] == expected, tp
        assert course.loc[tp, "n_paired"] == len(both), tp

    # the LME and the correlations equal those of a cohort built without the patient
    _, ref_tables, _ = _analyse(reference, tmp_path / "ref_out", caplog)
    cols = ["measure", "term", "estimate", "se", "t", "df", "p", "n_obs", "n_participants"]
    pd.testing.assert_frame_equal(tables["lme"][cols], ref_tables["lme"][cols], check_exact=False, rtol=1e-8)
    assert (tables["lme"]["n_participants"] < inputs.fc["participant_id"].str.startswith("sub-P").sum()).all()
    pd.testing.assert_frame_equal(tables["correlations"], ref_tables["correlations"], check_exact=False, rtol=1e-10)
    prim = tables["primary_outcomes"].set_index("outcome")
    ref_prim = ref_tables["primary_outcomes"].set_index("outcome")
    np.testing.assert_allclose(prim.loc[IMAGING, "p"], ref_prim.loc[IMAGING, "p"], rtol=1e-8)

    # and against scipy directly: volume / ICV vs the percent change computed by hand without the patient
    change = _percent_change(cohort)
    assert who not in change.index
    corr = tables["correlations"].set_index("x")
    n, r, p = _pearson_reference(cohort["volumes"].set_index("participant_id"), "hippocampus_r", change)
    assert corr.loc["hippocampus_r_icv", "n"] == n
    assert corr.loc["hippocampus_r_icv", "r"] == pytest.approx(r) and corr.loc["hippocampus_r_icv", "p"] == \
        pytest.approx(p)

    report = _write_all(tables, inputs, tmp_path / "out")
    for name in TABLES:
        assert (tmp_path / "out" / "group" / f"{name}.tsv").exists(), name
    assert "(clinical_timecourse.tsv)</h3>" in report.read_text()


# -------------------------------------------------------------------------- 3. a rank-deficient LME design


def _set_week2(cohort, rule):
    """Rewrite the week-2 MADRS with ``rule(participant, baseline)``; return the post-session patients."""
    path = _phenotype(cohort, "madrs")
    madrs = _read(path).astype({"madrs": float})
    base = madrs[madrs["timepoint"] == "baseline"].set_index("participant_id")["madrs"]
    wk2 = madrs["timepoint"] == "week2"
    madrs.loc[wk2, "madrs"] = [float(rule(p, base[p])) for p in madrs.loc[wk2, "participant_id"]]
    _write(madrs, path)


def _post_patients(cohort):
    fc = _read(cohort["fc"])
    return set(fc.loc[(fc["session_id"] == "ses-post") & fc["participant_id"].str.startswith("sub-P"),
                      "participant_id"])


def _clinical_references(cohort):
    from statsmodels.stats.anova import AnovaRM

    complete = _madrs_wide(cohort).dropna()
    long = complete.reset_index().melt(id_vars="participant_id", var_name="timepoint", value_name="madrs")
    anova_p = AnovaRM(long, "madrs", "participant_id", within=["timepoint"]).fit().anova_table.iloc[0]["Pr > F"]
    cgi = _read(_phenotype(cohort, "cgi")).query("timepoint == 'week2'")
    k, n = int((cgi["cgi_i"] <= 2).sum()), len(cgi)
    return anova_p, stats.binomtest(k, n, 0.5, "greater").pvalue


@pytest.mark.parametrize("design", ["every_post_patient_responds", "nobody_responds"])
def test_rank_deficient_lme_gives_na_rows_and_the_rest_goes_on(cohort, tmp_path, caplog, design):
    post = _post_patients(cohort)
    if design == "every_post_patient_responds":
        # responders (>= 60% drop) among the patients imaged after treatment; the others do not respond
        _set_week2(cohort, lambda p, b: float(np.floor(0.4 * b)) if p in post else b)
        reason_words = "every patient with a post session is a responder"
    else:
        _set_week2(cohort, lambda p, b: b)
        reason_words = "no patient with a post session is a responder"
    inputs, tables, warnings = _analyse(cohort, tmp_path / "out", caplog)

    # the edit did what it should: the check is by hand from the table, not from the package
    change = _percent_change(cohort)
    resp = change <= -50
    imaged = resp.index.isin(post)
    if design == "every_post_patient_responds":
        assert resp[imaged].all() and not resp[~imaged].any() and (~imaged).sum() >= 1
    else:
        assert not resp.any()
    assert imaged.sum() >= 10

    lme_lines = [w for w in warnings if w.startswith("LME")]
    assert len(lme_lines) == 1 and lme_lines[0].startswith("LME not computed: ") and reason_words in lme_lines[0]
    lme = tables["lme"]
    assert sorted(set(lme["measure"])) == sorted(inputs.measures) and len(lme) == 3 * len(inputs.measures)
    assert lme.groupby("measure")["term"].apply(list).to_dict() == {
        m: ["intercept", "time", "time:response"] for m in inputs.measures}
    assert lme[["estimate", "se", "t", "df", "p"]].isna().all().all()
    assert lme["warning"].str.startswith("not computed: ").all() and lme["warning"].str.contains(reason_words).all()

    prim = tables["primary_outcomes"].set_index("outcome")
    assert list(prim.index) == ["madrs_rm_anova", "cgi_improved_week2"] + IMAGING
    assert prim.loc[IMAGING, "p"].isna().all() and not prim.loc[IMAGING, "passes_bonferroni"].any()
    anova_p, cgi_p = _clinical_references(cohort)
    # the primary ANOVA outcome is Greenhouse-Geisser corrected; the sphericity-assumed p is its alternative
    assert prim.loc["madrs_rm_anova", "p_alternative"] == pytest.approx(anova_p, rel=1e-8)
    assert prim.loc["madrs_rm_anova", "p"] == pytest.approx(tables["clinical_anova"].loc[0, "p_gg"], rel=1e-12)
    assert prim.loc["cgi_improved_week2", "p"] == pytest.approx(cgi_p)
    assert set(tables) == set(TABLES)
    # the whole-connectome LME shares the design, so it stops for the same reason; nothing else stops
    connectome_lines = [w for w in warnings if w.startswith("connectome not computed")]
    assert all(reason_words in w for w in connectome_lines), connectome_lines
    assert not [w for w in warnings if "not computed" in w
                and not w.startswith(("LME", "connectome not computed"))], warnings


def test_rank_deficient_lme_through_run_group_writes_na_rows_and_the_report(cohort, tmp_path):
    from ketamine_fc.workflows.group import run_group

    post = _post_patients(cohort)
    _set_week2(cohort, lambda p, b: float(np.floor(0.4 * b)) if p in post else b)
    out = tmp_path / "out"
    report = run_group(cohort["root"], out, GroupParams(), fc_table=cohort["fc"], work_dir=tmp_path / "work")
    group = out / "group"
    assert report == group / "report.html" and report.exists()
    for name in TABLES:
        assert (group / f"{name}.tsv").exists() and (group / f"{name}.json").exists(), name
    for fig in FIGURES:
        assert (group / "figures" / f"{fig}.png").exists(), fig
    lme = read_tsv(group / "lme.tsv")
    assert len(lme) == 12 and lme[["estimate", "se", "t", "df", "p"]].isna().all().all()
    raw = pd.read_csv(group / "lme.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert (raw[["estimate", "se", "t", "df", "p"]] == "n/a").all().all()
    assert lme["warning"].str.startswith("not computed:").all()
    assert lme["warning"].str.contains("responder").all()
    prim = read_tsv(group / "primary_outcomes.tsv").set_index("outcome")
    assert prim.loc[IMAGING, "p"].isna().all() and not prim.loc[IMAGING, "passes_bonferroni"].astype(bool).any()
    anova_p, cgi_p = _clinical_references(cohort)
    assert prim.loc["madrs_rm_anova", "p_alternative"] == pytest.approx(anova_p, rel=1e-8)
    assert prim.loc["madrs_rm_anova", "p"] == pytest.approx(read_tsv(group / "clinical_anova.tsv").loc[0, "p_gg"])
    assert prim.loc["cgi_improved_week2", "p"] == pytest.approx(cgi_p)
    text = report.read_text()
    assert "not computed: every patient with a post session is a responder" in text
    assert "(primary_outcomes.tsv)</h3>" in text and "(clinical_timecourse.tsv)</h3>" in text


# ------------------------------------------------------------------------------------------- 4. volumes

STRUCTURES = ["hippocampus_l", "hippocampus_r", "amygdala_l", "amygdala_r", "accumbens_l", "accumbens_r",
              "thalamus_l"]
SPELLINGS = {
    "aseg": {"hippocampus_l": "Left-Hippocampus", "hippocampus_r": "Right-Hippocampus",
             "amygdala_l": "Left-Amygdala", "amygdala_r": "Right-Amygdala", "accumbens_l": "Left-Accumbens-area",
             "accumbens_r": "Right-Accumbens-area", "thalamus_l": "Left-Thalamus-Proper",
             "icv": "EstimatedTotalIntraCranialVol"},
    "side_first": {"hippocampus_l": "left_hippocampus", "hippocampus_r": "right_hippocampus",
                   "amygdala_l": "left_amygdala", "amygdala_r": "right_amygdala", "accumbens_l": "left_accumbens",
                   "accumbens_r": "right_accumbens", "thalamus_l": "left_thalamus", "icv": "eTIV"},
    "side_last": {"hippocampus_l": "hippocampus_l", "hippocampus_r": "hippocampus_r", "amygdala_l": "amygdala_l",
                  "amygdala_r": "amygdala_r", "accumbens_l": "accumbens_l", "accumbens_r": "accumbens_r",
                  "thalamus_l": "thalamus_l", "icv": "icv"},
    "hemi": {"hippocampus_l": "lh_hippocampus", "hippocampus_r": "rh_hippocampus", "amygdala_l": "lh_amygdala",
             "amygdala_r": "rh_amygdala", "accumbens_l": "lh_accumbens", "accumbens_r": "rh_accumbens",
             "thalamus_l": "lh_thalamus", "icv": "ICV"},
}


def _volumes_with_thalamus(cohort):
    vols = cohort["volumes"].copy()
    rng = np.random.default_rng(cohort["seed"] + 100)
    vols["thalamus_l"] = vols["icv"] * 5e-3 * rng.normal(1, 0.05, len(vols))
    return vols


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_volume_name_recognises_the_usual_spellings(spelling):
    for canonical, column in SPELLINGS[spelling].items():
        assert volume_name(column) == canonical, column
    for other in ("Right-Thalamus", "rh.thalamus", "Left Amygdala", "HIPPOCAMPUS_R", "Total_Intracranial_Volume"):
        assert volume_name(other) is not None, other
    assert volume_name("Right-Thalamus") == "thalamus_r" and volume_name("Left Amygdala") == "amygdala_l"
    for unknown in ("vol_a", "site", "scanner_id", "left", "brain_volume"):
        assert volume_name(unknown) is None, unknown


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_volume_table_spellings_are_analysed_against_scipy(cohort, tmp_path, caplog, spelling):
    vols = _volumes_with_thalamus(cohort)
    names = SPELLINGS[spelling]
    table = vols.rename(columns=names)
    table.insert(1, "site", ["siteA" if i % 2 else "siteB" for i in range(len(table))])  # text: not a volume
    table = table[["participant_id", "site", names["icv"]] + [names[s] for s in STRUCTURES]]
    _write(table, _phenotype(cohort, "volumes"))

    inputs, tables, warnings = _analyse(cohort, tmp_path / "out", caplog)
    assert not [w for w in warnings if "volume" in w.lower()], warnings
    assert "volumes" not in inputs.skipped
    corr = tables["correlations"].set_index("x")
    volume_rows = sorted(x for x in corr.index if x.endswith("_icv"))
    assert volume_rows == sorted(f"{s}_icv" for s in STRUCTURES)
    change = _percent_change(cohort)
    reference = vols.set_index("participant_id")
    for s in STRUCTURES:
        n, r, p = _pearson_reference(reference, s, change)
        got = corr.loc[f"{s}_icv"]
        assert got["n"] == n and got["r"] == pytest.approx(r, abs=1e-10) and got["p"] == pytest.approx(p), s
        assert got["y"] == "madrs_change_week2"
    assert corr.loc["hippocampus_r_icv", "r"] > 0.5  # the planted effect survives any spelling
    report = _write_all(tables, inputs, tmp_path / "out")
    assert (tmp_path / "out" / "group" / "figures" / "fig5_volume.png").exists()
    assert "volumes" not in " ".join(_skipped_section(report.read_text()))


def test_volume_table_with_no_recognised_name_warns_and_analyses_its_columns(cohort, tmp_path, caplog):
    vols = cohort["volumes"]
    table = pd.DataFrame({"participant_id": vols["participant_id"], "vol_a": vols["hippocampus_r"],
                          "region_b": vols["amygdala_l"], "icv": vols["icv"]})
    _write(table, _phenotype(cohort, "volumes"))
    inputs, tables, warnings = _analyse(cohort, tmp_path / "out", caplog)
    about = [w for w in warnings if "vol_a" in w]
    assert len(about) == 1 and "region_b" in about[0] and "recognised" in about[0], warnings
    assert len(warnings) == 1, warnings
    corr = tables["correlations"].set_index("x")
    assert sorted(x for x in corr.index if x.endswith("_icv")) == ["region_b_icv", "vol_a_icv"]
    change = _percent_change(cohort)
    reference = table.set_index("participant_id")
    for col in ("vol_a", "region_b"):
        n, r, p = _pearson_reference(reference, col, change)
        assert corr.loc[f"{col}_icv", "n"] == n
        assert corr.loc[f"{col}_icv", "r"] == pytest.approx(r) and corr.loc[f"{col}_icv", "p"] == pytest.approx(p)
    _write_all(tables, inputs, tmp_path / "out")
    assert (tmp_path / "out" / "group" / "figures" / "fig5_volume.png").exists()


def test_volume_table_without_icv_skips_the_volumetrics_only(cohort, tmp_path, caplog):
    vols = cohort["volumes"]
    table = vols[["participant_id", "hippocampus_l", "hippocampus_r", "amygdala_l"]].rename(
        columns={"hippocampus_l": "Left-Hippocampus", "hippocampus_r": "Right-Hippocampus"})
    _write(table, _phenotype(cohort, "volumes"))
    inputs, tables, warnings = _analyse(cohort, tmp_path / "out", caplog)
    assert len(warnings) == 1, warnings
    assert "Skipping the volumetrics" in warnings[0] and "intracranial" in warnings[0]
    for col in ("Left-Hippocampus", "Right-Hippocampus", "amygdala_l"):
        assert col in warnings[0]
    assert inputs.volumes is None and "volumes" in inputs.skipped
    corr = tables["correlations"]
    assert not corr["x"].str.endswith("_icv").any()
    # the other correlations are still computed, and right
    assert "bprs_positive_mean" in set(corr["x"]) and "ketamine_r" in set(corr["x"])
    levels = _read(_phenotype(cohort, "ketamine_levels")).set_index("participant_id")
    change = _percent_change(cohort)
    r, p = stats.pearsonr(levels["ketamine_r"].reindex(change.index), change)
    got = corr.set_index("x").loc["ketamine_r"]
    assert got["r"] == pytest.approx(r) and got["p"] == pytest.approx(p)

    out = tmp_path / "out"
    report = _write_all(tables, inputs, out)
    for name in TABLES:
        assert (out / "group" / f"{name}.tsv").exists(), name
    for fig in ("fig1_madrs", "fig2_3_prepost", "fig4_controls_patients"):
        assert (out / "group" / "figures" / f"{fig}.png").exists(), fig
    assert not (out / "group" / "figures" / "fig5_volume.png").exists()
    items = _skipped_section(report.read_text())
    assert any(i.startswith("volumes:") and "intracranial" in i for i in items), items


# ------------------------------------------------------------------ 5. participant-level settings differ

OTHERS = ("sub-P05_ses-post", "sub-P06_ses-pre1", "sub-C03_ses-pre1")


def _participant_parameters():
    return Settings(bids_dir="/data", output_dir="/out", analysis_level="participant").parameters("participant")


def _write_sidecars(out, parameters_of):
    """A sidecar beside every measure TSV, with ``parameters_of(session name)`` as its Parameters."""
    files = sorted(out.glob("sub-*/ses-*/func/*_desc-network_measures.tsv"))
    for f in files:
        name = f.name.split("_space-")[0]
        meta = {"Description": "Network measures", "Parameters": parameters_of(name)}
        f.with_name(f.name[: -len(".tsv")] + ".json").write_text(json.dumps(meta, indent=2))
    return files


def test_sessions_made_with_different_settings_are_never_pooled(cohort, tmp_path, capsys):
    from ketamine_fc.cli.run import main

    out = tmp_path / "out"
    write_participant_outputs(cohort, out)
    a = _participant_parameters()
    b = {**a, "fd_thresh": 0.3, "min_frames": 200}
    files = _write_sidecars(out, lambda name: b if name in OTHERS else a)
    assert {f.name.split("_space-")[0] for f in files} >= set(OTHERS)

    for call in (lambda: gather_network_measures(out), lambda: check_same_settings(files, out),
                 lambda: load_group_inputs(cohort["root"], out, GroupParams())):
        with pytest.raises(InputError) as err:
            call()
        message = str(err.value)
        for name in OTHERS:
            assert name in message, name
        assert "fd_thresh: 0.2 -> 0.3" in message and "min_frames: 240 -> 200" in message
        assert f"from the other {len(files) - len(OTHERS)}" in message
        assert "sub-P07_ses-post" not in message

    code = main([str(cohort["root"]), str(out), "group", "-w", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 1 and "fd_thresh: 0.2 -> 0.3" in err and "sub-P05_ses-post" in err and "Traceback" not in err
    assert not (out / "group" / "lme.tsv").exists() and not (out / "group" / "report.html").exists()


def test_sessions_made_with_the_same_settings_are_pooled(cohort, tmp_path, caplog):
    out = tmp_path / "out"
    write_participant_outputs(cohort, out)
    a = _participant_parameters()
    files = _write_sidecars(out, lambda name: a)
    assert check_same_settings(files, out) == json.loads(json.dumps(a))
    inputs, tables, _ = _analyse(cohort, out, caplog, fc_table=None)
    assert inputs.participant_parameters == json.loads(json.dumps(a))
    assert len(inputs.fc_all) == len(_read(cohort["fc"]))
    assert "lme" in tables and tables["lme"]["p"].notna().all()


def test_a_single_differing_session_is_named(cohort, tmp_path):
    out = tmp_path / "out"
    write_participant_outputs(cohort, out)
    a = _participant_parameters()
    files = _write_sidecars(out, lambda name: {**a, "fd_thresh": 0.5} if name == "sub-C10_ses-pre1" else a)
    with pytest.raises(InputError, match=r"1 session\(s\) \(sub-C10_ses-pre1\) differ from the other "
                                         rf"{len(files) - 1} in fd_thresh: 0\.2 -> 0\.5"):
        gather_network_measures(out)


def test_rank_deficiency_is_told_in_responder_terms_whatever_the_coding(cohort, tmp_path, caplog):
    post = _post_patients(cohort)
    _set_week2(cohort, lambda p, b: float(np.floor(0.4 * b)) if p in post else b)
    _, tables, warnings = _analyse(cohort, tmp_path / "out", caplog, GroupParams(response_coding="nonresponder"))
    assert tables["lme"]["warning"].str.contains("every patient with a post session is a responder").all()
    assert [w for w in warnings if w.startswith("LME not computed: every patient with a post session is a responder")]
