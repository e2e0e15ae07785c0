"""End to end through the demo: simulate -> participant level (MultiProc) -> group level.

The planted effects are found (limbic and DMN fall after treatment, sgACC-DMN falls more in responders,
visual FC does not change); test_sim_e2e_null.py runs a ``--null`` cohort.
"""

import pytest

from ketamine_fc.cli.demo import main
from ketamine_fc.utils.derivatives import read_tsv

pytestmark = pytest.mark.slow

# 240 frames: with 36 regressors filtered like the data, short runs keep few degrees of freedom and measure
# network FC with much sampling noise (the planted effects are recovered without bias: test_sim_recovery.py)
SMALL = ["--n-patients", "14", "--n-controls", "6", "--n-frames", "240", "--resolution", "3", "--seed", "2",
         "--nbs-permutations", "100"]


def _run(root, atlas_dir, *extra):
    code = main(["--out", str(root), *SMALL, "--atlas-dir", str(atlas_dir), *extra])
    group = root / "ketamine-fc" / "group"
    return code, read_tsv(group / "lme.tsv").set_index(["measure", "term"]), read_tsv(
        group / "primary_outcomes.tsv").set_index("outcome")


@pytest.fixture(scope="module")
def planted(tmp_path_factory, atlas_dir):
    return _run(tmp_path_factory.mktemp("demo"), atlas_dir)


def test_planted_effects_are_recovered(planted):
    code, lme, primary = planted
    assert code == 0
    for measure in ("limbic", "dmn"):
        assert lme.loc[(measure, "time"), "estimate"] < 0
        assert bool(primary.loc[f"{measure} time", "passes_bonferroni"])
    # responders' sgACC-DMN falls more than non-responders': a negative time x response term (response = 1),
    # significant as in the paper (p = 0.028 there; three small parcels make it the noisiest measure)
    assert lme.loc[("sgacc_dmn", "time:response"), "estimate"] < 0
    assert lme.loc[("sgacc_dmn", "time:response"), "p"] < 0.05
    for term in ("time", "time:response"):
        assert lme.loc[("visual", term), "p"] > 0.05
    assert lme.loc[("limbic", "time"), "n_participants"] == 13  # one patient has no week-2 MADRS


def test_demo_refuses_an_earlier_demo_without_overwrite(planted, tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    assert main(["--out", str(tmp_path / "x")]) == 1
    assert "--overwrite" in capsys.readouterr().err
