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
