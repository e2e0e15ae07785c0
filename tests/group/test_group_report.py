"""The group report reads like a results section: every primary outcome with its estimate, 95 % CI, n and
direction; figures embedded with captions; methods and references from the settings; tables without missing-value
markers or Python reprs; CITATION.md at the top of the output folder.

The CIs are checked against ``estimate -/+ scipy.stats.t.ppf(.975, df) x se`` of the LME table and scipy's
``binomtest(...).proportion_ci(method="exact")`` for the CGI-I proportion.
"""

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ketamine_fc.cli.run import main
from ketamine_fc.config import GroupParams, Settings
from ketamine_fc.group.analyses import run_group_analyses
from ketamine_fc.group.inputs import load_group_inputs
from ketamine_fc.reports import methods
from ketamine_fc.reports.labels import region_name
from ketamine_fc.reports.report import _participant_settings, _table, write_report
from ketamine_fc.utils.derivatives import read_tsv

from cohort import LIMBIC, make_cohort, write_participant_outputs

SECTIONS = {"primary": "Primary outcomes", "qc": "Quality control: motion and QC-FC", "figures": "Figures", "methods": "Methods", "references": "References",
            "tables": "Tables", "settings": "Settings", "software": "Software"}
#: a missing value or a Python repr in the text a reader sees
BAD = re.compile(r"\b(?i:nan)\b|\bNone\b|<NA>|\bNaT\b|\[[^\]]*\]|\{[^}]*\}")


