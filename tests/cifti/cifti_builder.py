"""Helpers of the surface-path tests: 91k-shaped grayordinates from the shared fs_LR 32k and Harvard-Oxford files."""

from __future__ import annotations

import numpy as np

GORDON_DLABEL = "atlases/gordon333/tpl-fsLR_atlas-Gordon_den-32k_dseg.dlabel.nii"
SURFACES = "surfaces/fslr32k"
HO_2MM = "atlases/harvard_oxford_sub/HarvardOxford-sub-maxprob-thr25-2mm.nii.gz"
#: Harvard-Oxford subcortical label -> CIFTI structure, in the (alphabetical) order of a 91k file's volume part
HO_TO_CIFTI = {11: "ACCUMBENS_LEFT", 21: "ACCUMBENS_RIGHT", 10: "AMYGDALA_LEFT", 20: "AMYGDALA_RIGHT",
               8: "BRAIN_STEM", 5: "CAUDATE_LEFT", 16: "CAUDATE_RIGHT", 9: "HIPPOCAMPUS_LEFT",
               19: "HIPPOCAMPUS_RIGHT", 7: "PALLIDUM_LEFT", 18: "PALLIDUM_RIGHT", 6: "PUTAMEN_LEFT",
               17: "PUTAMEN_RIGHT", 4: "THALAMUS_LEFT", 15: "THALAMUS_RIGHT"}


def volume_parts(labels, mapping=HO_TO_CIFTI):
    """``(name, ijk)`` per CIFTI structure from a label volume (voxels in C order within each structure)."""
    return [(name, np.argwhere(labels == value)) for value, name in mapping.items() if np.any(labels == value)]


# ---------------------------------------------------------------------------------------------- fMRIPrep CIFTI data

MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
MIDTHICKNESS = "S1200.{hemi}.midthickness_MSMAll.32k_fs_LR.surf.gii"


def confounds_table(rng, n_frames, spikes=(), global_signal=None):
    """36P-ready fMRIPrep confounds: FD about 0.05-0.1 mm, with a large FD at each frame of ``spikes``."""
    import pandas as pd

    steps = rng.normal(0, 0.02, (n_frames, 6))
    steps[:, 3:] /= 50.0
    for s in spikes:
        steps[s] = rng.choice([-1, 1], 6) * np.r_[0.3, 0.3, 0.3, 0.006, 0.006, 0.006]
    motion = np.cumsum(steps, axis=0)
    df = pd.DataFrame(motion, columns=MOTION)
    df["global_signal"] = rng.standard_normal(n_frames) if global_signal is None else global_signal
    df["csf"] = 500 + rng.standard_normal(n_frames)
    df["white_matter"] = 700 + rng.standard_normal(n_frames)
    for name in MOTION + ["global_signal", "csf", "white_matter"]:
        d = df[name].diff()
        df[f"{name}_derivative1"] = d
        df[f"{name}_power2"] = df[name] ** 2
        df[f"{name}_derivative1_power2"] = d**2
    fd = np.abs(np.diff(motion[:, :3], axis=0)).sum(1) + 50 * np.abs(np.diff(motion[:, 3:], axis=0)).sum(1)
    df["framewise_displacement"] = np.r_[np.nan, fd]
    return df


def write_surfaces(anat_dir, subject, shared_data, *, shift_mm=0.0, jitter_mm=0.5, seed=0):
    """The participant's fs_LR 32k midthickness surfaces, as fMRIPrep names them: the group average moved by
    ``shift_mm`` along y (a T1w-space surface) plus ``jitter_mm`` of noise per vertex."""
    import nibabel as nb

    rng = np.random.default_rng(seed)
    anat_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for hemi in "LR":
        gii = nb.load(shared_data / SURFACES / MIDTHICKNESS.format(hemi=hemi))
        coords = gii.agg_data("pointset") + rng.normal(0, jitter_mm, (gii.agg_data("pointset").shape))
        coords[:, 1] += shift_mm
        points = nb.gifti.GiftiDataArray(coords.astype(np.float32), intent="NIFTI_INTENT_POINTSET",
                                         datatype="NIFTI_TYPE_FLOAT32")
        faces = nb.gifti.GiftiDataArray(gii.agg_data("triangle").astype(np.int32), intent="NIFTI_INTENT_TRIANGLE",
                                        datatype="NIFTI_TYPE_INT32")
        out[hemi] = anat_dir / f"sub-{subject}_hemi-{hemi}_space-fsLR_den-32k_midthickness.surf.gii"
        nb.save(nb.gifti.GiftiImage(darrays=[points, faces]), out[hemi])
    return out


