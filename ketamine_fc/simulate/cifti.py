"""The simulator's surface space: fMRIPrep-style CIFTI-2 dense time series on fs_LR 91k-shaped grayordinates.

Grayordinates (:func:`grayordinates`), in the order of a 91k file:

- cortex: the fs_LR 32k vertices of a standard 91k dtseries, medial wall excluded (registry
  ``fslr32k_vertex_info``: 29,696 left + 29,716 right = 59,412);
- subcortex: the voxels of the Harvard-Oxford subcortical labels at 2 mm (``harvard_oxford_sub_2mm``) as the
  standard CIFTI volume structures (accumbens, amygdala, brain stem, caudate, hippocampus, pallidum, putamen,
  thalamus; alphabetical, as in a 91k file), voxels in Connectome Workbench's order (i fastest, then j, then k)
  on the MNI152 2 mm grid of a 91k file (91 x 109 x 91, LAS, origin (90, -126, -72)). Harvard-Oxford has no
  cerebellum and no ventral diencephalon, so those two pairs of structures are absent: 59,412 + 12,850 =
  72,262 grayordinates instead of 91,282.

Regions on them are the surface path's own (:func:`ketamine_fc.atlases.surface.load_cifti_atlas`: Gordon parcels
from the fs_LR dlabel through each vertex; on the voxels, through :func:`ketamine_fc.core.cifti.subcortical_labels`,
the limbic Seitzman ROIs as whole CIFTI structures and the other subcortical ROIs as spheres), so every simulated
region is exactly the one the pipeline extracts. The 27 cerebellar Seitzman ROIs have no voxels (no cerebellum). Grayordinates outside every region (unlabelled vertices, subcortical voxels outside the Seitzman ROIs)
carry no region signal, only noise and the nuisance signals, like the volume's unlabelled voxels.

The signal model is the volume's (:func:`ketamine_fc.simulate.bold.simulate_bold`), every grayordinate counting
as grey matter. A CIFTI file has no white matter, no CSF and no brain mask, and fMRIPrep computes its confounds
from the volume BOLD. So each run simulates, in the same call and from the same region signals, the grayordinates
and the volume run the volume path would write at ``resolution`` mm (its brain-mask voxels, with the combined
atlas on that grid and its white-matter and ventricle masks, :func:`ketamine_fc.simulate.writer.tissue_masks`):
the grayordinates go to the dtseries, the volume only to the confounds table, computed exactly as for a volume
run (global signal over the brain mask, white_matter, csf, CompCor, DVARS). The volume is never written. The two
are two samplings of one brain, as fMRIPrep's volume and CIFTI outputs are; computing the global signal over the
grayordinates (+ white matter + CSF) instead would make the networks a much larger share of it than in real data
(labelled cortex is about half of those columns), and regressing it would take more of the planted FC away than
in the volume path: through the default cleaning the planted changes came back at 82-90 % that way, at 95-108 %
this way (tests/simulate/test_sim_cifti_recovery.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nb
import numpy as np
import pandas as pd

from ketamine_fc.errors import AtlasError

SPACE = "fsLR"
DENSITY = "91k"
#: Harvard-Oxford subcortical label name (FSL order, ketamine_fc.atlases.tables.HO_NAMES) -> CIFTI structure, in
#: the alphabetical order of the volume part of a 91k file
HO_TO_CIFTI = {
    "Left_Accumbens": "CIFTI_STRUCTURE_ACCUMBENS_LEFT", "Right_Accumbens": "CIFTI_STRUCTURE_ACCUMBENS_RIGHT",
    "Left_Amygdala": "CIFTI_STRUCTURE_AMYGDALA_LEFT", "Right_Amygdala": "CIFTI_STRUCTURE_AMYGDALA_RIGHT",
    "Brain-Stem": "CIFTI_STRUCTURE_BRAIN_STEM",
    "Left_Caudate": "CIFTI_STRUCTURE_CAUDATE_LEFT", "Right_Caudate": "CIFTI_STRUCTURE_CAUDATE_RIGHT",
    "Left_Hippocampus": "CIFTI_STRUCTURE_HIPPOCAMPUS_LEFT", "Right_Hippocampus": "CIFTI_STRUCTURE_HIPPOCAMPUS_RIGHT",
    "Left_Pallidum": "CIFTI_STRUCTURE_PALLIDUM_LEFT", "Right_Pallidum": "CIFTI_STRUCTURE_PALLIDUM_RIGHT",
    "Left_Putamen": "CIFTI_STRUCTURE_PUTAMEN_LEFT", "Right_Putamen": "CIFTI_STRUCTURE_PUTAMEN_RIGHT",
    "Left_Thalamus": "CIFTI_STRUCTURE_THALAMUS_LEFT", "Right_Thalamus": "CIFTI_STRUCTURE_THALAMUS_RIGHT",
}
#: the volume grid of a 91k file (the FSL MNI152 2 mm grid)
VOLUME_RESOLUTION = 2


def bold_name(stem: str) -> str:
    """fMRIPrep's name of the 91k dense time series of a run (``--cifti-output 91k``)."""
    return f"{stem}_space-{SPACE}_den-{DENSITY}_bold.dtseries.nii"


