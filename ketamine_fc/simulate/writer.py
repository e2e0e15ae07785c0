"""Write a simulated study: raw BIDS (participants, sessions, phenotype) and fMRIPrep-style derivatives."""

from __future__ import annotations

import contextlib
import gzip
import multiprocessing
import shutil
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd

from ketamine_fc.simulate import cifti
from ketamine_fc.simulate.bold import (SUBNETWORK_DMN_EXCESS, confounds_table, plant_what_the_model_can, simulate_bold,
                                       subnetwork_pair_fraction)
from ketamine_fc.simulate.design import Effects, make_study, subnetwork_table
from ketamine_fc.errors import InputError
from ketamine_fc.utils.derivatives import atomic_path, write_json, write_tsv

SPACE = "MNI152NLin6Asym"
#: output spaces: MNI volumes (the default) or fs_LR 91k-shaped CIFTI-2 grayordinates (:mod:`.cifti`)
SPACES = (SPACE, cifti.SPACE)
#: FSL MNI152 (= MNI152NLin6Asym) grids, LAS, origin (90, -126, -72); 4 mm is the 2 mm grid subsampled
GRIDS = {2: (91, 109, 91), 3: (61, 73, 61), 4: (46, 55, 46)}
ASEG = (("Left-Hippocampus", 17), ("Left-Amygdala", 18), ("Left-Accumbens-area", 26),
        ("Right-Hippocampus", 53), ("Right-Amygdala", 54), ("Right-Accumbens-area", 58))
PHENOTYPE = {
    "madrs": {"madrs": "Montgomery-Asberg Depression Rating Scale total score (0-60)"},
    "cgi": {"cgi_i": "Clinical Global Impression - Improvement (1 very much improved ... 7 very much worse)"},
    "bprs": {"bprs_positive": "Brief Psychiatric Rating Scale, positive-symptom subscale"},
    "ketamine_levels": {c: f"serum {c.replace('_', ' ')} at the end of the infusion (ng/mL)"
                        for c in ("ketamine_r", "ketamine_s", "norketamine_r", "norketamine_s")},
    "side_effects": {"dissociation": "dissociation during the infusion (0 no, 1 yes)",
                     "nausea": "nausea during the infusion (0 no, 1 yes)"},
}
TIMEPOINTS = {"madrs": "baseline (before infusion), day1, week2, week4, week6, week8 after the infusion",
              "cgi": "day1 ... week8 after the infusion", "bprs": "infusion_day1 ... infusion_day4"}


def grid(resolution: int):
    """Shape and affine of the FSL MNI152 grid at ``resolution`` mm (2, 3 or 4)."""
    if resolution not in GRIDS:
        raise InputError(f"--resolution must be one of {', '.join(map(str, GRIDS))} mm, got {resolution}")
    step = float(resolution)
    return GRIDS[resolution], np.array([[-step, 0, 0, 90.0], [0, step, 0, -126.0], [0, 0, step, -72.0],
                                        [0, 0, 0, 1]])


def tissue_masks(shape, affine, atlas_dir=None):
    """Atlas on the grid plus brain, white-matter and ventricle masks derived from the atlases.

    Brain = Harvard-Oxford subcortical labels (which cover the cerebrum) or any atlas region, closed and
    filled; WM = HO cerebral white matter outside every region, eroded; CSF = HO lateral ventricles.
    """
    from scipy import ndimage

    from ketamine_fc.atlases import load_atlas
    from ketamine_fc.atlases.registry import resolve
    from ketamine_fc.core.parcellation import resample_labels_nn

    atlas = load_atlas(nb.Nifti1Image(np.zeros(shape, np.uint8), affine), atlas_dir)
    dseg = np.asarray(atlas.dseg.dataobj)
    ho_img = nb.load(resolve("harvard_oxford_sub_1mm", atlas_dir))
    ho = resample_labels_nn(np.asarray(ho_img.dataobj).astype(np.int32), ho_img.affine, shape, affine)
    brain = ndimage.binary_fill_holes(ndimage.binary_closing((ho > 0) | (dseg > 0), iterations=2))
    wm = ndimage.binary_erosion(np.isin(ho, [1, 12]) & (dseg == 0))
    if wm.sum() < 20:  # coarse grids: erosion leaves too little
        wm = np.isin(ho, [1, 12]) & (dseg == 0)
    csf = np.isin(ho, [3, 14]) & (dseg == 0)
    return atlas, brain, wm, csf


