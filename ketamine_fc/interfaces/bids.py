"""Nipype interface: copy a result into the derivatives tree under its BIDS name, with its sidecar."""

from __future__ import annotations

import shutil

from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, traits

from ketamine_fc.utils.derivatives import atomic_path, bids_path, sidecar, sidecar_path, write_json


class _WriteDerivativeInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True)
    output_dir = traits.Str(mandatory=True)
    entities = traits.Dict(mandatory=True, desc="subject, session, task, run, space, segmentation, stat, desc")
    suffix = traits.Str(mandatory=True)
    extension = traits.Str(".tsv", usedefault=True)
    description = traits.Str(mandatory=True, desc="what the file holds, for the sidecar")
    parameters = traits.Dict(desc="parameters recorded in the sidecar")
    metadata = traits.Dict(desc="further sidecar fields")
    metadata_file = File(exists=True, desc="JSON whose fields are merged into the sidecar")
    sources = traits.List(traits.Str, desc="input files, recorded as Sources")


class _WriteDerivativeOutputSpec(TraitedSpec):
    out_file = File(exists=True)
    out_meta = File(exists=True)


class WriteDerivative(SimpleInterface):
    """Write ``in_file`` to ``OUTPUT_DIR/sub-*/ses-*/func/<BIDS name>`` and its JSON sidecar, atomically."""

    input_spec = _WriteDerivativeInputSpec
    output_spec = _WriteDerivativeOutputSpec

    def _run_interface(self, runtime):
        import json

        out = bids_path(self.inputs.output_dir, self.inputs.entities, self.inputs.suffix, self.inputs.extension)
        meta = dict(self.inputs.metadata) if self.inputs.metadata else {}
        if self.inputs.metadata_file:
            meta.update(json.loads(open(self.inputs.metadata_file).read()))
        with atomic_path(out) as tmp:
            shutil.copyfile(self.inputs.in_file, tmp)
        params = dict(self.inputs.parameters) if self.inputs.parameters else None
        write_json(sidecar(self.inputs.description, params, sources=self.inputs.sources or None, **meta),
                   sidecar_path(out))
        self._results["out_file"] = str(out)
        self._results["out_meta"] = str(sidecar_path(out))
        return runtime


class _WriteAtlasInputSpec(BaseInterfaceInputSpec):
    dseg = File(exists=True, mandatory=True)
    table = File(exists=True, mandatory=True)
    output_dir = traits.Str(mandatory=True)
    space = traits.Str(mandatory=True)
    res = traits.Either(None, traits.Str, usedefault=True)
    parameters = traits.Dict()


class _WriteAtlasOutputSpec(TraitedSpec):
    dseg = File(exists=True)
    table = File(exists=True)


class WriteAtlas(SimpleInterface):
    """Write the combined atlas used (labels on the BOLD grid + region table) once under ``atlases/``."""

    input_spec = _WriteAtlasInputSpec
    output_spec = _WriteAtlasOutputSpec

    def _run_interface(self, runtime):
        from pathlib import Path

        from ketamine_fc.workflows.outputs import SEG

        stem = f"atlas-{SEG}_space-{self.inputs.space}" + (f"_res-{self.inputs.res}" if self.inputs.res else "")
        folder = Path(self.inputs.output_dir) / "atlases"
        meta = sidecar("Gordon 333 cortical parcels plus Seitzman 300 subcortical and cerebellar ROIs (limbic ROIs "
                       "expanded to Harvard-Oxford structures) resampled to the BOLD grid with nearest neighbour.",
                       dict(self.inputs.parameters) if self.inputs.parameters else None)
        for key, ext in (("dseg", "_dseg.nii.gz"), ("table", "_dseg.tsv")):
            out = folder / (stem + ext)
            with atomic_path(out) as tmp:
                shutil.copyfile(getattr(self.inputs, key), tmp)
            self._results[key] = str(out)
        write_json(meta, folder / (stem + "_dseg.json"))
        return runtime
