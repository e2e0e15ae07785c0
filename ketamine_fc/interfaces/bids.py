"""Nipype interfaces: copy results into the derivatives tree under their BIDS names, with sidecars."""

from __future__ import annotations

import shutil

from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, traits

from ketamine_fc.atlases.descriptions import output_name, sidecar_description
from ketamine_fc.atlases.build import atlas_sources
from ketamine_fc.utils.derivatives import SEG, atomic_path, bids_path, sidecar, sidecar_path, write_json


class _WriteDerivativesInputSpec(BaseInterfaceInputSpec):
    output_dir = traits.Str(mandatory=True)
    specs = traits.Dict(mandatory=True, desc="field -> {entities, suffix, description}")
    parameters = traits.Dict(desc="parameters recorded in every sidecar")
    metadata_file = File(exists=True, desc="JSON merged into the sidecar of the fields listed in meta_fields")
    meta_fields = traits.List(traits.Str)
    metadata = traits.Dict(desc="entries added to every sidecar (e.g. RepetitionTime)")
    sources = traits.List(traits.Str)
    ready = traits.Any(desc="any value: lets the sink wait for another node")
    censoring = File(exists=True)
    design = File(exists=True)
    timeseries = File(exists=True)
    regions_qc = File(exists=True)
    relmat_r = File(exists=True)
    relmat_z = File(exists=True)
    relmat_limbic = File(exists=True)
    measures = File(exists=True)
    qc = File(exists=True)


class _WriteDerivativesOutputSpec(TraitedSpec):
    out_files = traits.List(File(exists=True))


class WriteDerivatives(SimpleInterface):
    """Write several results of one run or session under their BIDS names, each with its sidecar."""

    input_spec = _WriteDerivativesInputSpec
    output_spec = _WriteDerivativesOutputSpec

    def _run_interface(self, runtime):
        import json

        extra = json.loads(open(self.inputs.metadata_file).read()) if self.inputs.metadata_file else {}
        params = dict(self.inputs.parameters) if self.inputs.parameters else None
        written = []
        for field, spec in self.inputs.specs.items():
            source = getattr(self.inputs, field)
            out = bids_path(self.inputs.output_dir, spec["entities"], spec["suffix"], spec.get("extension", ".tsv"))
            with atomic_path(out) as tmp:
                shutil.copyfile(source, tmp)
            meta = dict(self.inputs.metadata or {})
            meta.update(extra if field in (self.inputs.meta_fields or []) else {})
            write_json(sidecar(spec["description"], params, sources=self.inputs.sources or None, **meta),
                       sidecar_path(out))
            written.append(str(out))
        self._results["out_files"] = written
        return runtime


#: the sidecar descriptions of the paper's atlas (its description's ``volume_description``, ``cifti_description``)
VOLUME_DESCRIPTION = sidecar_description(SEG)
CIFTI_DESCRIPTION = sidecar_description(SEG, cifti=True)


class _WriteAtlasInputSpec(BaseInterfaceInputSpec):
    dseg = File(exists=True, mandatory=True)
    table = File(exists=True, mandatory=True)
    output_dir = traits.Str(mandatory=True)
    space = traits.Str(mandatory=True)
    res = traits.Either(None, traits.Str, usedefault=True)
    den = traits.Either(None, traits.Str, usedefault=True, desc="grayordinate density (CIFTI atlases)")
    grid = traits.Str("", usedefault=True, desc="grid tag, used in the name when there is no res")
    atlas = traits.Str(SEG, usedefault=True, desc="the atlas (--atlas): names the files, describes the sidecar")
    atlas_dir = traits.Either(None, traits.Str, usedefault=True, desc="directory with the atlas descriptions")
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

        inputs = self.inputs
        stem = f"atlas-{output_name(inputs.atlas, inputs.atlas_dir)}_space-{inputs.space}" + (f"_res-{inputs.res}" if inputs.res else
                                                      f"_den-{inputs.den}" if inputs.den else
                                                      f"_desc-{inputs.grid}" if inputs.grid else "")
        folder = Path(inputs.output_dir) / "atlases"
        cifti = str(inputs.dseg).endswith(".dlabel.nii")
        meta = sidecar(sidecar_description(inputs.atlas, inputs.atlas_dir, cifti=cifti),
                       dict(inputs.parameters) if inputs.parameters else None,
                       AtlasFiles=atlas_sources(inputs.atlas, inputs.atlas_dir, surface=cifti))
        for key, ext in (("dseg", "_dseg.dlabel.nii" if cifti else "_dseg.nii.gz"), ("table", "_dseg.tsv")):
            out = folder / (stem + ext)
            with atomic_path(out) as tmp:
                shutil.copyfile(getattr(self.inputs, key), tmp)
            self._results[key] = str(out)
        write_json(meta, folder / (stem + "_dseg.json"))
        return runtime