def write_bold(path, data, brain, affine, tr):
    """Write (n_frames, n_voxels) in-mask data as gzipped int16 NIfTI with scl_slope (as fMRIPrep does),
    streaming a few frames at a time; gzip level 1 and a zero timestamp keep it fast and byte-reproducible."""
    n_frames = data.shape[0]
    slope = float(np.abs(data).max()) / 32000.0 or 1.0
    hdr = nb.Nifti1Header()
    hdr.set_data_shape(brain.shape + (n_frames,))
    hdr.set_data_dtype(np.int16)
    hdr.set_sform(affine, code=4)
    hdr.set_qform(affine, code=4)
    hdr.set_zooms(tuple(abs(np.diag(affine)[:3])) + (tr,))
    hdr.set_xyzt_units("mm", "sec")
    hdr.set_slope_inter(slope, 0.0)
    hdr["descrip"] = b"ketamine-fc-simulate"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1,
                                                   mtime=0) as gz:
            hdr.set_data_offset(352)
            hdr.write_to(gz)
            gz.write(b"\0" * (int(hdr["vox_offset"]) - gz.tell()))
            frame = np.zeros(brain.shape, np.int16)
            for t in range(n_frames):
                frame[brain] = np.rint(data[t] / slope).astype(np.int16)
                gz.write(frame.tobytes(order="F"))


