"""Read and check everything the group level uses: participants, phenotype tables, FC measures, volumes.

Every problem that would change a number raises :class:`~ketamine_fc.errors.InputError` naming the file
and the row; what the paper handled per protocol (a missing optional table, a session flagged
``included = false``, a participant of neither group) is left out and logged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_fc.errors import InputError
from ketamine_fc.core.networks import MEASURES
from ketamine_fc.utils.derivatives import read_tsv

LOGGER = logging.getLogger("ketamine_fc.group")
ASEG = {"Left-Hippocampus": "hippocampus_l", "Right-Hippocampus": "hippocampus_r",
        "Left-Amygdala": "amygdala_l", "Right-Amygdala": "amygdala_r",
        "Left-Accumbens-area": "accumbens_l", "Right-Accumbens-area": "accumbens_r"}
OPTIONAL = {"cgi": ("timepoint", "cgi_i"), "bprs": ("timepoint", "bprs_positive"), "ketamine_levels": (),
            "side_effects": ()}
FC_META = ("participant_id", "session_id", "included", "exclusion_reason", "n_frames", "mean_fd")
#: participant-level bookkeeping columns, never analysed as measures
FC_META_PREFIXES = ("n_pairs_", "coverage_")
#: spellings of the intracranial volume column
ICV_NAMES = ("icv", "etiv", "estimatedtotalintracranialvol", "total_intracranial_volume", "intracranial_volume")
SIDES = {"left": "l", "lh": "l", "l": "l", "right": "r", "rh": "r", "r": "r"}
STRUCTURE_ALIASES = {"accumbens_area": "accumbens", "thalamus_proper": "thalamus", "ventraldc": "ventral_dc"}
KNOWN_STRUCTURES = ("hippocampus", "amygdala", "accumbens", "thalamus", "caudate", "putamen", "pallidum",
                    "ventral_dc", "cerebellum_cortex", "cerebellum_white_matter", "lateral_ventricle")
_MISSING = {"", "n/a", "na", "nan"}


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
    fc_all: pd.DataFrame | None = None
    measures: list = field(default_factory=lambda: list(MEASURES))
    participant_parameters: dict | None = None  # the settings that made the gathered sessions
    output_dir: Path | None = None  # the participant-level outputs (FC matrices, atlases)
    nbs_info: dict = field(default_factory=dict)  # NBS settings and permutation scheme per term (sidecars)


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
    for col in ("participant_id", "session_id", "timepoint"):
        if col in df.columns:
            df[col] = df[col].astype(str).str.strip()
    if "participant_id" in df.columns:
        df["participant_id"] = _prefixed(df["participant_id"], "sub-")
    return df


def _prefixed(values, prefix):
    return [v if str(v).startswith(prefix) else f"{prefix}{v}" for v in values]


def _numeric(df, columns, path, what="value"):
    """Convert ``columns`` to float; empty or ``n/a`` cells are missing, anything else unparsable is an error."""
    for col in columns:
        raw = df[col]
        missing = raw.isna() | raw.astype(str).str.strip().str.lower().isin(_MISSING)
        values = pd.to_numeric(raw.where(~missing), errors="coerce")
        bad = values.isna() & ~missing
        if bad.any():
            i = bad.to_numpy().nonzero()[0][0]
            who = df["participant_id"].iloc[i] if "participant_id" in df else f"data row {i + 1}"
            raise InputError(f"non-numeric {what} {raw.iloc[i]!r} in column {col} for {who} (data row {i + 1})",
                             path=path)
        df[col] = values.astype(float)
    return df


def _holds_numbers(column) -> bool:
    """Whether any cell of a column reads as a number (missing cells aside)."""
    text = column.astype(str).str.strip().replace(list(_MISSING), np.nan)
    return bool(pd.to_numeric(text, errors="coerce").notna().any())


def _unique(df, keys, path, what):
    dup = df.duplicated(list(keys), keep=False)
    if dup.any():
        row = df[dup].iloc[0]
        raise InputError(f"the {what} has {int(dup.sum())} rows for {', '.join(str(row[k]) for k in keys)}; "
                         "each must appear once", path=path)


def _known(df, participants, path, what):
    unknown = sorted(set(df["participant_id"]) - set(participants["participant_id"]))
    if unknown:
        raise InputError(f"participant(s) {', '.join(unknown[:5])} in the {what} are not in participants.tsv",
                         path=path)


def volume_name(column: str) -> str | None:
    """Canonical ``structure_side`` name of a volume column (``Left-Hippocampus``, ``left_hippocampus``,
    ``hippocampus_l``, ``lh_amygdala`` -> ``hippocampus_l``); ``icv`` for the intracranial volume; None when
    the name is not recognised."""
    words = [w for w in re.split(r"[-_\s.]+", str(column).strip().lower()) if w]
    if not words:
        return None
    if "".join(words) in {n.replace("_", "") for n in ICV_NAMES}:
        return "icv"
    side = None
    if words[0] in SIDES and len(words) > 1:
        side, words = SIDES[words[0]], words[1:]
    elif words[-1] in SIDES and len(words) > 1:
        side, words = SIDES[words[-1]], words[:-1]
    structure = STRUCTURE_ALIASES.get("_".join(words), "_".join(words))
    if structure not in KNOWN_STRUCTURES:
        return None
    return f"{structure}_{side}" if side else structure


def parse_aseg(path) -> dict:
    """Volumes (mm^3) of the six limbic structures of the paper and the estimated intracranial volume from a
    FreeSurfer ``aseg.stats``."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith("# Measure EstimatedTotalIntraCranialVol"):
            out["icv"] = float(line.split(",")[3])
        elif not line.startswith("#") and line.strip():
            parts = line.split()
            if len(parts) >= 5 and parts[4] in ASEG:
                try:
                    out[ASEG[parts[4]]] = float(parts[3])
                except ValueError:
                    raise InputError(f"the volume of {parts[4]} is not a number ({parts[3]!r})", path=path) from None
    missing = sorted((set(ASEG.values()) | {"icv"}) - set(out))
    if missing:
        raise InputError(f"aseg.stats lacks {', '.join(missing)}", path=path)
    return out


