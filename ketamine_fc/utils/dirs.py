"""Guard the folders of an invocation: inputs are never written, outputs and work go where they can be written.

Every check runs before any work starts and raises :class:`~ketamine_fc.errors.InputError` with one sentence.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ketamine_fc.errors import InputError
from ketamine_fc.utils.derivatives import PIPELINE_NAME


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(output_dir, bids_dir, fmriprep_dir) -> None:
    """Refuse an output folder that is, or lies inside, the raw dataset or the fMRIPrep derivatives.

    ``BIDS_DIR/derivatives/<name>`` (any name but fMRIPrep's folder) is the usual place and is accepted.
    A folder holding another dataset (a ``dataset_description.json`` not written by ketamine-fc) is refused.
    """
    out, bids, fmriprep = (Path(p).resolve() for p in (output_dir, bids_dir, fmriprep_dir))
    if _inside(out, fmriprep):
        raise InputError(f"the output directory is {'the' if out == fmriprep else 'inside the'} fMRIPrep "
                         f"derivatives folder ({fmriprep}), which is an input and is never written; choose "
                         f"another, for example {bids / 'derivatives' / PIPELINE_NAME}", path=output_dir)
    if _inside(out, bids):
        rel = out.relative_to(bids).parts
        if len(rel) < 2 or rel[0] != "derivatives":
            where = "the raw dataset" if out == bids else "inside the raw dataset"
            raise InputError(f"the output directory is {where} ({bids}), which is an input and is never written; "
                             f"choose another, for example {bids / 'derivatives' / PIPELINE_NAME}", path=output_dir)
    description = out / "dataset_description.json"
    if description.is_file():
        owner = _generated_by(description)
        if owner != PIPELINE_NAME:
            raise InputError(f"the output directory already holds another dataset (its dataset_description.json "
                             f"was written by {owner or 'something else'}); it is never overwritten: choose an empty "
                             "folder or an earlier ketamine-fc output folder", path=output_dir)


def _generated_by(description: Path) -> str | None:
    try:
        meta = json.loads(description.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    generated = meta.get("GeneratedBy") if isinstance(meta, dict) else None
    if isinstance(generated, list) and generated and isinstance(generated[0], dict):
        return generated[0].get("Name")
    return None


def check_work_dir(work_dir, output_dir, bids_dir, fmriprep_dir) -> None:
    """Refuse a work folder that is an input, lies inside the fMRIPrep derivatives, or is the output folder."""
    work, out, bids, fmriprep = (Path(p).resolve() for p in (work_dir, output_dir, bids_dir, fmriprep_dir))
    in_raw = _inside(work, bids) and not (len(work.relative_to(bids).parts) >= 2
                                          and work.relative_to(bids).parts[0] == "derivatives")
    if in_raw or _inside(work, fmriprep):
        where = ("the raw dataset" if work == bids else "inside the raw dataset" if in_raw else
                 "inside the fMRIPrep derivatives")
        raise InputError(f"the work directory is {where}, an input that is never written; choose another with "
                         "-w/--work-dir (the default is ./work in the current folder)", path=work_dir)
    if work == out:
        raise InputError("the work directory is the output directory; choose another -w/--work-dir (for example "
                         f"{out.parent / 'work'})", path=work_dir)


def check_writable(folder, what: str) -> Path:
    """Create ``folder`` if needed and prove that a file can be written in it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"the {what} is a file, not a folder", path=folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".ketamine-fc-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        if isinstance(err, NotADirectoryError):
            reason = "a part of its path is a file"
        raise InputError(f"the {what} cannot be written ({reason}); choose another or fix its permissions",
                         path=folder) from None
    return folder
