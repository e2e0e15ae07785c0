"""Read and check everything the group level uses: participants, phenotype tables, FC measures, volumes."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc.errors import InputError
from ketamine_fc.utils.derivatives import read_tsv

LOGGER = logging.getLogger("ketamine_fc.group")
ASEG = {"Left-Hippocampus": "hippocampus_l", "Right-Hippocampus": "hippocampus_r",
        "Left-Amygdala": "amygdala_l", "Right-Amygdala": "amygdala_r",
        "Left-Accumbens-area": "accumbens_l", "Right-Accumbens-area": "accumbens_r"}
OPTIONAL = ("cgi", "bprs", "ketamine_levels", "side_effects")


@dataclass
class GroupInputs:
    """Every table of the group level, checked; ``skipped`` says which optional analyses cannot run and why."""

    participants: pd.DataFrame
    madrs: pd.DataFrame
    fc: pd.DataFrame
    excluded_sessions: pd.DataFrame
    cgi: pd.DataFrame | None = None
    bprs: pd.DataFrame | None = None
    ketamine_levels: pd.DataFrame | None = None
    side_effects: pd.DataFrame | None = None
    volumes: pd.DataFrame | None = None
    limbic: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)


def _read(path: Path, required=(), what="table") -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"the {what} does not exist", path=path)
    try:
        df = read_tsv(path)
    except Exception as err:  # pandas raises several parser errors
        raise InputError(f"cannot read the {what} as a TSV ({err})", path=path) from err
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"the {what} lacks column(s) {', '.join(missing)}", path=path)
    for col in ("participant_id", "session_id"):
        if col in df.columns:
            df[col] = df[col].astype(str)
    return df


def _prefixed(values, prefix):
    return [v if str(v).startswith(prefix) else f"{prefix}{v}" for v in values]


def _numeric(df, columns, path):
    for col in columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = df.loc[values.isna() & df[col].notna(), :]
        if len(bad):
            row = bad.iloc[0]
            who = row.get("participant_id", f"row {bad.index[0] + 2}")
            raise InputError(f"non-numeric value {row[col]!r} in column {col} for {who}", path=path)
        df[col] = values
    return df


def parse_aseg(path) -> dict:
    """Volumes (mm^3) of the limbic structures and the estimated intracranial volume from ``aseg.stats``."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith("# Measure EstimatedTotalIntraCranialVol"):
            out["icv"] = float(line.split(",")[3])
        elif not line.startswith("#") and line.strip():
            parts = line.split()
            if len(parts) >= 5 and parts[4] in ASEG:
                out[ASEG[parts[4]]] = float(parts[3])
    missing = sorted((set(ASEG.values()) | {"icv"}) - set(out))
    if missing:
        raise InputError(f"aseg.stats lacks {', '.join(missing)}", path=path)
    return out


def gather_network_measures(output_dir) -> pd.DataFrame:
    """Stack every session's one-row network-measure TSV written by the participant level."""
    files = sorted(Path(output_dir).glob("sub-*/ses-*/func/*_desc-network_measures.tsv"))
    files += sorted(Path(output_dir).glob("sub-*/func/*_desc-network_measures.tsv"))
    if not files:
        raise InputError("no participant-level network measures (*_desc-network_measures.tsv) found; run the "
                         "participant level first or give --fc-table", path=output_dir)
    return pd.concat([read_tsv(f) for f in files], ignore_index=True)


def _limbic_matrices(output_dir) -> dict:
    out = {}
    for f in sorted(Path(output_dir).glob("sub-*/ses-*/func/*_desc-limbic_relmat.tsv")):
        sub, ses = re.search(r"(sub-[^_]+)_(ses-[^_]+)", f.name).groups()
        out[(sub, ses)] = read_tsv(f).set_index("region")
    return out