def gather_network_measures(output_dir) -> pd.DataFrame:
    """Stack every session's one-row network-measure TSV written by the participant level.

    Sessions made with different participant-level settings (their sidecars' ``Parameters``) are never pooled:
    that is an :class:`InputError` naming the sessions and the differing settings.
    """
    files = _measure_files(output_dir)
    if not files:
        raise InputError("no participant-level network measures (*_desc-network_measures.tsv) found; run the "
                         "participant level first or give --fc-table", path=output_dir)
    settings = check_same_settings(files, output_dir)
    frames = []
    for f in files:
        df = _read(f, ("participant_id", "session_id"), "network-measure table")
        if len(df) != 1:
            raise InputError(f"expected one row, found {len(df)}", path=f)
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    table.attrs["participant_settings"] = settings
    return table


def _measure_files(output_dir) -> list:
    return (sorted(Path(output_dir).glob("sub-*/ses-*/func/*_desc-network_measures.tsv"))
            + sorted(Path(output_dir).glob("sub-*/func/*_desc-network_measures.tsv")))


def check_same_settings(files, output_dir) -> dict | None:
    """Refuse to pool sessions made with different settings; return the common settings."""
    import json

    from ketamine_fc.utils.provenance import differences, recorded_parameters

    groups = recorded_parameters(files)
    if len(groups) > 1:
        (key_a, files_a), (key_b, files_b) = sorted(groups.items(), key=lambda kv: -len(kv[1]))[:2]
        diffs = differences(json.loads(key_a), json.loads(key_b) or {})
        names = ", ".join(f.name.split("_desc-")[0].split("_space-")[0] for f in files_b[:4])
        raise InputError(f"the participant-level outputs were made with {len(groups)} different settings and are not "
                         f"pooled: {len(files_b)} session(s) ({names}{' ...' if len(files_b) > 4 else ''}) differ "
                         f"from the other {len(files_a)} in {'; '.join(diffs[:6])}. Rerun those participants with "
                         "the same settings (see OUTPUT_DIR/logs/*_config.toml)", path=output_dir)
    return json.loads(next(iter(groups))) if groups else None


