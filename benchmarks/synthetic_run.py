"""Build one realistic fMRIPrep-like run for the benchmarks (2 mm MNI grid, 91x109x91, 700 frames, gzipped).

The BOLD has region signals on the Gordon parcels plus voxel noise inside the real MNI152 2 mm brain mask,
float32 like fMRIPrep's MNI outputs; the confounds TSV has the 36P columns with motion spikes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def make_run(out_dir, n_frames=700, tr=0.8, seed=0, compresslevel=6):
    """Write ``bold.nii.gz``, ``mask.nii.gz`` and ``confounds.tsv`` into ``out_dir``; return their paths."""
    from zlib_ng import gzip_ng

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bold_path = out_dir / "sub-bench_task-rest_space-MNI152NLin6Asym_res-2_desc-preproc_bold.nii.gz"
    mask_path = out_dir / "sub-bench_task-rest_space-MNI152NLin6Asym_res-2_desc-brain_mask.nii.gz"
    conf_path = out_dir / "sub-bench_task-rest_desc-confounds_timeseries.tsv"
    if bold_path.exists() and conf_path.exists() and mask_path.exists():
        return bold_path, mask_path, conf_path
    rng = np.random.default_rng(seed)
    mask_img = nb.load(SHARED / "templates/mni152_fsl/MNI152_T1_2mm_Brain_Mask.nii.gz")
    mask = np.asarray(mask_img.dataobj) > 0
    nb.Nifti1Image(mask.astype(np.uint8), mask_img.affine).to_filename(mask_path)
    n_vox = int(mask.sum())
    # smooth-ish region structure: 400 random "regions" of voxels sharing a signal
    region = rng.integers(0, 400, n_vox)
    signals = rng.standard_normal((n_frames, 400)).astype(np.float32)
    gs = rng.standard_normal(n_frames).astype(np.float32)
    hdr = nb.Nifti1Header()
    hdr.set_data_shape(mask.shape + (n_frames,))
    hdr.set_data_dtype(np.float32)
    hdr.set_xyzt_units("mm", "sec")
    hdr.set_qform(mask_img.affine, 1)
    hdr.set_sform(mask_img.affine, 1)
    hdr["pixdim"][4] = tr
    flat_index = np.flatnonzero(mask.ravel(order="F"))
    frame = np.zeros(mask.size, dtype=np.float32)
    with gzip_ng.open(bold_path, "wb", compresslevel=compresslevel) as fobj:
        fobj.write(hdr.binaryblock + b"\x00" * (352 - hdr.binaryblock.__len__()))
        for t in range(n_frames):
            frame[flat_index] = 1000 + 20 * signals[t, region] + 10 * gs[t] + 15 * rng.standard_normal(n_vox, dtype=np.float32)
            fobj.write(frame.tobytes())
    # confounds with 36P columns and motion spikes
    motion = np.cumsum(rng.normal(0, 0.02, (n_frames, 6)), axis=0)
    motion[:, 3:] /= 50.0
    spikes = rng.choice(np.arange(10, n_frames - 10), 25, replace=False)
    motion[spikes] += rng.normal(0, 0.4, (25, 6)) * np.r_[1, 1, 1, 0.02, 0.02, 0.02]
    cols = {}
    for i, name in enumerate(["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]):
        cols[name] = motion[:, i]
    cols["global_signal"] = 1000 + 10 * gs
    cols["csf"] = 800 + rng.standard_normal(n_frames)
    cols["white_matter"] = 900 + rng.standard_normal(n_frames)
    df = pd.DataFrame(cols)
    for name in list(df.columns):
        d = df[name].diff()
        df[f"{name}_derivative1"] = d
        df[f"{name}_power2"] = df[name] ** 2
        df[f"{name}_derivative1_power2"] = d**2
    trans = np.abs(np.diff(motion[:, :3], axis=0)).sum(1)
    rot = np.abs(np.diff(motion[:, 3:], axis=0)).sum(1) * 50
    df["framewise_displacement"] = np.r_[np.nan, trans + rot]
    df.to_csv(conf_path, sep="\t", index=False, na_rep="n/a")
    (out_dir / "bold.json").write_text(json.dumps({"RepetitionTime": tr}))
    return bold_path, mask_path, conf_path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", nargs="?", default=str(Path.home() / ".cache/ketamine_fc_bench"))
    parser.add_argument("--n-frames", type=int, default=700)
    args = parser.parse_args()
    print(make_run(args.out_dir, n_frames=args.n_frames))