def planted_series(rng, labels, sets, n_frames, *, spikes=()):
    """(T, n) float32: a per-grayordinate offset and noise, DMN and limbic regions each sharing one signal."""
    n = labels.size
    data = rng.standard_normal((n_frames, n)).astype(np.float32)
    data += rng.uniform(80, 120, n).astype(np.float32)
    for name in ("dmn", "limbic"):
        shared = 2.0 * rng.standard_normal(n_frames).astype(np.float32)
        data[:, np.isin(labels, sets[name])] += shared[:, None]
    for s in spikes:
        data[s] += 15.0
    return data


def make_cifti_dataset(root, shared_data, grays, design, *, n_frames=64, tr=2.0, seed=0, surfaces=None,
                       missing_dtseries=(), grays_of=None):
    """Raw BIDS + ``derivatives/fmriprep`` with a 91k-shaped dtseries and confounds per run.

    ``design = {subject: {session: [spike lists per run]}}``; ``surfaces = {subject: shift_mm}`` writes that
    participant's fs_LR midthickness surfaces (0: in MNI space, 40: a T1w-like offset); ``missing_dtseries``
    lists run stems left without their dtseries; ``grays_of = {stem: Grayordinates}`` writes a run on other
    grayordinates. Returns the dtseries paths by run stem, the atlas labels and the network sets.
    """
    import json
    from pathlib import Path

    import pandas as pd

    from ketamine_fc.atlases.surface import load_cifti_atlas
    from ketamine_fc.core.networks import network_sets
    from ketamine_fc.utils.cifti_io import write_dtseries

    rng = np.random.default_rng(seed)
    atlas = load_cifti_atlas(grays)
    sets = network_sets(atlas.table, sgacc="core")
    root = Path(root)
    fmriprep = root / "derivatives" / "fmriprep"
    fmriprep.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "test", "BIDSVersion": "1.9.0"}))
    (fmriprep / "dataset_description.json").write_text(json.dumps({
        "Name": "fMRIPrep - test", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "fMRIPrep", "Version": "24.1.0"}]}))
    pd.DataFrame({"participant_id": [f"sub-{s}" for s in design], "group": "patient"}).to_csv(
        root / "participants.tsv", sep="\t", index=False)
    out = {}
    for sub, sessions in design.items():
        if surfaces and sub in surfaces:
            write_surfaces(fmriprep / f"sub-{sub}" / "anat", sub, shared_data, shift_mm=surfaces[sub], seed=seed)
        for ses, runs in sessions.items():
            func = fmriprep / f"sub-{sub}" / f"ses-{ses}" / "func"
            func.mkdir(parents=True, exist_ok=True)
            for i, spikes in enumerate(runs, start=1):
                stem = f"sub-{sub}_ses-{ses}_task-rest_run-{i}"
                data = planted_series(rng, atlas.labels, sets, n_frames, spikes=spikes)
                conf = confounds_table(rng, n_frames, spikes, data.mean(axis=1))
                conf.to_csv(func / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", index=False, na_rep="n/a")
                if stem in missing_dtseries:
                    continue
                run_grays = (grays_of or {}).get(stem, grays)
                if run_grays is not grays:
                    data = rng.standard_normal((n_frames, run_grays.size)).astype(np.float32) + 100
                bold = func / f"{stem}_space-fsLR_den-91k_bold.dtseries.nii"
                write_dtseries(bold, data, run_grays, tr=tr)
                (func / f"{stem}_space-fsLR_den-91k_bold.dtseries.json").write_text(
                    json.dumps({"RepetitionTime": tr, "TaskName": "rest"}))
                out[stem] = bold
    return {"bolds": out, "atlas": atlas, "sets": sets, "fmriprep": fmriprep}