class _Text(HTMLParser):
    """The text of an HTML page as a reader sees it (style and script left out)."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _text(html_text: str) -> str:
    parser = _Text()
    parser.feed(html_text)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    cohort = make_cohort(root / "bids")
    out = root / "out"
    write_participant_outputs(cohort, out)  # the limbic matrices of the change figure
    code = main([str(root / "bids"), str(out), "group", "--fc-table", str(cohort["fc"]), "-w", str(root / "work")])
    group = out / "group"
    return {"code": code, "out": out, "group": group, "html": (group / "report.html").read_text(), "root": root,
            "cohort": cohort, "primary": read_tsv(group / "primary_outcomes.tsv"), "lme": read_tsv(group / "lme.tsv")}


def _outcome_items(html_text):
    return dict(re.findall(r'<li data-outcome="([^"]+)">(.*?)</li>', html_text, flags=re.S))


def test_every_figure_is_embedded_with_a_numbered_caption(report):
    assert report["code"] == 0
    pngs = sorted((report["group"] / "figures").glob("*.png"))
    assert {p.stem for p in pngs} == {"fig1_madrs", "fig2_3_prepost", "fig4_controls_patients", "fig5_volume",
                                      "fig_limbic_change", "fig_qc"}
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', report["html"])
    assert sorted(base64.b64decode(e) for e in embedded) == sorted(p.read_bytes() for p in pngs)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", report["html"], flags=re.S)
    assert [c.split(".")[0] for c in captions] == [f"Figure {k}" for k in range(1, len(pngs) + 1)]
    for caption in captions:
        assert not any(p.stem in caption for p in pngs) and re.search(r"\d+ (patients|controls)", caption), caption


def test_every_section_is_present_in_order(report):
    html_text = report["html"]
    where = [html_text.index(f'<section id="{k}"><h2>{v}</h2>') for k, v in SECTIONS.items()]
    assert where == sorted(where)
    text = _text(html_text)
    assert "Participant-level settings" in text and "Group-level parameters" in text and "nipype" in text
    for heading in ("Linear mixed-effects models of network FC (lme.tsv)", "Excluded sessions (excluded_sessions.tsv)",
                    "Primary outcomes, every column (primary_outcomes.tsv)"):
        assert heading in text


def test_each_primary_outcome_line_has_estimate_ci_n_direction_and_decision(report):
    prim = report["primary"].set_index("outcome")
    items = _outcome_items(report["html"])
    assert list(items) == list(prim.index) and len(items) == 8
    for outcome, item in items.items():
        row, line = prim.loc[outcome], _text(item)
        assert line.startswith(row["description"]), line
        assert re.search(r"(estimate|mean change) -?\d|\d+(\.\d+)? %", line), line
        assert re.search(r"95 % CI -?[\d.e-]+ %? ?to -?[\d.e-]+", line), line
        assert re.search(r"n = \d+ participants", line), line
        assert row["direction"] != "n/a" and row["direction"] in line, line
        assert ("Passes the Bonferroni" in line) == bool(row["passes_bonferroni"]), line
        assert "Does not pass" in line or "Passes" in line
    # words a reader needs, not the internal names
    assert prim.loc["limbic time", "description"] == "within-limbic FC, post vs pre (time)"
    assert prim.loc["sgacc_dmn time:response", "description"] == "sgACC-DMN FC, change by response (time x response)"
    assert prim.loc["madrs_rm_anova", "description"] == "MADRS over time (repeated-measures ANOVA)"
    assert prim.loc["cgi_improved_week2", "description"] == "CGI-I improved (1-2) at week2"
    # planted: limbic FC falls after treatment, sgACC-DMN falls more in responders, MADRS falls
    assert prim.loc["limbic time", "direction"].startswith("lower after treatment")
    assert prim.loc["sgacc_dmn time:response", "direction"].startswith("fell more in responders")
    assert prim.loc["madrs_rm_anova", "direction"] == "fell from baseline to week2"


def test_lme_ci_is_estimate_plus_minus_t_quantile_times_se(report):
    lme = report["lme"].set_index(["measure", "term"])
    half = stats.t.ppf(0.975, lme["df"]) * lme["se"]  # the TSV holds 10 significant digits
    np.testing.assert_allclose(lme["ci_low"], lme["estimate"] - half, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(lme["ci_high"], lme["estimate"] + half, rtol=1e-8, atol=1e-10)
    prim = report["primary"].set_index("outcome")
    items = _outcome_items(report["html"])
    for m in ("dmn", "sgacc_dmn", "limbic"):
        for term in ("time", "time:response"):
            row, ref = prim.loc[f"{m} {term}"], lme.loc[(m, term)]
            for k in ("estimate", "se", "df", "p", "n_obs", "n_participants"):
                assert row[k] == pytest.approx(ref[k], rel=1e-8), k
            assert row["ci_low"] == pytest.approx(ref["estimate"] - stats.t.ppf(.975, ref["df"]) * ref["se"], rel=1e-8)
            assert row["ci_high"] == pytest.approx(ref["estimate"] + stats.t.ppf(.975, ref["df"]) * ref["se"], rel=1e-8)
            line = _text(items[f"{m} {term}"])
            assert f"95 % CI {row['ci_low']:.3g} to {row['ci_high']:.3g}" in line
            assert f"t({row['df']:.3g}) = {row['statistic']:.3g}" in line
            assert f"n = {int(ref['n_participants'])} participants, {int(ref['n_obs'])} observations" in line


def test_clinical_outcomes_carry_their_own_intervals(report):
    prim = report["primary"].set_index("outcome")
    cgi = pd.read_csv(report["cohort"]["root"] / "phenotype" / "cgi.tsv", sep="\t").query("timepoint == 'week2'")
    k, n = int((cgi["cgi_i"] <= 2).sum()), len(cgi)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    row = prim.loc["cgi_improved_week2"]
    assert (row["estimate"], row["n_participants"]) == (pytest.approx(k / n), n)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    madrs = pd.read_csv(report["cohort"]["root"] / "phenotype" / "madrs.tsv", sep="\t")
    wide = madrs[madrs["participant_id"].str.startswith("sub-P")].pivot(
        index="participant_id", columns="timepoint", values="madrs").dropna()
    d = wide["week2"] - wide["baseline"]
    ci = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    row = prim.loc["madrs_rm_anova"]
    assert row["estimate"] == pytest.approx(d.mean()) and row["n_participants"] == len(d) == len(wide)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    anova = read_tsv(report["group"] / "clinical_anova.tsv").iloc[0]
    assert row["df"] == pytest.approx(anova["df_den"] * anova["epsilon_gg"])


def test_rendered_text_has_no_missing_markers_or_python_reprs(report):
    text = _text(report["html"])
    assert not BAD.findall(text), BAD.findall(text)[:10]
    assert "n/a" in text  # missing values are shown, as n/a


def test_limbic_regions_carry_anatomical_names(report):
    text = _text(report["html"])
    assert "L amygdala (limbic_amygdala_L)" in text and "R post. hippocampus (limbic_hippocampus_post_R)" in text
    assert [region_name(x) for x in LIMBIC[:2] + LIMBIC[-4:]] == [
        "L amygdala", "R amygdala", "L accumbens", "R accumbens", "L antero-medial thalamus",
        "R antero-medial thalamus"]
    assert [region_name(f"Seitzman_{r}") for r in (244, 237, 239, 247, 263, 100)] == [
        "L amygdala", "R ant. hippocampus", "R post. hippocampus", "L accumbens", "L antero-medial thalamus",
        "Seitzman_100"]


def test_citation_at_the_top_of_the_output_folder(report):
    text = (report["out"] / "CITATION.md").read_text()
    assert text == (report["out"] / "logs" / "CITATION.md").read_text()
    assert "## Group level" in text and "fitlme" in text
    assert "Bates D" in text and "10.18637/jss.v067.i01" in text and "Kuznetsova A" in text


def test_methods_follow_the_participant_settings():
    settings = Settings(bids_dir="/b", output_dir="/o", analysis_level="participant")
    text = methods.citation(settings.parameters("participant"), GroupParams().to_dict())
    for words in ("above 0.2 mm were censored", "36P", "0.009-0.08 Hz", "within 20 mm", "Gordon 333",
                  "Mehta K et al. (2024) XCP-D", "Ciric R et al. (2017)", "Power JD et al. (2014)", "Gordon EM",
                  "Seitzman BA", "Hallquist MN", "lmerTest", "MATLAB's fitlme"):
        assert words in text, words
    other = dict(settings.parameters("participant"), nuisance_regressors="acompcor", subcortical_cleanup=False,
                 denoise_order="regress-filter", min_contig=0)
    text = methods.citation(other)
    assert "CompCor" in text and "Behzadi Y" in text and "No cortical signal" in text
    assert "Hallquist MN" not in text and "Power JD et al. (2014)" not in text and "## Group level" not in text


def test_participant_settings_print_lists_and_missing_values_in_words():
    settings = Settings(bids_dir="/b", output_dir="/o", analysis_level="participant").parameters("participant")
    text = _text("".join(_participant_settings(settings)))
    assert "--sgacc 123, 280, 286" in text and "--band-stop-min n/a" in text and "--detrend yes" in text
    assert not BAD.findall(text)
    assert "Not known" in _text("".join(_participant_settings(None)))


def test_tables_print_na_yes_no_and_spelled_out_lists():
    df = pd.DataFrame({"a": [1.0, np.nan], "b": [None, "x"], "c": pd.array([pd.NA, 2], dtype="Int64"),
                       "d": [[1, 2], {"k": 1}], "e": [True, False]})
    cells = re.findall(r"<td>(.*?)</td>", _table(df))
    assert cells == ["1", "n/a", "n/a", "1, 2", "yes", "n/a", "x", "2", "k: 1", "no"]


def test_quality_control_follows_the_primary_outcomes_and_large_tables_are_not_printed(report, tmp_path):
    params = GroupParams()
    cohort = report["cohort"]
    inputs = load_group_inputs(cohort["root"], report["out"], params, cohort["fc"])
    tables = run_group_analyses(inputs, params)
    tables["qc_fc_edges"] = pd.DataFrame({"label_i": ["a"], "label_j": ["b"], "r": [0.1]})
    html_text = write_report(tables, inputs, params, tmp_path).read_text()
    assert html_text.index('id="primary"') < html_text.index('<section id="qc">') < html_text.index('id="figures"')
    assert "Quality control: motion and QC-FC" in html_text
    assert "(qc_fc_edges.tsv)" not in html_text


def test_direction_words_do_not_depend_on_the_response_coding(report):
    cohort = report["cohort"]
    rows = {}
    for coding in ("responder", "nonresponder"):
        params = GroupParams(response_coding=coding)
        inputs = load_group_inputs(cohort["root"], report["out"], params, cohort["fc"])
        rows[coding] = run_group_analyses(inputs, params)["primary_outcomes"].set_index("outcome")
    a, b = rows["responder"].loc["sgacc_dmn time:response"], rows["nonresponder"].loc["sgacc_dmn time:response"]
    assert a["estimate"] == pytest.approx(-b["estimate"], rel=1e-6) and a["estimate"] < 0
    assert a["direction"] == b["direction"] and a["direction"].startswith("fell more in responders")
    assert "non-responders" in rows["responder"].loc["limbic time", "direction"]
    assert "in responders" in rows["nonresponder"].loc["limbic time", "direction"]
