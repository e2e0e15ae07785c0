"""The participant-level outputs read back through pybids with the shipped configuration."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bids import BIDSLayout
from bids.layout import Query

from ketamine_fc.cli.run import main
from ketamine_fc.data import bids_config
from ketamine_fc.group.inputs import read_limbic_matrices
from ketamine_fc.utils.derivatives import read_tsv

from builder import make_dataset

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
FUNC = "sub-01/ses-pre1/func/sub-01_ses-pre1_task-rest"
SES = f"{FUNC}_space-MNI152NLin6Asym_seg-GordonSeitzman"
RUN = f"{FUNC}_run-1"
ATLAS = "atlases/atlas-GordonSeitzman_space-MNI152NLin6Asym_res-3_dseg"
R = f"{SES}_stat-pearsoncorrelation_relmat"
Z = f"{SES}_stat-pearsoncorrelation_desc-fisherz_relmat"
LIMBIC = f"{SES}_stat-pearsoncorrelation_desc-limbicfisherz_relmat"


@pytest.fixture(scope="module")
def out(tmp_path_factory, shared_data, atlas_dir):
    root = tmp_path_factory.mktemp("pybids")
    make_dataset(root / "bids", shared_data, {"01": {"pre1": [[]]}}, seed=4, n_frames=120)
    code = main([str(root / "bids"), str(root / "out"), "participant", "-w", str(root / "work"),
                 "--min-frames", "60", "--atlas-dir", str(atlas_dir)])
    assert code == 0
    return root / "out"


@pytest.fixture(scope="module")
def layout(out):
    return BIDSLayout(out, config=[bids_config()], validate=False)


def names(files):
    return sorted(f.relpath for f in files)


def test_bids_config_is_package_data():
    assert bids_config().is_file() and bids_config().parent.name == "data"


def test_queries_by_stat_seg_desc_space(layout):
    assert names(layout.get(stat="pearsoncorrelation", desc="fisherz", extension=".tsv")) == [f"{Z}.tsv"]
    assert names(layout.get(desc="fisherz")) == [f"{Z}.json", f"{Z}.tsv"]  # not the limbic matrix
    assert names(layout.get(desc="limbicfisherz")) == [f"{LIMBIC}.json", f"{LIMBIC}.tsv"]
    assert names(layout.get(stat="pearsoncorrelation", desc=Query.NONE, extension=".tsv")) == [f"{R}.tsv"]
    assert names(layout.get(seg="GordonSeitzman", suffix="timeseries")) == [
        f"{RUN}_space-MNI152NLin6Asym_seg-GordonSeitzman_stat-mean_timeseries.json",
        f"{RUN}_space-MNI152NLin6Asym_seg-GordonSeitzman_stat-mean_timeseries.tsv"]
    assert names(layout.get(subject="01", session="pre1", space="MNI152NLin6Asym", suffix="relmat",
                            extension=".tsv")) == sorted(f"{m}.tsv" for m in (R, Z, LIMBIC))
    assert names(layout.get(suffix="measures", desc="network", extension=".tsv")) == [
        f"{SES}_desc-network_measures.tsv"]
    assert names(layout.get(suffix="qc", extension=".tsv")) == [
        f"{FUNC}_qc.tsv", f"{RUN}_space-MNI152NLin6Asym_seg-GordonSeitzman_desc-regions_qc.tsv"]
    assert names(layout.get(subject="01", run=1, suffix="outliers", extension=".tsv")) == [f"{RUN}_outliers.tsv"]
    assert names(layout.get(suffix="timeseries", desc="design", extension=".tsv")) == [
        f"{RUN}_desc-design_timeseries.tsv"]
    assert names(layout.get(atlas="GordonSeitzman", space="MNI152NLin6Asym", res="3", suffix="dseg")) == [
        f"{ATLAS}.json", f"{ATLAS}.nii.gz", f"{ATLAS}.tsv"]
    assert layout.get_stat() == ["mean", "pearsoncorrelation"] and layout.get_seg() == ["GordonSeitzman"]


def test_sidecars_and_paths(layout, out):
    z = layout.get(desc="fisherz", extension=".tsv")[0]
    assert z.get_metadata()["Description"].endswith("diagonal n/a.")
    assert layout.get(desc="limbicfisherz", extension=".tsv")[0].get_metadata()["GeneratedBy"][0]["Name"] == \
        "ketamine-fc"
    # the default path patterns rebuild every output's name from its entities
    files = layout.get(suffix=["timeseries", "relmat", "measures", "qc", "outliers", "dseg"])
    assert len(files) == 21
    for f in files:
        assert layout.build_path(f.get_entities(), absolute_paths=False, validate=False) == f.relpath
    same = BIDSLayout(out, config=[bids_config()], is_derivative=True)
    assert names(same.get(stat="pearsoncorrelation", seg="GordonSeitzman")) == names(
        layout.get(stat="pearsoncorrelation", seg="GordonSeitzman"))


def test_fisher_z_diagonal_and_limbic_block(layout, out):
    z_path = layout.get(desc="fisherz", extension=".tsv")[0].path
    limbic_path = layout.get(desc="limbicfisherz", extension=".tsv")[0].path
    text = pd.read_csv(z_path, sep="\t", index_col="region", dtype=str, keep_default_na=False)
    assert (np.diag(text.to_numpy()) == "n/a").all()
    z = read_tsv(z_path).set_index("region")
    r = read_tsv(layout.get(stat="pearsoncorrelation", desc=Query.NONE, extension=".tsv")[0].path).set_index("region")
    assert np.isnan(np.diag(z.to_numpy())).all()
    ok = np.isfinite(np.diag(r.to_numpy()))
    assert ok.sum() > 300 and np.diag(r.to_numpy())[ok] == pytest.approx(1.0)
    off = ~np.eye(len(z), dtype=bool) & ok[:, None] & ok[None, :]
    np.testing.assert_allclose(z.to_numpy()[off], np.arctanh(r.to_numpy()[off]), rtol=1e-6, atol=1e-7)
    limbic = read_tsv(limbic_path).set_index("region")
    assert len(limbic) == 10 and np.isnan(np.diag(limbic.to_numpy())).all()
    pd.testing.assert_frame_equal(limbic, z.loc[limbic.index, limbic.columns])
    # the group level reads the n/a diagonal as missing
    (key, group), = read_limbic_matrices(out).items()
    assert key == ("sub-01", "ses-pre1")
    pd.testing.assert_frame_equal(group, limbic)


def test_readme_pybids_example_runs(layout, out):
    section = README.read_text().split("### Reading the outputs with pybids", 1)[1]
    code = re.search(r"```py\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(code.replace('"OUTPUT_DIR"', repr(str(out))), "README.md", "exec"), namespace)
    assert names(namespace["z_files"]) == [f"{Z}.tsv"]
    assert names(namespace["series"]) == [f"{RUN}_space-MNI152NLin6Asym_seg-GordonSeitzman_stat-mean_timeseries.tsv"]
    assert names(namespace["limbic"]) == [f"{LIMBIC}.tsv"] and namespace["z"].shape == (10, 10)
    assert names(namespace["atlas"]) == [f"{ATLAS}.tsv"]
