"""The group workflow gathering the participant-level outputs (no --fc-table), with aseg.stats volumes."""

import json
import re
import time

import pytest

from ketamine_fc.config import GroupParams
from ketamine_fc.utils.derivatives import read_tsv
from ketamine_fc.workflows.group import init_group_wf, run_group

from cohort import PLANTED_EDGE, make_cohort, write_aseg_stats, write_participant_outputs

TABLES = ("network_fc", "clinical_timecourse", "clinical_anova", "lme", "baseline_reliability",
          "controls_vs_patients", "correlations", "logistic", "primary_outcomes", "edges_limbic_change",
          "motion", "excluded_sessions")


def test_graph_gathers_only_without_a_table(tmp_path):
    (tmp_path / "fc.tsv").write_text("participant_id\tsession_id\n")
    with_table = init_group_wf(bids_dir=tmp_path, output_dir=tmp_path / "out", params=GroupParams(),
                               fc_table=tmp_path / "fc.tsv")
    gathered = init_group_wf(bids_dir=tmp_path, output_dir=tmp_path / "out", params=GroupParams())
    assert "gather_network_measures" not in with_table.list_node_names()
    assert {"gather_network_measures", "group_statistics"} <= set(gathered.list_node_names())


@pytest.fixture(scope="module")
def gathered(tmp_path_factory):
    root = tmp_path_factory.mktemp("gathered")
    cohort = make_cohort(root / "bids")
    (cohort["root"] / "phenotype" / "volumes.tsv").unlink()
    write_aseg_stats(cohort, root / "fmriprep")
    write_participant_outputs(cohort, root / "out")
    start = time.perf_counter()
    report = run_group(cohort["root"], root / "out", GroupParams(), fmriprep_dir=root / "fmriprep",
                       work_dir=root / "work")
    seconds = time.perf_counter() - start
    print(f"\ngroup workflow, 50 participants, gathered from participant outputs: {seconds:.1f} s")
    return {"report": report, "group": root / "out" / "group", "seconds": seconds, "cohort": cohort}


def test_gathered_table_and_exclusions(gathered):
    fc = read_tsv(gathered["group"] / "network_fc.tsv")
    assert len(fc) == 23 + 18 + 20 + 27 + 7 + 1
    excluded = read_tsv(gathered["group"] / "excluded_sessions.tsv")
    assert excluded[["participant_id", "session_id"]].values.tolist() == [["sub-C01", "ses-pre3"]]
    assert excluded["exclusion_reason"].iloc[0] == "40 retained frames < minimum 240"


def test_every_tsv_has_a_sidecar_with_columns_and_parameters(gathered):
    tsvs = sorted(gathered["group"].glob("*.tsv"))
    assert {p.stem for p in tsvs} == set(TABLES)
    for tsv in tsvs:
        meta = json.loads(tsv.with_suffix(".json").read_text())
        header = tsv.read_text().splitlines()[0].split("\t")
        assert meta["GeneratedBy"][0]["Name"] == "ketamine-fc" and meta["Description"]
        if tsv.stem != "network_fc":  # the gathered table is written by the gather step, then by the statistics
            assert list(meta["Columns"]) == header, tsv.name
        assert meta.get("Parameters", {}).get("response_timepoint", "week2") == "week2"
    prim = json.loads((gathered["group"] / "primary_outcomes.json").read_text())
    assert "exact binomial" in prim["CGITest"] and "exact binomial" in prim["Description"]


def test_report_is_self_contained_with_every_table_and_figure(gathered):
    text = gathered["report"].read_text()
    assert not re.search(r'\bsrc="(?!data:)', text) and "<link" not in text and "<script" not in text
    for name in TABLES:
        assert f"({name}.tsv)</h3>" in text, name
    figures = ("fig1_madrs", "fig2_3_prepost", "fig4_controls_patients", "fig5_volume", "fig_limbic_change", "fig_qc")
    assert text.count("data:image/png;base64,") == len(figures)
    for fig in figures:
        assert (gathered["group"] / "figures" / f"{fig}.png").stat().st_size > 1000
        assert (gathered["group"] / "figures" / f"{fig}.svg").read_text().lstrip().startswith("<?xml")
    assert "ses-pre3" in text and "Software" in text and "nipype" in text and "cohens_d" in text


def test_volumes_from_aseg_and_planted_edge(gathered):
    corr = read_tsv(gathered["group"] / "correlations.tsv").set_index("x")
    assert corr.loc["hippocampus_r_icv", "r"] > 0.5 and corr.loc["hippocampus_r_icv", "n"] == 21
    edges = read_tsv(gathered["group"] / "edges_limbic_change.tsv")
    hit = edges[(edges["region_1"] == PLANTED_EDGE[0]) & (edges["region_2"] == PLANTED_EDGE[1])].iloc[0]
    assert hit["t"] < 0 and hit["p"] < 1e-6


def test_runs_in_seconds(gathered):
    assert gathered["seconds"] < 60
