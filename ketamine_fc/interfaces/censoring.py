"""Nipype interface: read a confounds file, decide the retained frames, select the nuisance regressors."""

from __future__ import annotations

import os

from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, traits

from ketamine_fc.config import DenoiseParams
from ketamine_fc.core.censoring import censoring_table
from ketamine_fc.core.confounds import read_confounds, replace_motion, select_nuisance


class _CensorFramesInputSpec(BaseInterfaceInputSpec):
    confounds = File(exists=True, mandatory=True, desc="fMRIPrep confounds TSV")
    tr = traits.Float(mandatory=True, desc="repetition time (s)")
    params = traits.Dict(mandatory=True, desc="DenoiseParams.to_dict()")


class _CensorFramesOutputSpec(TraitedSpec):
    censoring = File(exists=True, desc="per-frame TSV: FD, reasons, retained")
    nuisance = File(exists=True, desc="TSV: frame, then the selected nuisance regressors")


class CensorFrames(SimpleInterface):
    """FD censoring with the short-segment rule and dummy scans; nuisance columns of the chosen strategy."""

    input_spec = _CensorFramesInputSpec
    output_spec = _CensorFramesOutputSpec

    def _run_interface(self, runtime):
        params = DenoiseParams(**self.inputs.params)
        confounds = read_confounds(self.inputs.confounds)
        table = censoring_table(confounds, self.inputs.tr, **params.censoring())
        if params.motion_filter_type != "none" and params.motion_regressors == "filtered":
            confounds = replace_motion(confounds, table.attrs["motion"])  # XCP-D: filtered motion in the design
        nuisance = select_nuisance(confounds, params.nuisance_regressors, path=self.inputs.confounds)
        self._results["censoring"] = os.path.join(runtime.cwd, "censoring.tsv")
        self._results["nuisance"] = os.path.join(runtime.cwd, "nuisance.tsv")
        table.to_csv(self._results["censoring"], sep="\t", index=False, na_rep="n/a")
        # a "frame" column first, so that a strategy without regressors ("none") still writes a readable table
        nuisance.insert(0, "frame", range(len(nuisance)))
        nuisance.to_csv(self._results["nuisance"], sep="\t", index=False, na_rep="n/a")
        return runtime
