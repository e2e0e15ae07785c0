"""Nipype interfaces: the atlas (default the combined Gordon 333 + Seitzman subcortical) on a BOLD grid or on CIFTI
grayordinates."""

from __future__ import annotations

import os

from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, traits

from ketamine_fc.atlases.descriptions import DEFAULT_ATLAS


class _BuildAtlasInputSpec(BaseInterfaceInputSpec):
    reference = File(exists=True, mandatory=True, desc="image on the target grid (BOLD, boldref or mask)")
    mask = File(exists=True, desc="BOLD brain mask, for voxel counts")
    atlas_dir = traits.Either(None, traits.Str, usedefault=True, desc="directory with the atlas files")
    atlas = traits.Str(DEFAULT_ATLAS, usedefault=True, desc="atlas description (--atlas)")
    hippocampus_split_y = traits.Float(-21.0, usedefault=True)
    min_region_voxels = traits.Int(3, usedefault=True)


class _BuildAtlasOutputSpec(TraitedSpec):
    dseg = File(exists=True, desc="region labels on the reference grid")
    table = File(exists=True, desc="TSV: index, label, network, structure, hemisphere, atlas, n_voxels")


class BuildAtlas(SimpleInterface):
    """Resample Gordon 333 and build the Seitzman subcortical ROIs on the reference grid."""

    input_spec = _BuildAtlasInputSpec
    output_spec = _BuildAtlasOutputSpec

    def _run_interface(self, runtime):
        from ketamine_fc.atlases import load_atlas

        atlas = load_atlas(self.inputs.reference, atlas_dir=self.inputs.atlas_dir,
                           hippocampus_split_y=self.inputs.hippocampus_split_y,
                           mask_img=self.inputs.mask or None, min_voxels=self.inputs.min_region_voxels,
                           atlas=self.inputs.atlas)
        self._results["dseg"] = os.path.join(runtime.cwd, "atlas_dseg.nii.gz")
        self._results["table"] = os.path.join(runtime.cwd, "atlas_dseg.tsv")
        atlas.dseg.to_filename(self._results["dseg"])
        atlas.table.to_csv(self._results["table"], sep="\t", index=False, na_rep="n/a")
        return runtime


class _BuildCiftiAtlasInputSpec(BaseInterfaceInputSpec):
    reference = File(exists=True, mandatory=True, desc="a dtseries on the target grayordinates (fs_LR 91k)")
    atlas_dir = traits.Either(None, traits.Str, usedefault=True, desc="directory with the atlas files")
    atlas = traits.Str(DEFAULT_ATLAS, usedefault=True, desc="atlas description (--atlas)")
    hippocampus_split_y = traits.Float(-21.0, usedefault=True)
    min_region_voxels = traits.Int(3, usedefault=True)


class BuildCiftiAtlas(SimpleInterface):
    """Gordon 333 on the cortical vertices and the Seitzman ROIs on the voxels of the reference's grayordinates."""

    input_spec = _BuildCiftiAtlasInputSpec
    output_spec = _BuildAtlasOutputSpec

    def _run_interface(self, runtime):
        from ketamine_fc.atlases.surface import load_cifti_atlas, write_cifti_atlas

        atlas = load_cifti_atlas(self.inputs.reference, atlas_dir=self.inputs.atlas_dir,
                                 hippocampus_split_y=self.inputs.hippocampus_split_y,
                                 min_voxels=self.inputs.min_region_voxels, atlas=self.inputs.atlas)
        self._results["dseg"] = str(write_cifti_atlas(atlas, os.path.join(runtime.cwd, "atlas_dseg.dlabel.nii")))
        self._results["table"] = os.path.join(runtime.cwd, "atlas_dseg.tsv")
        atlas.table.to_csv(self._results["table"], sep="\t", index=False, na_rep="n/a")
        return runtime