def write_nifti(img, path):
    """Write a small NIfTI atomically (gzip level 1, zero timestamp)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1,
                                                   mtime=0) as gz:
            gz.write(img.to_bytes())


def write_aseg(path, row):
    """FreeSurfer-format ``aseg.stats`` with eTIV and the six limbic structures."""
    lines = ["# Title Segmentation Statistics", "# generating_program ketamine-fc-simulate",
             "# Measure EstimatedTotalIntraCranialVol, eTIV, Estimated Total Intracranial Volume, "
             f"{row['EstimatedTotalIntraCranialVol']:.6f}, mm^3",
             "# NTableCols 10",
             "# ColHeaders  Index SegId NVoxels Volume_mm3 StructName normMean normStdDev normMin normMax normRange"]
    for i, (name, seg) in enumerate(ASEG, start=1):
        vol = row[name]
        lines.append(f"{i:3d} {seg:4d} {int(round(vol)):7d} {vol:10.1f}  {name:<22s} 80.0 10.0 40.0 120.0 80.0")
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")


def _write_raw(out: Path, study):
    write_json({"Name": "Simulated ketamine-fc study", "BIDSVersion": "1.9.0", "DatasetType": "raw",
                "Authors": ["ketamine-fc-simulate"],
                "HowToAcknowledge": "Simulated data; no participant exists."}, out / "dataset_description.json")
    write_tsv(study.participants, out / "participants.tsv",
              {"participant_id": {"Description": "participant (P = patient, C = control)"},
               "group": {"Description": "study arm", "Levels": {"patient": "treatment-resistant depression, "
                                                                "96-h ketamine infusion", "control": "not depressed"}},
               "age": {"Description": "age", "Units": "years"},
               "sex": {"Description": "sex", "Levels": {"F": "female", "M": "male"}}})
    for pid, sessions in study.sessions.items():
        write_tsv(pd.DataFrame({"session_id": [f"ses-{s}" for s in sessions]}), out / pid / f"{pid}_sessions.tsv")
        for ses in sessions:
            (out / pid / f"ses-{ses}").mkdir(parents=True, exist_ok=True)
    for name, table in study.phenotype.items():
        meta = {"participant_id": {"Description": "participant"}}
        if "timepoint" in table:
            meta["timepoint"] = {"Description": f"assessment timepoint: {TIMEPOINTS[name]}"}
        meta.update({k: {"Description": v} for k, v in PHENOTYPE[name].items()})
        write_tsv(table, out / "phenotype" / f"{name}.tsv", meta)


def _confound_meta(columns):
    meta = {"Description": "Simulated fMRIPrep confounds (ketamine-fc-simulate)"}
    masks = {"w_comp_cor": "WM", "c_comp_cor": "CSF", "a_comp_cor": "combined"}
    for col in columns:
        if col[:10] in masks:
            meta[col] = {"Method": "aCompCor", "Mask": masks[col[:10]], "Retained": True}
    return meta


def _single_threaded_blas():
    """Small matrix products run faster on one BLAS thread, above all on a shared, busy machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency of scikit-learn, hence of nilearn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def simulate_study(out_dir, *, n_patients=23, n_controls=27, n_frames=200, tr=2.0, n_runs=1, resolution=2,
                   seed=0, effects: Effects = Effects(), n_bursts=6, atlas_dir=None, overwrite=False, nprocs=1,
                   progress=print, space=SPACE) -> dict:
    """Write the whole simulated study to ``out_dir``; return its main paths and the :class:`Study`.

    Parameters
    ----------
    n_frames, tr, n_runs : frames per run, repetition time (s), runs per session
    resolution : 2, 3 or 4 (mm), the MNI152NLin6Asym grid (fMRIPrep entity ``res-<resolution>``); with
        ``space="fsLR"`` the grid of the unwritten volume run the confounds are computed from
    effects : planted effects (:meth:`Effects.null` for none)
    n_bursts : head-motion bursts per run (1-2 frames each, FD > 0.2 mm)
    nprocs : participants written in parallel; every participant has its own random stream (from ``seed``
        and its label), so the output is byte-identical whatever ``nprocs``
    overwrite : replace a non-empty ``out_dir`` (else :class:`~ketamine_fc.errors.InputError`)
    progress : callable receiving one line per participant written
    space : ``"MNI152NLin6Asym"`` (BOLD volumes, brain masks and boldrefs) or ``"fsLR"`` (fMRIPrep's
        ``*_space-fsLR_den-91k_bold.dtseries.nii`` on 91k-shaped grayordinates, :mod:`ketamine_fc.simulate.cifti`);
        the confounds, truth and every other file are the same kinds in both
    """
    from ketamine_fc.core.networks import network_sets

    out = Path(out_dir)
    if space not in SPACES:
        raise InputError(f"--space must be one of {', '.join(SPACES)}, got {space!r}")
    if n_frames < 30:
        raise InputError(f"--n-frames must be at least 30, got {n_frames}")
    if n_runs < 1 or n_patients < 1 or n_controls < 0:
        raise InputError("--n-runs and --n-patients must be at least 1 and --n-controls at least 0")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise InputError("the output folder is not empty: choose an empty folder or pass --overwrite", path=out)
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    study = make_study(n_patients, n_controls, seed, effects)
    if space == cifti.SPACE:
        surface = cifti.scene(resolution, atlas_dir)
        table = surface.table
        columns = dict(grayordinates=surface.grayordinates, labels=surface.labels, tissue=surface.tissue,
                       volume=surface.volume, volume_tissue=surface.volume_tissue)
    else:
        shape, affine = grid(resolution)
        atlas, brain, wm, csf = tissue_masks(shape, affine, atlas_dir)
        table = atlas.table
        columns = dict(brain=brain, affine=affine, labels=np.asarray(atlas.dseg.dataobj)[brain],
                       tissue={"wm": wm[brain], "csf": csf[brain]})
    _write_raw(out, study)
    fmriprep = out / "derivatives" / "fmriprep"
    write_json({"Name": "fMRIPrep-style derivatives simulated by ketamine-fc", "BIDSVersion": "1.9.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "ketamine-fc-simulate", "Version": _version()}]},
               fmriprep / "dataset_description.json")
    sets = network_sets(table, sgacc="core")
    plant_what_the_model_can(study.targets, subnetwork_pair_fraction(table, sets))
    _SCENE.update(fmriprep=fmriprep, study=study, table=table, sets=sets, n_frames=n_frames, tr=tr, n_runs=n_runs,
                  resolution=resolution, seed=seed, n_bursts=n_bursts, space=space,
                  targets=study.targets.set_index(["participant_id", "session_id"]), **columns)
    pids = list(study.sessions)
    spikes_rows = []
    try:
        for n, (pid, rows) in enumerate(zip(pids, _map(_write_participant, pids, nprocs)), start=1):
            progress(f"[{n}/{len(pids)}] wrote {pid} ({', '.join('ses-' + s for s in study.sessions[pid])})")
            spikes_rows += rows
    finally:
        _SCENE.clear()
    for _, row in study.volumes.iterrows():
        write_aseg(fmriprep / "sourcedata" / "freesurfer" / row["participant_id"] / "stats" / "aseg.stats", row)
    truth = out / "derivatives" / "simulation_truth.tsv"
    subnetwork = out / "derivatives" / "simulation_subnetwork.tsv"
    write_tsv(study.targets, truth, {
        "Description": "Planted per-session Fisher-z targets (expected FC of the noise-free region signals) and "
                       "responder status (>= 50% MADRS drop at week2) of the simulation",
        "limbic_dmn_subnetwork": {
            "Description": "planted mean Fisher-z FC between the limbic regions and the DMN parcels of the limbic-DMN "
                           f"subnetwork ({subnetwork.name}): every one of these edges sits at this value; it falls "
                           "by Effects.limbic_dmn_decrease at post in every patient",
            "Units": "Fisher z"},
        "Effects": dict(effects.__dict__), "Seed": seed, "NFrames": n_frames, "RepetitionTime": tr,
        "NRuns": n_runs, "Resolution": resolution,
        **({} if space == SPACE else {"Space": space, "Density": cifti.DENSITY,
                                      "Grayordinates": columns["grayordinates"].describe(),
                                      "ConfoundsFrom": f"an unwritten {resolution} mm volume run of the same "
                                                       "simulation (ketamine_fc.simulate.cifti)"})})
    write_tsv(subnetwork_table(table, sets), subnetwork, {
        "Description": "Regions of the planted limbic-DMN subnetwork: its edges are the limbic x dmn pairs (their FC "
                       "is simulation_truth.tsv's limbic_dmn_subnetwork). The pairs among its DMN parcels sit "
                       f"{SUBNETWORK_DMN_EXCESS} (Fisher z) above the other within-DMN pairs in every session, so "
                       "they change with the DMN only",
        "region": {"Description": "region label of the pipeline's FC matrices (Gordon_<parcel>, Seitzman_<roi>)"},
        "index": {"Description": "atlas index (Gordon parcel id; Seitzman ROI + 1000)"},
        "role": {"Description": "side of the subnetwork", "Levels": {
            "limbic": "limbic region (amygdala, hippocampus, accumbens, antero-medial thalamus)",
            "dmn": "Gordon Default parcel coupled to the limbic regions"}}})
    spikes_path = out / "derivatives" / "simulation_spikes.tsv"
    write_tsv(pd.DataFrame(spikes_rows, columns=["participant_id", "session_id", "run", "frame"]), spikes_path,
              {"Description": "Frames (0-based) of simulated head-motion bursts; FD > 0.2 mm exactly there"})
    return {"bids_dir": out, "fmriprep": fmriprep, "truth": truth, "spikes": spikes_path, "subnetwork": subnetwork,
            "study": study}


#: what the participant writers share (module level, so that forked workers inherit it without pickling)
_SCENE: dict = {}


def _map(func, items, nprocs):
    """``func`` over ``items`` in order: in this process, or in ``nprocs`` forked workers."""
    if nprocs <= 1 or len(items) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        with _single_threaded_blas():
            yield from map(func, items)
        return
    with multiprocessing.get_context("fork").Pool(min(nprocs, len(items))) as pool:
        yield from pool.imap(func, items)


def _write_participant(pid) -> list:
    """Every run of one participant (its own random stream); the frames of its motion bursts, as table rows."""
    sc = _SCENE
    rng = np.random.default_rng([sc["seed"], int(pid[5:]), 0 if pid[4] == "P" else 1])
    write_run = _write_run_volume if sc["space"] == SPACE else _write_run_cifti
    rows = []
    with _single_threaded_blas():
        for ses in sc["study"].sessions[pid]:
            target = sc["targets"].loc[(pid, f"ses-{ses}")]
            for run in range(1, sc["n_runs"] + 1):
                func = sc["fmriprep"] / pid / f"ses-{ses}" / "func"
                stem = f"{pid}_ses-{ses}_task-rest_run-{run}"
                data, params, spikes = simulate_bold(rng, sc["labels"], sc["table"], sc["sets"], target,
                                                     tissue=sc["tissue"], n_frames=sc["n_frames"], tr=sc["tr"],
                                                     n_bursts=sc["n_bursts"])
                write_run(func, stem, data, params)
                rows += [{"participant_id": pid, "session_id": f"ses-{ses}", "run": run, "frame": f}
                         for f in spikes]
    return rows


def _write_run_volume(func, stem, data, params):
    """A run in MNI space: the preprocessed BOLD, its sidecar, brain mask, reference and confounds."""
    sc = _SCENE
    spatial = f"{stem}_space-{SPACE}_res-{sc['resolution']}"
    write_bold(func / f"{spatial}_desc-preproc_bold.nii.gz", data, sc["brain"], sc["affine"], sc["tr"])
    write_json({"RepetitionTime": sc["tr"], "TaskName": "rest", "SkullStripped": False},
               func / f"{spatial}_desc-preproc_bold.json")
    mask_img = nb.Nifti1Image(sc["brain"].astype(np.uint8), sc["affine"])
    mask_img.header.set_xyzt_units("mm")
    write_nifti(mask_img, func / f"{spatial}_desc-brain_mask.nii.gz")
    ref = np.zeros(sc["brain"].shape, np.float32)
    ref[sc["brain"]] = data[2:].mean(axis=0)
    write_nifti(nb.Nifti1Image(ref, sc["affine"]), func / f"{spatial}_boldref.nii.gz")
    conf = confounds_table(data, params, wm=sc["tissue"]["wm"], csf=sc["tissue"]["csf"], tr=sc["tr"])
    write_tsv(conf, func / f"{stem}_desc-confounds_timeseries.tsv", _confound_meta(conf.columns))


def _write_run_cifti(func, stem, data, params):
    """A run on the fs_LR 91k grayordinates: the dtseries, its sidecar and the confounds (computed from the
    unwritten volume run, as fMRIPrep computes them from the volume)."""
    sc = _SCENE
    grays = sc["grayordinates"]
    name = cifti.bold_name(stem)
    cifti.write_dtseries_atomic(func / name, data[:, : grays.size], grays, sc["tr"])
    write_json(cifti.sidecar(sc["tr"]), func / name.replace(".dtseries.nii", ".json"))
    conf = confounds_table(data[:, sc["volume"]], params, wm=sc["volume_tissue"]["wm"],
                           csf=sc["volume_tissue"]["csf"], tr=sc["tr"])
    write_tsv(conf, func / f"{stem}_desc-confounds_timeseries.tsv", _confound_meta(conf.columns))


def _version():
    from ketamine_fc import __version__

    return __version__
