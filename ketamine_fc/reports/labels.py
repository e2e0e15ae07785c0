"""Names a reader understands, for the group report's figures and tables: regions, measures, volumes, tables."""

from __future__ import annotations

import re

from ketamine_fc.atlases.tables import LIMBIC_ROIS

#: limbic structure (as spelled in limbic roles and test labels) -> anatomical name, in display order
STRUCTURES = {
    "amygdala": "amygdala",
    "hippocampus_anterior": "ant. hippocampus", "hippocampus_ant": "ant. hippocampus",
    "hippocampus_posterior": "post. hippocampus", "hippocampus_post": "post. hippocampus",
    "hippocampus": "hippocampus",
    "nucleus_accumbens": "accumbens", "accumbens": "accumbens",
    "thalamus_anteromedial": "antero-medial thalamus", "thalamus": "antero-medial thalamus",
}
_ORDER = list(dict.fromkeys(STRUCTURES.values()))

#: network measure -> words
MEASURES = {"dmn": "within-DMN FC", "sgacc_dmn": "sgACC-DMN FC", "limbic": "within-limbic FC",
            "visual": "within-visual FC"}

#: group table -> heading (the TSV file name is added beside it)
TABLES = {
    "network_fc": "Network FC of every session", "clinical_timecourse": "MADRS over time",
    "clinical_anova": "MADRS repeated-measures ANOVA", "lme": "Linear mixed-effects models of network FC",
    "baseline_reliability": "Test-retest reliability of the pre-treatment sessions",
    "controls_vs_patients": "Controls vs patients", "correlations": "Correlations with MADRS change",
    "logistic": "Side effects and analyte levels (logistic regression)",
    "primary_outcomes": "Primary outcomes, every column", "edges_limbic_change": "Limbic region pairs: FC change",
    "excluded_sessions": "Excluded sessions", "qc_fc": "QC-FC: motion and FC", "qc_fc_edges": "QC-FC per edge",
    "motion": "Head motion compared",
}


def _limbic_parts(label: str):
    """(hemisphere, anatomical name) of a limbic region label, or None."""
    text = str(label)
    hit = re.fullmatch(r"Seitzman_(\d+)", text)
    if hit:
        text = LIMBIC_ROIS.get(int(hit.group(1)), "")
    hit = re.fullmatch(r"(?:limbic_)?([a-z_]+?)_([LR])", text)
    if hit and hit.group(1) in STRUCTURES:
        return hit.group(2), STRUCTURES[hit.group(1)]
    return None


def region_name(label, with_label: bool = False) -> str:
    """Anatomical name of a region label: ``Seitzman_244`` or ``limbic_amygdala_L`` -> ``L amygdala``.

    Labels of the atlas (``Seitzman_<roi>``), limbic roles (``limbic_hippocampus_anterior_R``) and their short
    spellings (``limbic_hippocampus_ant_R``) are understood; any other label is returned unchanged.
    ``with_label`` appends the original label in parentheses when it differs.
    """
    parts = _limbic_parts(label)
    if parts is None:
        return str(label)
    name = f"{parts[0]} {parts[1]}"
    return f"{name} ({label})" if with_label else name


def region_order(labels) -> list:
    """``labels`` sorted by structure, then left before right (unknown labels last, in their order)."""
    def key(item):
        i, label = item
        parts = _limbic_parts(label)
        return (0, _ORDER.index(parts[1]), parts[0], i) if parts else (1, 0, "", i)
    return [label for _, label in sorted(enumerate(labels), key=key)]


def measure_name(measure) -> str:
    """``limbic`` -> ``within-limbic FC``; other names unchanged."""
    return MEASURES.get(str(measure), str(measure))


def volume_name(name) -> str:
    """``hippocampus_r`` -> ``R hippocampus``; other names unchanged."""
    hit = re.fullmatch(r"([a-z_]+)_([lr])", str(name))
    return f"{hit.group(2).upper()} {hit.group(1).replace('_', ' ')}" if hit else str(name)


def table_name(name) -> str:
    """Heading of a group table (its own name when unknown)."""
    return TABLES.get(str(name), str(name).replace("_", " "))
