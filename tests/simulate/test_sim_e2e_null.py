"""End to end through the demo on a ``--null`` cohort: no imaging effect at the Bonferroni threshold.

A module of its own, so that CI's ``--dist loadscope`` runs it beside the planted demo (test_sim_e2e.py).
"""

import pytest

from test_sim_e2e import _run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def null(tmp_path_factory, atlas_dir):
    # One null realization, a regression test of the pipeline on one null dataset, not a rate. Seeds 2 and 3 give a
    # within-limbic pass (seed 3: time p 0.0005); 4 and 5 pass nothing, and this test uses 4. At seed 3 the
    # simulator's drawn region signals already lean that way (their own LME: p 0.07) and the voxel layer's noise
    # deepens it (with or without the subcortical cleanup: p 0.0021 without). benchmarks/demo_null_rates.py measures
    # the rates: at the region level those of the paper's convention (300 studies: 5.7-8.7 % at p < .05), and
    # through the whole pipeline the same (seeds 4-25, the 22 studies not chosen for passing: 14 of 176 tests at
    # p < .05, 3 at p < .00625): seeds 2 and 3 are chance.
    return _run(tmp_path_factory.mktemp("null"), atlas_dir, "--null", "--seed", "4")


def test_null_cohort_shows_no_imaging_effect(null):
    code, lme, primary = null
    assert code == 0
    imaging = [o for o in primary.index if o.split(" ")[0] in ("dmn", "sgacc_dmn", "limbic")]
    assert len(imaging) == 6
    # no outcome passes under both conventions; under the paper's (anti-conservative: about twice the nominal
    # rate at the Bonferroni threshold) a pass on a null cohort is flagged as a decision the other would change
    rows = primary.loc[imaging]
    assert not (rows["passes_bonferroni"].astype(bool) & rows["passes_alternative"].astype(bool)).any()
    assert not rows["passes_alternative"].astype(bool).any()
    assert (rows["passes_bonferroni"].astype(bool) <= rows["decision_differs"].astype(bool)).all()
    assert (lme.xs("visual", level="measure").loc[["time", "time:response"], "p"] > 0.00625).all()
