"""The combined atlas on a BOLD grid: Gordon 333 cortex + Seitzman 300 subcortical and cerebellar ROIs.

- Gordon 333 (index = parcel id 1-333): the 1 mm MNI152NLin6Asym image resampled to the grid with
  nearest neighbour through the affines.
- Seitzman 300 subcortical/cerebellar ROIs (index = 1000 + ROI number): 4 mm spheres built from their
  coordinates directly on the grid, except the 8 limbic ROIs that become whole Harvard-Oxford structures
  (amygdala 10/20, accumbens 11/21, hippocampus 9/19 cut at MNI y = ``hippocampus_split_y``, anterior
  = y > split). The antero-medial thalamus pair (263/262) stays as spheres.

Where definitions overlap, later ones win: Gordon parcels < spheres < whole structures. Subcortical
definitions thus take the voxels the (surface-derived) cortical parcels spill into; a voxel inside two
spheres goes to the nearer centre. A consequence: Gordon parcel 314 (right medial temporal, community
None) lies almost wholly inside Harvard-Oxford right hippocampus (7 of its 388 voxels remain at 1 mm,
1 at 2 mm, none on the 3 mm colornest grid); like every region with fewer than ``min_voxels`` voxels it
stays in the table, flagged ``missing``.

All of this is read from the atlas descriptions (:mod:`ketamine_fc.atlases.descriptions`,
``ketamine_fc/data/atlas_descriptions.toml``): the combined atlas is the composition ``GordonSeitzman`` of the
``gordon333`` and ``seitzman300`` entries, and any other described atlas (``atlas=``, ``--atlas``) is built the
same way from its own entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd

from ketamine_fc.atlases.descriptions import (DEFAULT_ATLAS, Description, components, describe, resolve_file,
                                              volume_file)
from ketamine_fc.atlases.tables import READERS
from ketamine_fc.config import ATLAS_TEMPLATE
from ketamine_fc.config import TEMPLATES as SUPPORTED_SPACES
from ketamine_fc.core.parcellation import count_voxels, resample_labels_nn, sphere_labels, voxel_centres_mm
from ketamine_fc.errors import AtlasError, InputError

_SEITZMAN = describe("seitzman300")
SUBCORTICAL = tuple(_SEITZMAN["table"]["select"]["anatomical_label"])
SEITZMAN_OFFSET = _SEITZMAN.offset
N_GORDON = describe("gordon333")["table"]["expect_indices"][1]
ANTERIOR = {int(k): v == "anterior" for k, v in _SEITZMAN["whole_structures"]["split_y"].items()}
#: The atlas images are on the FSL MNI152 grid (MNI152NLin6Asym). BOLD in MNI152NLin2009cAsym (another template
#: in the same coordinate convention) is refused unless --allow-template-mismatch accepts using the images as they
#: are (no TemplateFlow transform is applied; regions can sit a few millimetres off): ketamine_fc.plan.


def build_files(atlas=DEFAULT_ATLAS, atlas_dir=None, *, surface=False) -> list:
    """``(description, file reference)`` of every file an atlas is built from (without the group surfaces)."""
    out = []
    for comp in components(atlas, atlas_dir):
        if comp.get("definition", "parcel") == "parcel":
            ref = (comp.files("fsLR").get("32k") if surface else volume_file(comp, ATLAS_TEMPLATE))
            if ref is None:
                raise AtlasError(f"atlas {comp.key!r} describes no label image for "
                                 f"{'fsLR 32k' if surface else ATLAS_TEMPLATE}")
            out.append((comp, ref))
        if "file" in comp.get("table", {}):
            out.append((comp, comp["table"]["file"]))
        out += [(comp, key) for key in comp.get("reader_files", [])]
        whole = comp.whole_structures()
        if whole and not surface:
            other = describe(whole["atlas"], atlas_dir)
            out.append((other, volume_file(other, ATLAS_TEMPLATE)))
    return out


def resolve_build_files(atlas_dir=None, *, surface=False, atlas=DEFAULT_ATLAS) -> dict:
    """Verified local paths of every file the atlas is built from (downloading what is missing).

    With ``surface`` the files of the atlas on fs_LR grayordinates, with the group-average midthickness surfaces
    (:mod:`ketamine_fc.atlases.surface`). Raises :class:`AtlasError` naming the first file that can be neither found
    nor downloaded.
    """
    from ketamine_fc.atlases.registry import resolve

    files = {(ref if isinstance(ref, str) else f"{comp.key}:{ref['path']}"): resolve_file(comp, ref, atlas_dir)
             for comp, ref in build_files(atlas, atlas_dir, surface=surface)}
    if surface:
        from ketamine_fc.atlases.surface import GROUP_SURFACES

        files.update({key: resolve(key, atlas_dir) for key in GROUP_SURFACES.values()})
    return files


def atlas_sources(atlas=DEFAULT_ATLAS, atlas_dir=None, *, surface=False) -> list:
    """Each file the atlas is built from, as its sidecar records them: ``File`` (the registry's path, or the
    local path of a file a description names), ``Sha256``, and ``URL`` and ``Citation`` of a registered file."""
    from ketamine_fc.atlases.registry import registry, sha256

    entries, out, seen = registry(), [], set()
    for comp, ref in build_files(atlas, atlas_dir, surface=surface):
        if isinstance(ref, str):  # registered: found or downloaded only with this sha256
            entry = {"File": entries[ref]["path"], "Sha256": entries[ref]["sha256"], "URL": entries[ref]["url"],
                     "Citation": entries[ref].get("citation")}
        else:
            path = resolve_file(comp, ref, atlas_dir)
            entry = {"File": str(path), "Sha256": sha256(path)}
        if entry["File"] not in seen:
            seen.add(entry["File"])
            out.append(entry)
    return out


#: registered files that :func:`load_atlas` reads for the default atlas
BUILD_FILES = tuple(ref for _, ref in build_files())


def atlas_for_space(space: str) -> str:
    """The template of the atlas images to use for BOLD data in ``space`` (``res-*`` suffixes ignored).

    Raises :class:`AtlasError` naming the space for anything but the supported MNI templates.
    """
    name = str(space).split(":")[0].split("_res-")[0]
    if name.startswith("space-"):
        name = name[len("space-"):]
    if name not in SUPPORTED_SPACES:
        raise AtlasError(f"BOLD data in space {space!r} cannot be parcellated: the atlases are defined in MNI "
                         f"space ({' or '.join(SUPPORTED_SPACES)}); use fMRIPrep outputs in one of these")
    return "MNI152NLin6Asym"


@dataclass
class Atlas:
    """Region labels on a grid (``dseg``, int32) and the table describing every region.

    Table columns: ``index, label, network, structure, hemisphere, atlas, limbic_role, definition,
    n_voxels`` (in the mask, or the whole grid) and ``missing`` (fewer than ``min_voxels``: report n/a).
    """

    dseg: nb.Nifti1Image
    table: pd.DataFrame

    @property
    def data(self) -> np.ndarray:
        """Label array on the grid."""
        return np.asarray(self.dseg.dataobj, dtype=np.int32)

    @property
    def indices(self) -> np.ndarray:
        return self.table["index"].to_numpy(dtype=np.int64)

    @property
    def labels(self) -> list:
        return self.table["label"].tolist()

    @property
    def cortical(self) -> np.ndarray:
        """True for Gordon cortical parcels (the cortex of the adjacent-cortex regression)."""
        return (self.table["structure"] == "cortex").to_numpy()

    @property
    def missing(self) -> np.ndarray:
        return self.table["missing"].to_numpy(dtype=bool)

    def region_mask(self, index: int) -> np.ndarray:
        """Boolean volume of one region."""
        return self.data == int(index)


def _hemisphere(spec, df):
    if spec is None:
        return "n/a"
    if spec == "x_sign":
        x = df["x"].to_numpy(dtype=float)
        return np.where(x < 0, "L", np.where(x > 0, "R", "M"))
    if isinstance(spec, dict):
        return df[spec["column"]].astype(str).str[: int(spec.get("chars", 1))].to_numpy()
    return df[str(spec)].astype(str).to_numpy()


def component_frame(comp: Description, atlas_dir=None) -> pd.DataFrame:
    """The rows of a component's label table that it contributes (``select``), sorted by its own index."""
    spec = comp.get("table", {})
    if comp.get("reader"):
        if comp["reader"] not in READERS:
            raise AtlasError(f"atlas {comp.key!r}: no table reader {comp['reader']!r} (known: {', '.join(READERS)})")
        df = READERS[comp["reader"]](atlas_dir)
        path = None
    else:
        if "file" not in spec:
            raise AtlasError(f"atlas {comp.key!r} describes no label table (table.file)")
        path = resolve_file(comp, spec["file"], atlas_dir)
        df = pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)
    index = spec.get("index", "index")
    missing = [c for c in (index, spec.get("network"), spec.get("structure")) if c and c not in df]
    if missing:
        raise AtlasError(f"atlas {comp.key!r}: the label table has no column {', '.join(missing)}", path=path)
    df = df.assign(**{index: df[index].astype(int)})
    expect = spec.get("expect_indices")
    if expect and set(df[index]) != set(range(int(expect[0]), int(expect[1]) + 1)):
        raise AtlasError(f"the {comp.name} label table does not list regions {expect[0]}-{expect[1]}", path=path)
    for column, values in spec.get("select", {}).items():
        df = df[df[column].isin(list(values))]
    return df.sort_values(index, kind="stable", ignore_index=True)