def read_limbic_matrices(output_dir) -> dict:
    """``{(participant_id, session_id): DataFrame}`` of the region-level limbic FC (Fisher z, n/a diagonal) of each
    session (``*_desc-limbicfisherz_relmat.tsv``)."""
    out, labels = {}, None
    for f in sorted(Path(output_dir).glob("sub-*/**/*_desc-limbicfisherz_relmat.tsv")):
        sub = re.search(r"(sub-[^_]+)", f.name).group(1)
        ses = re.search(r"_(ses-[^_]+)", f.name)
        mat = _read(f, ("region",), "limbic FC matrix").set_index("region")
        if list(mat.index) != list(mat.columns):
            raise InputError("the limbic FC matrix is not square with matching row and column labels", path=f)
        if labels is None:
            labels = list(mat.index)
        elif sorted(mat.index) != sorted(labels):
            raise InputError(f"the limbic FC matrix has regions {', '.join(mat.index)}, other sessions have "
                             f"{', '.join(labels)}", path=f)
        out[(sub, ses.group(1) if ses else "n/a")] = _numeric(mat.reset_index(), labels, f).set_index("region")
    return out


def _read_participants(bids_dir, params):
    path = bids_dir / "participants.tsv"
    participants = _read(path, ("participant_id", "group"), "participants table")
    participants["group"] = participants["group"].astype(str)
    _unique(participants, ["participant_id"], path, "participants table")
    groups = set(participants["group"])
    if params.patient_group not in groups:
        raise InputError(f"no participant has group {params.patient_group!r} (groups found: "
                         f"{', '.join(sorted(groups))}; see --patient-group)", path=path)
    other = participants.loc[~participants["group"].isin([params.patient_group, params.control_group])]
    if len(other):
        LOGGER.info("%d participant(s) of neither group %r nor %r are left out: %s", len(other),
                    params.patient_group, params.control_group, ", ".join(other["participant_id"]))
    return participants, path


def _read_madrs(bids_dir, params, participants):
    path = bids_dir / "phenotype" / "madrs.tsv"
    madrs = _read(path, ("participant_id", "timepoint", "madrs"), "MADRS table")
    madrs = _numeric(madrs, ["madrs"], path, "score")
    _unique(madrs, ["participant_id", "timepoint"], path, "MADRS table")
    _known(madrs, participants, path, "MADRS table")
    found = set(madrs["timepoint"])
    for option, tp in (("--baseline-timepoint", params.baseline_timepoint),
                       ("--response-timepoint", params.response_timepoint)):
        if tp not in found:
            raise InputError(f"{option} {tp!r} is not a timepoint of the MADRS table (found: "
                             f"{', '.join(sorted(found))})", path=path)
    return madrs.dropna(subset=["madrs"]).reset_index(drop=True), path


def _included(fc, path):
    if "included" not in fc:
        return pd.Series(True, index=fc.index)
    text = fc["included"].astype(str).str.strip().str.lower()
    bad = ~text.isin(["true", "false", "1", "0", "1.0", "0.0"])
    if bad.any():
        row = fc[bad].iloc[0]
        raise InputError(f"column included must be true or false, got {row['included']!r} for "
                         f"{row['participant_id']} {row['session_id']}", path=path)
    return text.isin(["true", "1", "1.0"])