def load_group_inputs(bids_dir, output_dir, params, fc_table=None, fmriprep_dir=None) -> GroupInputs:
    """Read and check the inputs of the group level; gather the FC table if none is given."""
    bids_dir, output_dir = Path(bids_dir), Path(output_dir)
    part_path = bids_dir / "participants.tsv"
    participants = _read(part_path, ("participant_id", "group"), "participants table")
    participants["participant_id"] = _prefixed(participants["participant_id"], "sub-")
    groups = set(participants["group"].astype(str))
    if params.patient_group not in groups:
        raise InputError(f"no participant has group {params.patient_group!r} (groups found: "
                         f"{', '.join(sorted(groups))}; see --patient-group)", path=part_path)
    madrs_path = bids_dir / "phenotype" / "madrs.tsv"
    madrs = _read(madrs_path, ("participant_id", "timepoint", "madrs"), "MADRS table")
    madrs["participant_id"] = _prefixed(madrs["participant_id"], "sub-")
    madrs["timepoint"] = madrs["timepoint"].astype(str)
    madrs = _numeric(madrs, ["madrs"], madrs_path)
    found = set(madrs["timepoint"])
    for option, tp in (("--baseline-timepoint", params.baseline_timepoint),
                       ("--response-timepoint", params.response_timepoint)):
        if tp not in found:
            raise InputError(f"{option} {tp!r} is not a timepoint of the MADRS table (found: "
                             f"{', '.join(sorted(found))})", path=madrs_path)
    sources = {"participants": str(part_path), "madrs": str(madrs_path)}
    if fc_table:
        fc_path = Path(fc_table)
        fc = _read(fc_path, ("participant_id", "session_id"), "FC table")
    else:
        fc = gather_network_measures(output_dir)
        fc_path = output_dir / "group" / "network_fc.tsv"
    sources["fc"] = str(fc_path)
    fc["participant_id"] = _prefixed(fc["participant_id"], "sub-")
    fc["session_id"] = _prefixed(fc["session_id"], "ses-")
    unknown = sorted(set(fc["participant_id"]) - set(participants["participant_id"]))
    if unknown:
        raise InputError(f"participant(s) {', '.join(unknown[:5])} in the FC table are not in {part_path}",
                         path=fc_path)
    measures = [c for c in fc.columns if c not in ("participant_id", "session_id", "included", "exclusion_reason",
                                                   "n_frames", "mean_fd")]
    fc = _numeric(fc, measures, fc_path)
    included = fc["included"].astype(str).str.lower().isin(["true", "1", "1.0"]) if "included" in fc else \
        pd.Series(True, index=fc.index)
    excluded = fc.loc[~included, [c for c in ("participant_id", "session_id", "n_frames", "exclusion_reason")
                                  if c in fc.columns]].reset_index(drop=True)
    for _, row in excluded.iterrows():
        LOGGER.info("Session %s %s excluded (flagged at the participant level)", row["participant_id"],
                    row["session_id"])
    inputs = GroupInputs(participants=participants, madrs=madrs, fc=fc.loc[included].reset_index(drop=True),
                         excluded_sessions=excluded, sources=sources)
    inputs.fc.attrs["all"] = fc
    _load_optional(inputs, bids_dir)
    inputs.volumes = _load_volumes(bids_dir, fmriprep_dir, participants, inputs.skipped)
    inputs.limbic = _limbic_matrices(output_dir)
    if not inputs.limbic:
        inputs.skipped["edges_limbic_change"] = "no limbic FC matrices (*_desc-limbic_relmat.tsv) in the outputs"
    return inputs


def _load_optional(inputs, bids_dir):
    value_cols = {"cgi": ["cgi_i"], "bprs": ["bprs_positive"]}
    for name in OPTIONAL:
        path = bids_dir / "phenotype" / f"{name}.tsv"
        if not path.exists():
            inputs.skipped[name] = f"{path} does not exist"
            LOGGER.info("Skipping the analyses of %s: %s not found", name, path)
            continue
        df = _read(path, ("participant_id",) + tuple(value_cols.get(name, ())), name)
        df["participant_id"] = _prefixed(df["participant_id"], "sub-")
        cols = value_cols.get(name) or [c for c in df.columns if c != "participant_id"]
        setattr(inputs, name, _numeric(df, cols, path))
        inputs.sources[name] = str(path)


def _load_volumes(bids_dir, fmriprep_dir, participants, skipped):
    table = bids_dir / "phenotype" / "volumes.tsv"
    if table.exists():
        df = _read(table, ("participant_id", "icv"), "volumes table")
        df["participant_id"] = _prefixed(df["participant_id"], "sub-")
        return _numeric(df, [c for c in df.columns if c != "participant_id"], table)
    rows = []
    fs_dir = Path(fmriprep_dir or bids_dir / "derivatives" / "fmriprep") / "sourcedata" / "freesurfer"
    for pid in participants["participant_id"]:
        stats = fs_dir / pid / "stats" / "aseg.stats"
        if stats.exists():
            rows.append({"participant_id": pid, **parse_aseg(stats)})
    if not rows:
        skipped["volumes"] = f"neither phenotype/volumes.tsv nor FreeSurfer aseg.stats under {fs_dir}"
        return None
    return pd.DataFrame(rows)


def session_table(inputs: GroupInputs, params) -> pd.DataFrame:
    """FC rows with ``group`` and ``phase`` (pre/post/other) attached."""
    fc = inputs.fc.merge(inputs.participants[["participant_id", "group"]], on="participant_id", how="left")
    fc["phase"] = np.where([params.is_pre(s) for s in fc["session_id"]], "pre",
                           np.where([params.is_post(s) for s in fc["session_id"]], "post", "other"))
    return fc