def sidecar(tr: float) -> dict:
    """The dtseries' JSON sidecar, with the keys fMRIPrep writes for its CIFTI output except ``space`` (its
    ``"HCP grayordinates"`` clashes with the ``space`` entity of the file name, and pybids refuses to index the
    file: nipreps/niworkflows#755, bids-standard/pybids#660)."""
    return {"RepetitionTime": tr, "TaskName": "rest", "grayordinates": DENSITY, "surface": "fsLR",
            "surface_density": "32k", "volume": "MNI152NLin6Asym",
            "Description": "Simulated by ketamine-fc-simulate: fs_LR 32k cortex (medial wall excluded) and the "
                           "Harvard-Oxford subcortical structures at 2 mm (no cerebellum, no ventral diencephalon)"}


def grayordinates(atlas_dir=None):
    """The 91k-shaped :class:`~ketamine_fc.utils.cifti_io.Grayordinates` of the simulation (see the module)."""
    from ketamine_fc.atlases.registry import resolve
    from ketamine_fc.atlases.tables import harvard_oxford_labels
    from ketamine_fc.core.parcellation import resample_labels_nn
    from ketamine_fc.simulate.writer import grid
    from ketamine_fc.utils.cifti_io import make_grayordinates

    path = resolve("fslr32k_vertex_info", atlas_dir)
    with np.load(path, allow_pickle=False) as info:
        surfaces = [("CORTEX_LEFT", info["grayl"], int(info["num_meshl"])),
                    ("CORTEX_RIGHT", info["grayr"], int(info["num_meshr"]))]
    shape, affine = grid(VOLUME_RESOLUTION)
    img = nb.load(resolve("harvard_oxford_sub_2mm", atlas_dir))
    ho = np.rint(np.asarray(img.dataobj)).astype(np.int32)
    if ho.shape != shape or not np.allclose(img.affine, affine):
        ho = resample_labels_nn(ho, img.affine, shape, affine)
    names = harvard_oxford_labels()
    index = dict(zip(names["name"], names["index"]))
    missing = sorted(set(HO_TO_CIFTI) - set(index))
    if missing:  # pragma: no cover - HO_NAMES is fixed
        raise AtlasError(f"Harvard-Oxford labels {missing} are not in the label table")
    volumes = []
    for name, structure in HO_TO_CIFTI.items():
        ijk = np.argwhere(ho == index[name])
        ijk = ijk[np.lexsort((ijk[:, 0], ijk[:, 1], ijk[:, 2]))]  # Workbench's order: i fastest, then j, then k
        if len(ijk):
            volumes.append((structure, ijk))
    return make_grayordinates(surfaces, volumes, affine=affine, volume_shape=shape)


@dataclass
class CiftiScene:
    """What the writer needs to simulate the runs of the surface space.

    ``labels`` (region index) and ``tissue`` (``wm``, ``csf``) cover the simulated columns: the grayordinates
    (the first ``grayordinates.size``, all grey matter) followed by the brain-mask voxels of the unwritten volume
    (:attr:`volume`), whose tissue is ``volume_tissue``.
    """

    grayordinates: object  # ketamine_fc.utils.cifti_io.Grayordinates
    table: pd.DataFrame  # the surface path's region table (n_voxels = grayordinates)
    labels: np.ndarray
    tissue: dict

    @property
    def n_grayordinates(self) -> int:
        return self.grayordinates.size

    @property
    def volume(self) -> slice:
        """The columns of the unwritten volume, which the confounds are computed from."""
        return slice(self.n_grayordinates, self.labels.size)

    @property
    def volume_tissue(self) -> dict:
        return {k: v[self.volume] for k, v in self.tissue.items()}


def scene(resolution=VOLUME_RESOLUTION, atlas_dir=None) -> CiftiScene:
    """Grayordinates with the pipeline's regions on them, and the volume run at ``resolution`` mm that feeds the
    confounds (see the module)."""
    from ketamine_fc.atlases.surface import load_cifti_atlas
    from ketamine_fc.simulate.writer import grid, tissue_masks

    grays = grayordinates(atlas_dir)
    atlas = load_cifti_atlas(grays, atlas_dir)
    volume, brain, wm, csf = tissue_masks(*grid(resolution), atlas_dir)
    if not np.array_equal(volume.table["index"].to_numpy(), atlas.table["index"].to_numpy()):  # pragma: no cover
        raise AtlasError("the combined atlas has other regions on the grayordinates than on the volume grid")
    labels = np.concatenate([atlas.labels, np.asarray(volume.dseg.dataobj)[brain].astype(atlas.labels.dtype)])
    gm = np.zeros(grays.size, dtype=bool)
    tissue = {"wm": np.concatenate([gm, wm[brain]]), "csf": np.concatenate([gm, csf[brain]])}
    return CiftiScene(grays, atlas.table, labels, tissue)


def write_dtseries_atomic(path, data, grays, tr):
    """Write float32 (T, n_grayordinates) ``data`` as a dtseries, atomically (as fMRIPrep writes it: float32,
    uncompressed). nibabel names CIFTI files by their extension, so the temporary file ends in ``.nii``."""
    import os

    from ketamine_fc.utils.cifti_io import write_dtseries
    from ketamine_fc.utils.derivatives import atomic_path

    with atomic_path(path) as tmp:
        nii = tmp.with_name(tmp.name + ".nii")
        try:
            write_dtseries(nii, data, grays, tr)
            os.replace(nii, tmp)
        finally:
            nii.unlink(missing_ok=True)