def _read_fc(fc_path, fc, params, participants):
    fc["session_id"] = _prefixed(fc["session_id"], "ses-")
    _unique(fc, ["participant_id", "session_id"], fc_path, "FC table")
    _known(fc, participants, fc_path, "FC table")
    required = list(params.measures or MEASURES)
    missing = [m for m in required if m not in fc.columns]
    if missing:
        raise InputError(f"the FC table lacks measure column(s) {', '.join(missing)}", path=fc_path)
    extra = []
    for col in (c for c in fc.columns if c not in FC_META and c not in required
                and not c.startswith(FC_META_PREFIXES)):
        if _holds_numbers(fc[col]):  # a numeric column (a typo in it is an error below); text columns are carried
            extra.append(col)
    fc = _numeric(fc, required + extra + [c for c in ("n_frames", "mean_fd") if c in fc], fc_path)
    return fc, required + ([] if params.measures else extra)


def load_group_inputs(bids_dir, output_dir, params, fc_table=None, fmriprep_dir=None, quiet=False) -> GroupInputs:
    """Read and check the inputs of the group level; gather the FC table if none is given.

    The FC table gathered earlier (``OUTPUT_DIR/group/network_fc.tsv``) counts as gathered: the participant-level
    settings are read (and checked to be one) from the sessions' sidecars. ``quiet`` leaves the per-session
    messages out (a first check before the workflow runs).
    """
    if quiet:
        level = LOGGER.level
        LOGGER.setLevel(logging.WARNING)
        try:
            return load_group_inputs(bids_dir, output_dir, params, fc_table, fmriprep_dir)
        finally:
            LOGGER.setLevel(level)
    bids_dir, output_dir = Path(bids_dir), Path(output_dir)
    participants, part_path = _read_participants(bids_dir, params)
    madrs, madrs_path = _read_madrs(bids_dir, params, participants)
    sources = {"participants": str(part_path), "madrs": str(madrs_path)}
    gathered = output_dir / "group" / "network_fc.tsv"
    if fc_table and Path(fc_table).resolve() != gathered.resolve():
        fc_path = Path(fc_table)
        fc = _read(fc_path, ("participant_id", "session_id"), "FC table")
        participant_settings = None
    else:
        fc = gather_network_measures(output_dir)
        fc_path = gathered
        participant_settings = fc.attrs.get("participant_settings")
    sources["fc"] = str(fc_path)
    fc, measures = _read_fc(fc_path, fc, params, participants)
    included = _included(fc, fc_path)
    excluded = fc.loc[~included, [c for c in ("participant_id", "session_id", "n_frames", "mean_fd",
                                              "exclusion_reason") if c in fc.columns]].reset_index(drop=True)
    for _, row in excluded.iterrows():
        LOGGER.info("Session %s %s excluded (flagged at the participant level: %s)", row["participant_id"],
                    row["session_id"], row.get("exclusion_reason", "included = false"))
    inputs = GroupInputs(participants=participants, madrs=madrs, fc=fc.loc[included].reset_index(drop=True),
                         excluded_sessions=excluded, sources=sources, fc_all=fc, measures=measures,
                         participant_parameters=participant_settings, output_dir=output_dir)
    _check_phases(inputs, params)
    _load_optional(inputs, bids_dir)
    inputs.volumes = _load_volumes(bids_dir, fmriprep_dir, participants, inputs)
    inputs.limbic = read_limbic_matrices(output_dir)
    if not inputs.limbic:
        inputs.skipped["edges_limbic_change"] = "no limbic FC matrices (*_desc-limbicfisherz_relmat.tsv) in the outputs"
    return inputs


def _check_phases(inputs, params):
    fc = session_table(inputs, params)
    pts = fc[fc["group"] == params.patient_group]
    if not (pts["phase"] == "pre").any() or not (pts["phase"] == "post").any():
        raise InputError("the patients need pre and post sessions, but the sessions found are "
                         f"{', '.join(sorted(set(fc['session_id'])))} (see --pre-sessions / --post-sessions)",
                         path=inputs.sources["fc"])
    other = pts[pts["phase"] == "other"]
    if len(other):
        LOGGER.info("%d patient session(s) neither pre nor post are left out of the LME: %s", len(other),
                    ", ".join(sorted(set(other["session_id"]))))


