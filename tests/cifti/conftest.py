"""Fixtures of the surface path: 91k-shaped grayordinates built from the shared fs_LR 32k and Harvard-Oxford files."""

from __future__ import annotations

import nibabel as nb
import numpy as np
import pytest

from cifti_builder import GORDON_DLABEL, HO_2MM, SURFACES, volume_parts

from ketamine_fc.utils.cifti_io import make_grayordinates

@pytest.fixture(scope="session")
def vertex_info(shared_data):
    with np.load(shared_data / SURFACES / "fMRI_vertex_info_32k.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="session")
def gordon_dlabel(shared_data):
    return shared_data / GORDON_DLABEL


@pytest.fixture(scope="session")
def midthickness(shared_data):
    return {h: shared_data / SURFACES / f"S1200.{h}.midthickness_MSMAll.32k_fs_LR.surf.gii" for h in "LR"}


@pytest.fixture(scope="session")
def ho2mm(shared_data):
    img = nb.load(shared_data / HO_2MM)
    return np.rint(np.asarray(img.dataobj)).astype(np.int32), img.affine


@pytest.fixture(scope="session")
def grays91k(vertex_info, ho2mm):
    """fs_LR 32k cortex without the medial wall (59412 grayordinates) + 15 Harvard-Oxford structures at 2 mm."""
    labels, affine = ho2mm
    surfaces = [("CORTEX_LEFT", vertex_info["grayl"], int(vertex_info["num_meshl"])),
                ("CORTEX_RIGHT", vertex_info["grayr"], int(vertex_info["num_meshr"]))]
    return make_grayordinates(surfaces, volume_parts(labels), affine=affine, volume_shape=labels.shape)
