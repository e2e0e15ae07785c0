"""End to end through the demo on the surface path: ``ketamine-fc-demo --space fsLR`` simulates 91k-shaped CIFTI-2
dense time series, runs the participant level with ``--space fsLR`` and the group level, and the planted network
effects come back (tests/simulate/test_sim_e2e.py for volumes)."""

import pytest

from ketamine_fc.cli.demo import main, paired_changes
from ketamine_fc.utils.derivatives import read_tsv

pytestmark = pytest.mark.slow

# a surface run reads 72,262 grayordinates per frame: a smaller cohort than the volume test's keeps it to minutes
SMALL = ["--space", "fsLR", "--n-patients", "8", "--n-controls", "4", "--n-frames", "200", "--seed", "1",
         "--nbs-permutations", "50"]
MEASURES = ("limbic", "dmn", "sgacc_dmn", "visual")


@pytest.fixture(scope="module")
def planted(tmp_path_factory, atlas_dir):
    root = tmp_path_factory.mktemp("demo_fslr")
    code = main(["--out", str(root), *SMALL, "--atlas-dir", str(atlas_dir)])
    results = root / "ketamine-fc"
    return {"code": code, "root": root, "results": results,
            "lme": read_tsv(results / "group" / "lme.tsv").set_index(["measure", "term"]),
            "primary": read_tsv(results / "group" / "primary_outcomes.tsv").set_index("outcome")}


def test_the_surface_path_reads_the_simulated_grayordinates(planted):
    assert planted["code"] == 0
    results = planted["results"]
    assert sorted(p.name for p in (results / "atlases").glob("*.dlabel.nii")) == [
        "atlas-GordonSeitzman_space-fsLR_den-91k_dseg.dlabel.nii"]
    assert list(results.glob("sub-*/ses-*/func/*_space-fsLR_den-91k_seg-GordonSeitzman_*relmat.tsv"))
    assert not list(results.glob("sub-*/ses-*/func/*_space-MNI152NLin6Asym_*"))
    qc = read_tsv(next(results.glob("sub-P01/ses-pre1/func/*_task-rest_qc.tsv"))).set_index("run")
    # the simulated grayordinates have no cerebellum (Harvard-Oxford has none): its 27 Seitzman ROIs, and only they,
    # are absent
    absent = qc.loc["run-1", "absent_regions"].split(",")
    assert absent == [f"Seitzman_{roi}" for roi in range(274, 301)]


def test_planted_effects_are_recovered(planted):
    lme, primary = planted["lme"], planted["primary"]
    for measure in ("limbic", "dmn"):
        assert lme.loc[(measure, "time"), "estimate"] < 0 and lme.loc[(measure, "time"), "p"] < 0.05
    assert bool(primary.loc["dmn time", "passes_bonferroni"])
    assert lme.loc[("sgacc_dmn", "time:response"), "estimate"] < 0
    assert lme.loc[("sgacc_dmn", "time:response"), "p"] < 0.05
    for term in ("time", "time:response"):
        assert lme.loc[("visual", term), "p"] > 0.05


def test_measured_changes_near_the_planted_ones(planted):
    measured = read_tsv(planted["results"] / "group" / "network_fc.tsv")
    measured = measured[measured["included"].astype(str).str.lower().isin(["true", "1"])]
    truth = read_tsv(planted["root"] / "bids" / "derivatives" / "simulation_truth.tsv")
    got, want = paired_changes(measured, MEASURES), paired_changes(truth, MEASURES)
    got = got.reindex(want.index).dropna()
    assert len(got) >= 6
    for measure in ("limbic", "dmn"):  # 7 patients of 200-frame runs: about +/- 20 % of sampling noise
        assert 0.6 <= got[measure].mean() / want.loc[got.index, measure].mean() <= 1.4, measure
    assert abs(got["visual"].mean()) < 0.1