def _load_optional(inputs, bids_dir):
    for name, value_cols in OPTIONAL.items():
        path = bids_dir / "phenotype" / f"{name}.tsv"
        if not path.exists():
            inputs.skipped[name] = f"{path} does not exist"
            LOGGER.info("Skipping the analyses of %s: %s not found", name, path)
            continue
        df = _read(path, ("participant_id",) + value_cols, name)
        _known(df, inputs.participants, path, f"{name} table")
        _unique(df, ["participant_id"] + list(value_cols[:1]), path, f"{name} table")
        cols = list(value_cols[1:]) or [c for c in df.columns if c != "participant_id"]
        setattr(inputs, name, _numeric(df, cols, path))
        inputs.sources[name] = str(path)


def _load_volumes(bids_dir, fmriprep_dir, participants, inputs):
    table = bids_dir / "phenotype" / "volumes.tsv"
    if table.exists():
        df = _read(table, ("participant_id",), "volumes table")
        _known(df, participants, table, "volumes table")
        _unique(df, ["participant_id"], table, "volumes table")
        inputs.sources["volumes"] = str(table)
        return _volume_columns(df, table, inputs)
    fs_dir = Path(fmriprep_dir or bids_dir / "derivatives" / "fmriprep") / "sourcedata" / "freesurfer"
    rows, absent = [], []
    for pid in participants["participant_id"]:
        stats = fs_dir / pid / "stats" / "aseg.stats"
        if stats.exists():
            rows.append({"participant_id": pid, **parse_aseg(stats)})
        else:
            absent.append(pid)
    if not rows:
        inputs.skipped["volumes"] = f"neither phenotype/volumes.tsv nor FreeSurfer aseg.stats under {fs_dir}"
        LOGGER.info("Skipping the volumetrics: %s", inputs.skipped["volumes"])
        return None
    if absent:
        LOGGER.info("No aseg.stats for %d participant(s), left out of the volumetrics: %s", len(absent),
                    ", ".join(absent))
    inputs.sources["volumes"] = str(fs_dir)
    return pd.DataFrame(rows)


def _volume_columns(df, path, inputs):
    """Volumes renamed to ``structure_side`` where recognised; every numeric column but the ICV is analysed."""
    renamed = {c: volume_name(c) or c for c in df.columns if c != "participant_id"}
    icv = [c for c, n in renamed.items() if n == "icv"]
    if not icv:
        reason = (f"the volumes table has no intracranial volume column (icv, eTIV or EstimatedTotalIntraCranialVol;"
                  f" columns: {', '.join(c for c in df.columns if c != 'participant_id')})")
        LOGGER.warning("Skipping the volumetrics: %s", reason)
        inputs.skipped["volumes"] = f"{path}: {reason}"
        return None
    df = df.rename(columns=renamed)
    numeric = [c for c in df.columns if c != "participant_id" and _holds_numbers(df[c])]
    df = _numeric(df[["participant_id"] + numeric], numeric, path, "volume")
    structures = [c for c in numeric if c != "icv"]
    recognised = [c for c in structures if volume_name(c)]
    if not structures:
        LOGGER.warning("The volumes table %s has no numeric structure column besides the intracranial volume "
                       "(columns: %s); no volume is analysed", path, ", ".join(df.columns))
    elif not recognised:
        LOGGER.warning("No column of the volumes table %s is a recognised structure name such as Left-Hippocampus, "
                       "left_hippocampus or hippocampus_l (columns: %s); they are analysed under their own names",
                       path, ", ".join(structures))
    return df


def session_table(inputs: GroupInputs, params) -> pd.DataFrame:
    """FC rows with ``group`` and ``phase`` (pre/post/other) attached."""
    fc = inputs.fc.merge(inputs.participants[["participant_id", "group"]], on="participant_id", how="left")
    fc["phase"] = np.where([params.is_pre(s) for s in fc["session_id"]], "pre",
                           np.where([params.is_post(s) for s in fc["session_id"]], "post", "other"))
    return fc