def component_table(comp: Description, atlas_dir=None) -> pd.DataFrame:
    """The region table rows of one component (columns as :func:`region_table`)."""
    spec = comp.get("table", {})
    df = component_frame(comp, atlas_dir)
    own = df[spec.get("index", "index")].to_numpy(dtype=np.int64)
    network = (df[spec["network"]].replace(dict(spec.get("network_names", {}))) if spec.get("network")
               else pd.Series("n/a", index=df.index))
    structure = df[spec["structure"]] if spec.get("structure") else comp.get("structure", "cortex")
    roles = comp.roles("limbic")
    kind = comp.get("definition", "parcel")
    if kind == "sphere":
        definition = np.array([f"sphere_{r:g}mm" for r in df["radius_mm"]], dtype=object)
    else:
        definition = np.full(len(df), kind, dtype=object)
    whole = comp.whole_structures()
    if whole:
        definition = np.where(np.isin(own, [int(k) for k in whole["labels"]]), whole.get("definition", "structure"),
                              definition)
    return pd.DataFrame({"index": comp.offset + own, "label": [comp.label(i) for i in own],
                         "network": network.to_numpy(), "structure": structure,
                         "hemisphere": _hemisphere(spec.get("hemisphere"), df), "atlas": comp.name,
                         "limbic_role": [roles.get(int(i), "") for i in own], "definition": definition})


