"""With censoring, band-pass and subcortical cleanup off and 36P, region series equal nilearn's.

The peer: ``NiftiLabelsMasker(labels_img=<our atlas>, mask_img=<brain mask>).fit_transform(bold,
confounds=<the same 36P columns>)`` with detrending (intercept and linear trend), no standardisation.
"""

import numpy as np
import pytest

from ketamine_fc.cli.run import main
from ketamine_fc.core.confounds import read_confounds, select_nuisance
from ketamine_fc.utils.derivatives import read_tsv

from builder import make_dataset

pytestmark = pytest.mark.slow


def test_region_series_equal_nilearn_labels_masker(tmp_path, shared_data):
    from nilearn.maskers import NiftiLabelsMasker

    bids = tmp_path / "bids"
    info = make_dataset(bids, shared_data, {"01": {"pre1": [[20, 50]]}}, seed=5, n_frames=80)
    out = tmp_path / "out"
    code = main([str(bids), str(out), "participant", "-w", str(tmp_path / "work"), "--fd-thresh", "0",
                 "--disable-bandpass-filter", "--no-subcortical-cleanup", "--nuisance-regressors", "36P",
                 "--dummy-scans", "0", "--min-frames", "10", "--min-region-voxels", "1"])
    assert code == 0
    func = out / "sub-01" / "ses-pre1" / "func"
    ours = read_tsv(func / "sub-01_ses-pre1_task-rest_run-1_space-MNI152NLin6Asym_seg-GordonSeitzman_stat-mean_timeseries.tsv")
    dseg = next((out / "atlases").glob("*_dseg.nii.gz"))
    table = read_tsv(next((out / "atlases").glob("*_dseg.tsv")))
    bold = next(iter(info["bolds"].values()))
    mask = str(bold).replace("desc-preproc_bold", "desc-brain_mask")
    conf_path = info["fmriprep"] / "sub-01/ses-pre1/func/sub-01_ses-pre1_task-rest_run-1_desc-confounds_timeseries.tsv"
    confounds = select_nuisance(read_confounds(conf_path), "36P")
    assert confounds.shape[1] == 36
    masker = NiftiLabelsMasker(labels_img=str(dseg), mask_img=mask, standardize=None, detrend=True,
                               strategy="mean", keep_masked_labels=False)
    ref = masker.fit_transform(str(bold), confounds=confounds.to_numpy())
    ref_labels = [int(v) for v in masker.region_ids_.values() if v != "background" and int(v) != 0] \
        if hasattr(masker, "region_ids_") else None
    by_index = dict(zip(table["index"], table["label"]))
    cols = [by_index[i] for i in ref_labels]
    mine = ours[cols].to_numpy()
    assert mine.shape == ref.shape
    scale = np.abs(ref).max(axis=0)
    rel = np.abs(mine - ref).max(axis=0) / scale
    assert rel.max() < 1e-4, f"worst region {cols[int(np.argmax(rel))]}: {rel.max():.2e}"
    # nilearn averages in float32 (its own error is about 1e-4 here); a float64 numpy reference is stricter
    import nibabel as nb

    data = nb.load(bold).get_fdata(dtype=np.float64)
    inside = np.asarray(nb.load(mask).dataobj) > 0
    labels = np.asarray(nb.load(dseg).dataobj)
    x = np.column_stack([np.ones(len(ours)), np.arange(len(ours)), confounds.to_numpy()])
    for i, col in zip(ref_labels, cols):
        y = data[(labels == i) & inside].mean(axis=0)
        resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        assert np.abs(ours[col].to_numpy() - resid).max() < 1e-5 * np.abs(resid).max(), col
