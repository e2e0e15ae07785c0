"""Benchmark Gordon parcellation of a 91k CIFTI run: our code against the script a user would write, and Workbench.

Run:  python benchmarks/cifti_parcellate.py [--data DIR] [--frames 700] [--repeat N]

A 91282-grayordinate x 700-frame float32 dtseries (255 MB; fs_LR 32k cortex without the medial wall, the
Harvard-Oxford subcortical structures at 2 mm, the rest of the volume part filled with cerebellar voxels) of
seeded random data is written once under --data. Each measurement runs in a fresh process, so that peak memory
is its own:

  ours      read the dlabel, label the grayordinates, read the (memory-mapped) dtseries once in 32 MB ranges of
            grayordinates through the sparse parcel-means matrix (ketamine_fc.utils.cifti_io + ketamine_fc.core.cifti)
  ours+plan the same read through the whole extraction plan: Gordon + limbic regions (CIFTI structures,
            thalamus spheres) and one 20 mm adjacent-cortex mean per subcortical voxel (midthickness surfaces)
  pipeline  the participant level's extraction (``ketamine_fc.utils.signals.extract_cifti``) with its atlas build:
            every region, the subcortical cleanup inputs, tSNR and the DVARS sample, as a run is processed
  naive     nibabel + numpy as a user would write it: ``get_fdata()`` of the dtseries and the dlabel, then a
            boolean mask and a mean per parcel
  wb        ``wb_command -cifti-parcellate ... COLUMN ... -method MEAN`` (when Connectome Workbench is installed)

Prints seconds, peak memory (GB), the ratio naive / ours, and the largest difference between the outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # measure this checkout, not an installed copy
SHARED = Path(os.environ.get("KETAMINE_FC_SHARED_DATA", HERE.parents[1] / "shared" / "data"))
os.environ.setdefault("KETAMINE_FC_DATA", str(SHARED / "atlases"))
DLABEL = SHARED / "atlases/gordon333/tpl-fsLR_atlas-Gordon_den-32k_dseg.dlabel.nii"
SURF = SHARED / "surfaces/fslr32k"
N_91K = 91282
HO_TO_CIFTI = {11: "ACCUMBENS_LEFT", 21: "ACCUMBENS_RIGHT", 10: "AMYGDALA_LEFT", 20: "AMYGDALA_RIGHT",
               8: "BRAIN_STEM", 5: "CAUDATE_LEFT", 16: "CAUDATE_RIGHT", 9: "HIPPOCAMPUS_LEFT",
               19: "HIPPOCAMPUS_RIGHT", 7: "PALLIDUM_LEFT", 18: "PALLIDUM_RIGHT", 6: "PUTAMEN_LEFT",
               17: "PUTAMEN_RIGHT", 4: "THALAMUS_LEFT", 15: "THALAMUS_RIGHT"}


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def grayordinates_91k():
    """A 91282-grayordinate layout on the FSL MNI152 2 mm grid (the grid of HCP/fMRIPrep 91k files)."""
    import nibabel as nb
    import numpy as np

    from ketamine_fc.utils.cifti_io import make_grayordinates

    with np.load(SURF / "fMRI_vertex_info_32k.npz") as z:
        surfaces = [("CORTEX_LEFT", z["grayl"], int(z["num_meshl"])), ("CORTEX_RIGHT", z["grayr"], int(z["num_meshr"]))]
    ho_img = nb.load(SHARED / "atlases/harvard_oxford_sub/HarvardOxford-sub-maxprob-thr25-2mm.nii.gz")
    ho = np.rint(np.asarray(ho_img.dataobj)).astype(int)
    volumes = [(name, np.argwhere(ho == value)) for value, name in HO_TO_CIFTI.items()]
    n_left = N_91K - sum(len(v) for _, v, _ in surfaces) - sum(len(ijk) for _, ijk in volumes)
    brain = np.asarray(nb.load(SHARED / "templates/mni152_fsl/MNI152_T1_2mm_Brain_Mask.nii.gz").dataobj) > 0
    ijk = np.argwhere(brain & (ho == 0))
    xyz = ijk @ ho_img.affine[:3, :3].T + ho_img.affine[:3, 3]
    order = np.argsort(xyz[:, 2] + 0.5 * xyz[:, 1], kind="stable")  # the lowest, most posterior voxels first
    cerebellum = ijk[np.sort(order[:n_left])]
    x = xyz[np.sort(order[:n_left]), 0]
    volumes += [("CEREBELLUM_LEFT", cerebellum[x < 0]), ("CEREBELLUM_RIGHT", cerebellum[x >= 0])]
    return make_grayordinates(surfaces, volumes, affine=ho_img.affine, volume_shape=ho.shape)


def make_run(folder, n_frames) -> Path:
    import numpy as np

    from ketamine_fc.utils.cifti_io import write_dtseries

    path = Path(folder) / f"bench91k_{n_frames}.dtseries.nii"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    grays = grayordinates_91k()
    assert grays.size == N_91K, grays.size
    rng = np.random.default_rng(20210301)
    data = np.empty((n_frames, grays.size), dtype=np.float32)
    for t0 in range(0, n_frames, 50):
        data[t0: t0 + 50] = rng.standard_normal((min(50, n_frames - t0), grays.size), dtype=np.float32)
    data += rng.uniform(100, 1000, size=grays.size).astype(np.float32)
    tmp = path.with_suffix(".part.nii")
    write_dtseries(tmp, data, grays, tr=0.8)
    os.replace(tmp, path)
    return path


def _cortex_labels(grays, dl):
    import numpy as np

    from ketamine_fc.core.cifti import cortex_parcel_labels

    labels = np.zeros(grays.size, dtype=np.int32)
    for hemi in ("CORTEX_LEFT", "CORTEX_RIGHT"):
        model = grays.model(hemi)
        labels[model.columns] = cortex_parcel_labels(dl.hemisphere(hemi), model.vertices)
    return labels


def run_ours(bold, out, **_):
    import numpy as np

    from ketamine_fc.core.cifti import parcel_means, parcel_means_matrix
    from ketamine_fc.utils.cifti_io import read_dlabel, read_dtseries

    dts = read_dtseries(bold)  # memory-mapped: parcel_means reads it once, in 32 MB ranges of grayordinates
    dl = read_dlabel(DLABEL)
    weights = parcel_means_matrix(_cortex_labels(dts.grayordinates, dl), dl.parcel_ids)
    np.save(out, parcel_means(dts.data, weights))


def run_ours_plan(bold, out, **_):
    import numpy as np

    from ketamine_fc.atlases import seitzman_table
    from ketamine_fc.core.cifti import label_grayordinates, parcel_means, plan_cifti_extraction
    from ketamine_fc.utils.cifti_io import read_dlabel, read_dtseries, read_surface_coords

    dts = read_dtseries(bold)
    grays = dts.grayordinates
    dl = read_dlabel(DLABEL)
    seitz = seitzman_table()
    cortex = [(grays.model(h).columns, grays.model(h).vertices, dl.hemisphere(h),
               read_surface_coords(SURF / f"S1200.{h[7]}.midthickness_MSMAll.32k_fs_LR.surf.gii"))
              for h in ("CORTEX_LEFT", "CORTEX_RIGHT")]
    voxels = (grays.voxel_columns, grays.voxel_structure, grays.voxel_ijk, grays.affine)
    reg = label_grayordinates(grays.size, cortex, voxels, seitz[seitz["roi"].isin([262, 263])])
    index = np.r_[dl.parcel_ids, 1000 + np.array([236, 237, 238, 239, 244, 245, 246, 247, 262, 263])]
    t = time.perf_counter()
    plan = plan_cifti_extraction(reg.labels, index, index < 1000, reg.xyz_mm, reg.is_cortex)
    plan_s = time.perf_counter() - t
    means = parcel_means(dts.data, plan.weights)  # region means, then one adjacent-cortex mean per sub voxel
    sub = np.asarray(dts.data[:, plan.sub_positions])  # the subcortical voxels, cleaned one by one later
    np.save(out, means[:, : dl.parcel_ids.size])
    return {"plan_seconds": round(plan_s, 2), "n_sub": int(sub.shape[1]),
            "adjacent_nnz": int(plan.weights[plan.n_regions:].nnz)}


def run_naive(bold, out, **_):
    import nibabel as nb
    import numpy as np

    img = nb.load(bold)
    data = img.get_fdata()
    lab_img = nb.load(DLABEL)
    lab = lab_img.get_fdata()[0]
    # dlabel and dtseries both index vertices of each hemisphere: map each dtseries grayordinate to its label
    dense_lab = np.zeros(data.shape[1])
    lab_axis, bm = lab_img.header.get_axis(1), img.header.get_axis(1)
    for name, slc, sub in bm.iter_structures():
        for lname, lslc, lsub in lab_axis.iter_structures():
            if lname == name:
                per_vertex = np.zeros(lsub.nvertices[lname])
                per_vertex[lsub.vertex] = lab[lslc]
                dense_lab[slc] = per_vertex[sub.vertex]
    parcels = np.unique(dense_lab[dense_lab > 0])
    ts = np.column_stack([data[:, dense_lab == p].mean(axis=1) for p in parcels])
    np.save(out, ts)


def run_wb(bold, out, work, **_):
    ptseries = Path(work) / "out.ptseries.nii"
    subprocess.run(["wb_command", "-cifti-parcellate", bold, str(DLABEL), "COLUMN", str(ptseries), "-method",
                    "MEAN"], check=True, capture_output=True)
    import nibabel as nb
    import numpy as np

    np.save(out, np.asarray(nb.load(ptseries).dataobj, dtype=np.float64))


def run_pipeline(bold, out, work, **_):
    """The participant level's own surface extraction: the atlas on the run's grayordinates (a dlabel, built once
    per grid), then ``extract_cifti`` (regions, 20 mm adjacent-cortex cleanup inputs, tSNR, DVARS sample)."""
    import numpy as np

    from ketamine_fc.atlases.surface import load_cifti_atlas, write_cifti_atlas
    from ketamine_fc.utils.signals import extract_cifti

    t = time.perf_counter()
    atlas = load_cifti_atlas(bold)
    path = write_cifti_atlas(atlas, Path(work) / "atlas.dlabel.nii")
    atlas_s = time.perf_counter() - t
    signals = extract_cifti(bold, path, atlas.table, tr=0.8)
    cortex = (atlas.table["structure"] == "cortex").to_numpy()
    np.save(out, signals.region_means[:, cortex])
    return {"atlas_seconds": round(atlas_s, 2)}


RUNS = {"ours": run_ours, "ours+plan": run_ours_plan, "pipeline": run_pipeline, "naive": run_naive, "wb": run_wb}


def child(which, args):
    start = time.perf_counter()
    extra = RUNS[which](**args) or {}
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_gb": _peak_gb(), **extra}))


def measure(which, args):
    out = subprocess.run([sys.executable, __file__, "--child", which, json.dumps(args)], capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(f"{which} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path.home() / ".cache" / "ketamine_fc_bench"))
    parser.add_argument("--frames", type=int, default=700)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        return child(opts.child[0], json.loads(opts.child[1]))
    import numpy as np

    print("preparing the 91k run (first time only) ...", flush=True)
    bold = make_run(opts.data, opts.frames)
    print(f"{bold} ({bold.stat().st_size / 2**20:.0f} MiB)", flush=True)
    which_all = [w for w in RUNS if w != "wb" or shutil.which("wb_command")]
    results, outputs = {}, {}
    with tempfile.TemporaryDirectory() as work:
        for which in which_all:
            best = None
            for _ in range(opts.repeat):
                out = str(Path(work) / f"{which}.npy")
                res = measure(which, dict(bold=str(bold), out=out, work=work))
                best = res if best is None or res["seconds"] < best["seconds"] else best
            results[which] = best
            outputs[which] = np.load(out)
            extra = {k: v for k, v in best.items() if k not in ("seconds", "peak_gb")}
            print(f"{which:10s} {best['seconds']:7.2f} s  peak {best['peak_gb']:.2f} GB  {extra or ''}", flush=True)
    if "wb" not in results:
        print("wb_command not found: Workbench not measured (apt-get install connectome-workbench)")
    print(f"naive / ours = {results['naive']['seconds'] / results['ours']['seconds']:.1f}; naive / pipeline = "
          f"{results['naive']['seconds'] / results['pipeline']['seconds']:.2f} (the pipeline does more: limbic "
          "regions, the 20 mm cleanup inputs, tSNR, the DVARS sample)")
    ref = outputs.get("wb", outputs["naive"])
    for which, ts in outputs.items():
        print(f"max |{which} - {'wb' if 'wb' in outputs else 'naive'}| / max |ref| = "
              f"{np.max(np.abs(ts - ref)) / np.max(np.abs(ref)):.1e}")


if __name__ == "__main__":
    main()