def region_table(atlas_dir=None, atlas=DEFAULT_ATLAS) -> pd.DataFrame:
    """Every region of the atlas (without voxel counts), component by component (Gordon parcels first)."""
    return pd.concat([component_table(c, atlas_dir) for c in components(atlas, atlas_dir)], ignore_index=True)


def _image(img, what):
    if isinstance(img, (str, Path)):
        if not Path(img).is_file():
            raise InputError(f"the {what} image does not exist", path=img)
        return nb.load(str(img))
    return img


def _mask(mask_img, shape, affine):
    mask = _image(mask_img, "brain mask")
    path = mask_img if isinstance(mask_img, (str, Path)) else None
    if tuple(mask.shape[:3]) != tuple(shape) or not np.allclose(mask.affine, affine, atol=1e-3):
        raise InputError(f"the brain mask grid {tuple(mask.shape[:3])} differs from the reference grid "
                         f"{tuple(shape)} (shape or affine)", path=path)
    data = np.asarray(mask.dataobj)
    return (data[..., 0] if data.ndim == 4 else data) > 0


def load_atlas(ref_img, atlas_dir=None, *, hippocampus_split_y=-21.0, mask_img=None, min_voxels=3,
               atlas=DEFAULT_ATLAS) -> Atlas:
    """Build the atlas (default the combined one) on the grid of ``ref_img`` (a path or image in MNI space).

    Parameters
    ----------
    ref_img : BOLD, boldref or mask (only its shape and affine are used)
    atlas_dir : directory with the atlas files (see :func:`ketamine_fc.atlases.registry.resolve`) and user atlas
        descriptions (``<name>.atlas.toml``)
    hippocampus_split_y : MNI y (mm) dividing anterior (y > split) from posterior hippocampus
    mask_img : optional brain mask on the same grid; voxel counts are taken inside it
    min_voxels : regions with fewer voxels are kept in the table and flagged ``missing``
    atlas : name of the atlas description (:mod:`ketamine_fc.atlases.descriptions`)

    Returns
    -------
    Atlas
    """
    from ketamine_fc.atlases.tables import label_volume_at

    ref = _image(ref_img, "reference")
    shape, affine = tuple(int(n) for n in ref.shape[:3]), np.asarray(ref.affine, dtype=np.float64)
    table = region_table(atlas_dir, atlas)
    dseg = np.zeros(shape, dtype=np.int32)
    y = None
    for comp in components(atlas, atlas_dir):
        rows = table.loc[table["atlas"] == comp.name]
        own = (rows["index"].to_numpy() - comp.offset).astype(np.int64)
        whole = comp.whole_structures()
        if comp.get("definition", "parcel") == "sphere":
            frame = component_frame(comp, atlas_dir).set_index(comp.get("table", {}).get("index", "index"))
            on = own[(rows["definition"] != whole.get("definition")).to_numpy()] if whole else own
            spheres = sphere_labels(frame.loc[on, ["x", "y", "z"]].to_numpy(), frame.loc[on, "radius_mm"].to_numpy(),
                                    on + comp.offset, shape, affine)
            dseg = np.where(spheres > 0, spheres, dseg)
        else:
            ref_file = volume_file(comp, ATLAS_TEMPLATE)
            if ref_file is None:
                raise AtlasError(f"atlas {comp.key!r} describes no {ATLAS_TEMPLATE} label image")
            labels, l_aff = label_volume_at(resolve_file(comp, ref_file, atlas_dir))
            labels = resample_labels_nn(labels, l_aff, shape, affine).astype(np.int32)
            dseg = np.where(np.isin(labels, own), labels + comp.offset, dseg).astype(np.int32)
        if whole:
            other = describe(whole["atlas"], atlas_dir)
            labels, l_aff = label_volume_at(resolve_file(other, volume_file(other, ATLAS_TEMPLATE), atlas_dir))
            labels = resample_labels_nn(labels, l_aff, shape, affine)
            if y is None:
                y = voxel_centres_mm(shape, affine)[:, 1].reshape(shape)
            split = whole.get("split_y", {})
            for roi, label in whole["labels"].items():
                voxels = labels == int(label)
                part = split.get(str(roi))
                if part:
                    voxels &= (y > hippocampus_split_y) if part == "anterior" else (y <= hippocampus_split_y)
                dseg[voxels] = comp.offset + int(roi)

    mask = None if mask_img is None else _mask(mask_img, shape, affine)
    table["n_voxels"] = count_voxels(dseg, table["index"].to_numpy(), mask)
    table["missing"] = table["n_voxels"] < int(min_voxels)
    img = nb.Nifti1Image(dseg.astype(np.int32), affine)
    img.header.set_data_dtype(np.int32)
    img.header.set_xyzt_units("mm")
    img.set_sform(affine, code=4)  # MNI152 (aligned to a standard space)
    img.set_qform(affine, code=4)
    return Atlas(img, table)
