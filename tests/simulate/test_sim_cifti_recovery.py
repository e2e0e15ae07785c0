"""The surface space does not flatter either: simulated 91k grayordinates through the surface path's extraction
plan (Gordon parcels on the vertices, limbic structures on the voxels, adjacent-cortex cleanup on the group
midthickness) and the participant level's own cleaning give back each planted change of network FC and of the
limbic-DMN subnetwork's edges at 90-110 %, and a network without a planted change does not move
(tests/simulate/test_sim_recovery.py for volumes)."""

import numpy as np
import pandas as pd
import pytest

from ketamine_fc.atlases.registry import resolve
from ketamine_fc.atlases.tables import seitzman_table
from ketamine_fc.config import AtlasParams, DenoiseParams
from ketamine_fc.core import regions
from ketamine_fc.core.censoring import censoring_table
from ketamine_fc.core.cifti import label_grayordinates, plan_cifti_extraction
from ketamine_fc.core.confounds import FIRST_ROW_NA, select_nuisance
from ketamine_fc.core.networks import network_sets
from ketamine_fc.core.session import session_connectivity
from ketamine_fc.simulate import cifti
from ketamine_fc.simulate.bold import confounds_table, simulate_bold
from ketamine_fc.simulate.design import subnetwork_table
from ketamine_fc.utils.cifti_io import read_dlabel, read_surface_coords

pytestmark = pytest.mark.slow

N_PAIRS, N_FRAMES, TR = 10, 300, 2.0
PRE = {"dmn": 0.5, "sgacc_dmn": 0.3, "limbic": 0.45, "visual": 0.45, "limbic_dmn_subnetwork": 0.2}
POST = {"dmn": 0.3, "sgacc_dmn": -0.1, "limbic": 0.2, "visual": 0.45, "limbic_dmn_subnetwork": 0.05}


@pytest.fixture(scope="module")
def scene(atlas_dir):
    sc = cifti.scene(3, atlas_dir)  # the demo's volume grid for the confounds
    grays, table, n = sc.grayordinates, sc.table, sc.n_grayordinates
    gordon = read_dlabel(resolve("gordon333_fslr32k", atlas_dir))
    surfaces = {h: read_surface_coords(resolve(f"fslr32k_midthickness_{h}", atlas_dir)) for h in "LR"}
    cortex = [(grays.model(name).columns, grays.model(name).vertices, gordon.hemisphere(name), surfaces[h])
              for h, name in zip("LR", ("CORTEX_LEFT", "CORTEX_RIGHT"))]
    spheres = seitzman_table(atlas_dir)
    spheres = spheres[spheres["roi"].isin(table.loc[(table["atlas"] == "Seitzman300") &
                                                    (table["definition"] != "cifti_structure"), "index"] - 1000)]
    regions_ = label_grayordinates(n, cortex, (grays.voxel_columns, grays.voxel_structure, grays.voxel_ijk,
                                               grays.affine), spheres)
    # the simulation's regions are those the core labelling gives the file's grayordinates
    np.testing.assert_array_equal(sc.labels[:n], regions_.labels)
    plan = plan_cifti_extraction(regions_.labels, table["index"].to_numpy(), (table["structure"] == "cortex").to_numpy(),
                                 regions_.xyz_mm, regions_.is_cortex)
    sets = network_sets(table, sgacc="core")
    sub = subnetwork_table(table, sets)
    return {"sc": sc, "table": table, "sets": sets, "plan": plan,
            "subnetwork": {role: sub.loc[sub["role"] == role, "region"].tolist() for role in ("limbic", "dmn")}}


def _session_measures(scene, targets, seed):
    """One simulated run through the surface path's extraction plan, cleaning, FC and network measures."""
    sc, table, plan = scene["sc"], scene["table"], scene["plan"]
    data, params, _ = simulate_bold(np.random.default_rng(seed), sc.labels, table, scene["sets"], targets,
                                    tissue=sc.tissue, n_frames=N_FRAMES, tr=TR)
    x = data[:, : sc.n_grayordinates].astype(np.float64)  # what the dtseries holds
    weighted = np.asarray(plan.weights @ x.T).T
    signals = {"region_means": weighted[:, : plan.n_regions], "sub_adjacent": weighted[:, plan.n_regions:],
               "sub_voxels": x[:, plan.sub_positions], "sample": x[:, plan.sample_positions],
               "sub_region": plan.sub_region, "sub_has_cortex": plan.sub_has_cortex,
               "region_voxels": plan.region_voxels, "atlas_voxels": plan.region_voxels,
               "region_tsnr": np.zeros(plan.n_regions), "brain_tsnr": 0.0}
    conf = confounds_table(data[:, sc.volume], params, wm=sc.volume_tissue["wm"], csf=sc.volume_tissue["csf"], tr=TR)
    first = [c for c in conf.columns if FIRST_ROW_NA.search(c)]
    conf.loc[0, first] = conf.loc[0, first].fillna(0.0)  # as read_confounds does with fMRIPrep's first row
    denoise, atlas = DenoiseParams(), AtlasParams()
    censor = censoring_table(conf, TR, **denoise.censoring())
    out = regions.denoise_run(signals, censor, select_nuisance(conf, denoise.nuisance_regressors), table, TR,
                              denoise.to_dict(), min_region_voxels=atlas.min_region_voxels,
                              min_region_coverage=atlas.min_region_coverage)
    ses = session_connectivity([out["timeseries"]], [out["qc"]], table, sgacc=atlas.sgacc, min_frames=0)
    edges = ses["z"].loc[scene["subnetwork"]["limbic"], scene["subnetwork"]["dmn"]].to_numpy()
    return {**{m: ses["measures"][m] for m in PRE if m in ses["measures"]},
            "limbic_dmn_subnetwork": float(np.nanmean(edges))}


@pytest.fixture(scope="module")
def measured(scene):
    rows = []
    for k in range(N_PAIRS):  # pre and post from the same random stream: the pair differs only by the targets
        rows.append({"pair": k, "when": "pre", **_session_measures(scene, PRE, 500 + k)})
        rows.append({"pair": k, "when": "post", **_session_measures(scene, POST, 500 + k)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("measure", ["dmn", "sgacc_dmn", "limbic", "limbic_dmn_subnetwork"])
def test_planted_change_recovered_at_90_to_110_percent(measured, measure):
    change = (measured[measured["when"] == "post"].set_index("pair")[measure]
              - measured[measured["when"] == "pre"].set_index("pair")[measure])
    recovery = change.mean() / (POST[measure] - PRE[measure])
    assert 0.9 <= recovery <= 1.1, (measure, recovery, change.describe())


def test_unchanged_network_does_not_move(measured):
    change = (measured[measured["when"] == "post"].set_index("pair")["visual"]
              - measured[measured["when"] == "pre"].set_index("pair")["visual"])
    assert abs(change.mean()) < 0.03
