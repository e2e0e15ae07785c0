"""Build small fMRIPrep-style derivatives on a real MNI grid, with planted FC and motion spikes.

Region signals: every DMN parcel shares one signal, every visual parcel another, the 10 limbic ROIs a third;
all other regions are independent noise. Each voxel = 1000 + region signal + voxel noise + global signal.
At the planted spike frames the confounds carry a large FD and the BOLD a large artefact, so a pipeline that
does not censor them loses the planted structure.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd

MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]


def reference_grid(shared_data: Path):
    """The FSL MNI152 3 mm grid (MNI152NLin6Asym) and its binary brain mask."""
    img = nb.load(shared_data / "templates/mni152_fsl/MNI152_T1_3mm_brain_mask.nii.gz")
    mask = np.asarray(img.dataobj) > 0.5
    return nb.Nifti1Image(mask.astype(np.uint8), img.affine)


def confounds_table(rng, n_frames, spikes, global_signal, n_dummy=0):
    """36P-ready fMRIPrep confounds with FD spikes at ``spikes`` and otherwise FD about 0.05-0.1 mm."""
    motion = np.zeros((n_frames, 6))
    steps = rng.normal(0, 0.02, (n_frames, 6))
    steps[:, 3:] /= 50.0
    for s in spikes:
        steps[s] = rng.choice([-1, 1], 6) * np.r_[0.3, 0.3, 0.3, 0.006, 0.006, 0.006]
    motion = np.cumsum(steps, axis=0)
    df = pd.DataFrame(motion, columns=MOTION)
    df["global_signal"] = global_signal
    df["csf"] = 500 + rng.standard_normal(n_frames)
    df["white_matter"] = 700 + rng.standard_normal(n_frames)
    for name in MOTION + ["global_signal", "csf", "white_matter"]:
        d = df[name].diff()
        df[f"{name}_derivative1"] = d
        df[f"{name}_power2"] = df[name] ** 2
        df[f"{name}_derivative1_power2"] = d**2
    fd = np.abs(np.diff(motion[:, :3], axis=0)).sum(1) + 50 * np.abs(np.diff(motion[:, 3:], axis=0)).sum(1)
    df["framewise_displacement"] = np.r_[np.nan, fd]
    for i in range(n_dummy):
        col = np.zeros(n_frames)
        col[i] = 1
        df[f"non_steady_state_outlier{i:02d}"] = col
    return df


def write_run(func_dir: Path, stem: str, ref, dseg, sets, rng, *, n_frames=150, tr=2.0, spikes=(), strength=1.0,
              n_dummy=0, space="MNI152NLin6Asym", res="3"):
    """Write BOLD, mask, boldref and confounds of one run; return the BOLD path."""
    mask = np.asarray(ref.dataobj) > 0
    labels = np.asarray(dseg.dataobj)
    signals = {name: rng.standard_normal(n_frames) for name in ("dmn", "visual", "limbic")}
    region_signal = {}
    for label in np.unique(labels[mask & (labels > 0)]):
        own = rng.standard_normal(n_frames)
        shared = next((signals[n] for n in ("dmn", "visual", "limbic") if label in sets[n]), None)
        region_signal[label] = 3.0 * own if shared is None else 3.0 * (strength * shared + 0.5 * own)
    data = np.zeros(mask.shape + (n_frames,), dtype=np.float32)
    gs = 2.0 * rng.standard_normal(n_frames)
    vox = np.argwhere(mask)
    noise = rng.standard_normal((len(vox), n_frames)) * 2.0
    base = np.stack([region_signal.get(labels[tuple(v)], np.zeros(n_frames)) for v in vox])
    series = 1000 + base + noise + gs
    for s in spikes:
        series[:, s] += rng.normal(60, 30, len(vox))  # motion artefact, strongly shared across voxels
    series[:, :n_dummy] += 200
    data[tuple(vox.T)] = series
    func_dir.mkdir(parents=True, exist_ok=True)
    spatial = f"space-{space}_res-{res}"
    bold = func_dir / f"{stem}_{spatial}_desc-preproc_bold.nii.gz"
    img = nb.Nifti1Image(data, ref.affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = tr
    img.to_filename(bold)
    (func_dir / f"{stem}_{spatial}_desc-preproc_bold.json").write_text(
        json.dumps({"RepetitionTime": tr, "TaskName": "rest"}))
    ref.to_filename(func_dir / f"{stem}_{spatial}_desc-brain_mask.nii.gz")
    nb.Nifti1Image(data.mean(-1), ref.affine).to_filename(func_dir / f"{stem}_{spatial}_boldref.nii.gz")
    conf = confounds_table(rng, n_frames, spikes, series.mean(0), n_dummy=n_dummy)
    conf.to_csv(func_dir / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", index=False, na_rep="n/a")
    (func_dir / f"{stem}_desc-confounds_timeseries.json").write_text("{}")
    return bold


def make_dataset(root: Path, shared_data: Path, design: dict, *, seed=0, **run_kwargs):
    """Raw BIDS + ``derivatives/fmriprep`` for ``design = {subject: {session: [spike lists per run]}}``."""
    from ketamine_fc.atlases import load_atlas
    from ketamine_fc.core.networks import network_sets

    rng = np.random.default_rng(seed)
    ref = reference_grid(shared_data)
    atlas = load_atlas(ref, atlas_dir=shared_data / "atlases")
    sets = {k: set(v) for k, v in network_sets(atlas.table, sgacc="core").items()}
    root = Path(root)
    fmriprep = root / "derivatives" / "fmriprep"
    fmriprep.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "test", "BIDSVersion": "1.9.0"}))
    (fmriprep / "dataset_description.json").write_text(json.dumps({
        "Name": "fMRIPrep - test", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "fMRIPrep", "Version": "23.2.0"}]}))
    pd.DataFrame({"participant_id": [f"sub-{s}" for s in design], "group": "patient"}).to_csv(
        root / "participants.tsv", sep="\t", index=False)
    bolds = {}
    for sub, sessions in design.items():
        for ses, runs in sessions.items():
            for i, spikes in enumerate(runs, start=1):
                stem = f"sub-{sub}_ses-{ses}_task-rest_run-{i}"
                bolds[stem] = write_run(fmriprep / f"sub-{sub}" / f"ses-{ses}" / "func", stem, ref, atlas.dseg,
                                        sets, rng, spikes=spikes, **run_kwargs)
    return {"bolds": bolds, "atlas": atlas, "sets": sets, "fmriprep": fmriprep}
