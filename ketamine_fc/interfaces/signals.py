"""Nipype interfaces: read a run once into region signals (volume or CIFTI), then clean them.

What the readers hand on is one :class:`~ketamine_fc.core.extraction.ExtractedSignals` file; the computations
are plain functions (:mod:`ketamine_fc.utils.signals`, :func:`ketamine_fc.core.regions.denoise_run`).
"""

from __future__ import annotations

import json
import os

import pandas as pd
from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, traits

from ketamine_fc.core import regions
from ketamine_fc.core.extraction import ExtractedSignals
from ketamine_fc.utils.signals import (extract_cifti, extract_volume, read_region_table, write_mean_cifti,
                                       write_mean_volume)


class _ExtractSignalsInputSpec(BaseInterfaceInputSpec):
    bold = File(exists=True, mandatory=True, desc="preprocessed BOLD series")
    mask = File(exists=True, mandatory=True, desc="BOLD brain mask")
    dseg = File(exists=True, mandatory=True, desc="region labels on the BOLD grid")
    table = File(exists=True, mandatory=True, desc="region table of the atlas")
    tr = traits.Float(mandatory=True, desc="repetition time (s)")
    subcortical_cleanup = traits.Bool(True, usedefault=True)
    adjacent_cortex_mm = traits.Float(20.0, usedefault=True)


class _ExtractSignalsOutputSpec(TraitedSpec):
    signals = File(exists=True, desc="ExtractedSignals (.npz): raw region means, subcortical voxels, adjacent "
                                     "cortex, QC sample")
    mean = File(exists=True, desc="temporal mean of the BOLD inside the brain mask (the report's background)")


class ExtractSignals(SimpleInterface):
    """One streamed pass over a NIfTI BOLD: region means, subcortical voxels and their adjacent cortex."""

    input_spec = _ExtractSignalsInputSpec
    output_spec = _ExtractSignalsOutputSpec

    def _run_interface(self, runtime):
        signals = extract_volume(self.inputs.bold, self.inputs.mask, self.inputs.dseg,
                                 read_region_table(self.inputs.table), tr=self.inputs.tr,
                                 subcortical_cleanup=self.inputs.subcortical_cleanup,
                                 adjacent_cortex_mm=self.inputs.adjacent_cortex_mm)
        self._results["signals"] = str(signals.save(os.path.join(runtime.cwd, "signals.npz")))
        self._results["mean"] = str(write_mean_volume(signals, os.path.join(runtime.cwd, "mean.nii.gz")))
        return runtime


class _ExtractCiftiSignalsInputSpec(BaseInterfaceInputSpec):
    bold = File(exists=True, mandatory=True, desc="CIFTI-2 dense time series on fs_LR 91k grayordinates")
    dseg = File(exists=True, mandatory=True, desc="region dlabel on the same grayordinates")
    table = File(exists=True, mandatory=True, desc="region table of the atlas")
    tr = traits.Float(mandatory=True, desc="repetition time (s)")
    surfaces = traits.List(File(exists=True), desc="the participant's fs_LR 32k midthickness surfaces, left then "
                                                   "right; empty: the fs_LR 32k group average")
    atlas_dir = traits.Either(None, traits.Str, usedefault=True, desc="directory with the atlas files")
    subcortical_cleanup = traits.Bool(True, usedefault=True)
    adjacent_cortex_mm = traits.Float(20.0, usedefault=True)


class ExtractCiftiSignals(SimpleInterface):
    """One pass over a dtseries, a range of grayordinates at a time: the same signals as :class:`ExtractSignals`."""

    input_spec = _ExtractCiftiSignalsInputSpec
    output_spec = _ExtractSignalsOutputSpec

    def _run_interface(self, runtime):
        surfaces = dict(zip("LR", self.inputs.surfaces)) if self.inputs.surfaces else None
        signals = extract_cifti(self.inputs.bold, self.inputs.dseg, read_region_table(self.inputs.table),
                                tr=self.inputs.tr, surfaces=surfaces, atlas_dir=self.inputs.atlas_dir,
                                subcortical_cleanup=self.inputs.subcortical_cleanup,
                                adjacent_cortex_mm=self.inputs.adjacent_cortex_mm)
        self._results["signals"] = str(signals.save(os.path.join(runtime.cwd, "signals.npz")))
        self._results["mean"] = str(write_mean_cifti(signals, self.inputs.bold,
                                                     os.path.join(runtime.cwd, "mean.dscalar.nii")))
        return runtime


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
        sig = ExtractedSignals.load(self.inputs.signals)
        censor = pd.read_csv(self.inputs.censoring, sep="\t", na_values=["n/a"])
        nuisance = pd.read_csv(self.inputs.nuisance, sep="\t", na_values=["n/a"]).drop(columns="frame")
        table = read_region_table(self.inputs.table)
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
