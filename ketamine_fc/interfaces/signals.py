"""Nipype interfaces: read the BOLD once into region signals, then clean them."""

from __future__ import annotations

import json
import os

import nibabel as nb
import numpy as np
import pandas as pd
from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, traits

from ketamine_fc.core import regions
from ketamine_fc.core.parcellation import count_voxels
from ketamine_fc.core.qc import tsnr
from ketamine_fc.errors import InputError
from ketamine_fc.utils.bold_stream import stream_bold


class _ExtractSignalsInputSpec(BaseInterfaceInputSpec):
    bold = File(exists=True, mandatory=True, desc="preprocessed BOLD series")
    mask = File(exists=True, mandatory=True, desc="BOLD brain mask")
    dseg = File(exists=True, mandatory=True, desc="region labels on the BOLD grid")
    table = File(exists=True, mandatory=True, desc="region table of the atlas")
    subcortical_cleanup = traits.Bool(True, usedefault=True)
    adjacent_cortex_mm = traits.Float(20.0, usedefault=True)


class _ExtractSignalsOutputSpec(TraitedSpec):
    signals = File(exists=True, desc="npz: raw region means, subcortical voxels, adjacent cortex, QC sample")
    mean = File(exists=True, desc="temporal mean of the BOLD inside the brain mask (the report's background)")


class ExtractSignals(SimpleInterface):
    """One streamed pass over the BOLD: region means, subcortical voxels and their adjacent cortex."""

    input_spec = _ExtractSignalsInputSpec
    output_spec = _ExtractSignalsOutputSpec

    def _run_interface(self, runtime):
        bold_img, mask_img, dseg_img = (nb.load(f) for f in (self.inputs.bold, self.inputs.mask, self.inputs.dseg))
        for name, img in (("brain mask", mask_img), ("atlas", dseg_img)):
            if img.shape[:3] != bold_img.shape[:3] or not np.allclose(img.affine, bold_img.affine, atol=1e-3):
                raise InputError(f"the {name} is not on the BOLD grid ({img.shape[:3]} vs {bold_img.shape[:3]})",
                                 path=self.inputs.bold)
        table = pd.read_csv(self.inputs.table, sep="\t", keep_default_na=False, na_values=["n/a"])
        dseg = np.asarray(dseg_img.dataobj)
        plan = regions.plan_extraction(
            dseg, np.asarray(mask_img.dataobj) > 0, bold_img.affine,
            table["index"].to_numpy(), (table["structure"] == "cortex").to_numpy(),
            adjacent_cortex_mm=self.inputs.adjacent_cortex_mm, subcortical_cleanup=self.inputs.subcortical_cleanup)
        cortical = (table["structure"] == "cortex").to_numpy()
        covered = np.mean(plan.region_voxels[cortical] > 0) if cortical.any() else 1.0
        if covered < 0.5:
            raise InputError(f"only {covered:.0%} of the Gordon parcels fall inside this BOLD's brain mask: the "
                             "image does not look like it is in MNI space (check --space)", path=self.inputs.bold)
        res = stream_bold(self.inputs.bold, plan.mask_index, plan.weights, plan.gather)
        if res.voxel_std.size and not np.any(res.voxel_std > 0):
            raise InputError("the BOLD series does not change over time anywhere inside the brain mask",
                             path=self.inputs.bold)
        self._results["mean"] = _write_mean(res.voxel_mean, plan.mask_index, bold_img, runtime.cwd)
        n_sub = plan.sub_positions.size
        voxel_tsnr = tsnr(res.voxel_mean, res.voxel_std)
        region_tsnr = np.asarray((plan.weights[: plan.n_regions] @ np.nan_to_num(voxel_tsnr))).ravel()
        self._results["signals"] = os.path.join(runtime.cwd, "signals.npz")
        np.savez(self._results["signals"], region_means=res.weighted[:, : plan.n_regions],
                 sub_adjacent=res.weighted[:, plan.n_regions:], sub_voxels=res.gathered[:, :n_sub],
                 sample=res.gathered[:, n_sub:], sub_region=plan.sub_region, sub_has_cortex=plan.sub_has_cortex,
                 region_voxels=plan.region_voxels, atlas_voxels=count_voxels(dseg, table["index"].to_numpy()),
                 region_tsnr=region_tsnr,
                 brain_tsnr=np.nanmedian(voxel_tsnr) if voxel_tsnr.size else np.nan)
        return runtime


def _write_mean(voxel_mean, mask_index, bold_img, folder) -> str:
    """The temporal mean of the in-mask voxels as a 3-D float32 image on the BOLD grid (0 outside the mask)."""
    shape = bold_img.shape[:3]
    flat = np.zeros(int(np.prod(shape)), dtype=np.float32)
    flat[mask_index] = voxel_mean
    path = os.path.join(folder, "mean.nii.gz")
    nb.Nifti1Image(flat.reshape(shape, order="F"), bold_img.affine).to_filename(path)
    return path


class _DenoiseSignalsInputSpec(BaseInterfaceInputSpec):
    signals = File(exists=True, mandatory=True)
    censoring = File(exists=True, mandatory=True)
    nuisance = File(exists=True, mandatory=True)
    table = File(exists=True, mandatory=True)
    tr = traits.Float(mandatory=True)
    params = traits.Dict(mandatory=True, desc="DenoiseParams.to_dict()")
    min_region_voxels = traits.Int(3, usedefault=True)
    min_region_coverage = traits.Float(0.5, usedefault=True)


class _DenoiseSignalsOutputSpec(TraitedSpec):
    timeseries = File(exists=True, desc="cleaned region means, retained frames only")
    design = File(exists=True, desc="the regression design actually used")
    regions_qc = File(exists=True, desc="per-region voxel count and tSNR")
    qc = File(exists=True, desc="JSON of run QC figures")
    frames = File(exists=True, desc="per-frame DVARS before and after cleaning (for the report)")


class DenoiseSignals(SimpleInterface):
    """Regression on retained frames, interpolation, band-pass, re-censoring; then subcortical cleanup."""

    input_spec = _DenoiseSignalsInputSpec
    output_spec = _DenoiseSignalsOutputSpec

    def _run_interface(self, runtime):
        sig = dict(np.load(self.inputs.signals))
        censor = pd.read_csv(self.inputs.censoring, sep="\t", na_values=["n/a"])
        nuisance = pd.read_csv(self.inputs.nuisance, sep="\t", na_values=["n/a"]).drop(columns="frame")
        table = pd.read_csv(self.inputs.table, sep="\t", keep_default_na=False, na_values=["n/a"])
        out = regions.denoise_run(sig, censor, nuisance, table, self.inputs.tr, self.inputs.params,
                                  min_region_voxels=self.inputs.min_region_voxels,
                                  min_region_coverage=self.inputs.min_region_coverage)
        for key, name in (("timeseries", "timeseries.tsv"), ("design", "design.tsv"),
                          ("regions_qc", "regions_qc.tsv"), ("frames", "frames.tsv")):
            self._results[key] = os.path.join(runtime.cwd, name)
            out[key].to_csv(self._results[key], sep="\t", index=False, na_rep="n/a", float_format="%.8g")
        self._results["qc"] = os.path.join(runtime.cwd, "qc.json")
        with open(self._results["qc"], "w") as fobj:
            json.dump(out["qc"], fobj, indent=2)
        return runtime
