"""The quality-control section of the group report: motion in words, QC-FC in words, the two tables, the figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ketamine_fc.group.qc import SAMPLES, format_p, motion_sentence
from ketamine_fc.reports.html import esc, image, table

HEADING = "Quality control: motion and QC-FC"


def _record(qc: pd.DataFrame | None):
    """The QC-FC row of record (all included sessions), or None."""
    if qc is None or not len(qc):
        return None
    hit = qc[qc["sessions"] == SAMPLES[0]]
    return hit.iloc[0] if len(hit) else None


def qcfc_paragraph(qc: pd.DataFrame | None) -> str:
    """The QC-FC benchmarks of all included sessions in words (plain text)."""
    row = _record(qc)
    if row is None:
        return "QC-FC was not computed (see the analyses not computed)."
    text = (f"Across {int(row['n_sessions'])} sessions of {int(row['n_participants'])} participants (repeated "
            f"sessions pooled), {row['pct_edges_p05']:.1f} % of {int(row['n_edges'])} edges correlated with mean "
            f"FD at p < .05 (about 5 % expected by chance); median |r| = {row['median_abs_r']:.3f}; ")
    if pd.notna(row["distance_rho"]):
        text += (f"distance dependence rho = {row['distance_rho']:.3f} ({format_p(row['distance_p'])}; Spearman, "
                 "QC-FC r against the distance between region centroids; negative when short-range edges are "
                 "more affected by motion).")
    else:
        text += "distance dependence n/a (no atlas with region centroids in the outputs)."
    return text


def _caption(tables) -> str:
    parts = []
    row = _record(tables.get("qc_fc"))
    if row is not None:
        rho = "n/a" if pd.isna(row["distance_rho"]) else f"{row['distance_rho']:.2f}"
        parts.append(f"Left: QC-FC r (Pearson r of FC with mean FD across {int(row['n_sessions'])} included "
                     f"sessions of {int(row['n_participants'])} participants) of {int(row['n_edges'])} edges, "
                     f"0 marked. Middle: QC-FC r against the distance between the regions' centroids (Spearman "
                     f"rho = {rho}).")
    else:
        parts.append("Left and middle: empty, QC-FC was not computed.")
    motion = tables.get("motion")
    if motion is not None and len(motion):
        fd = motion[motion["motion_measure"] == "mean_fd"]
        n = {}
        for _, r in fd[fd["test"] != "paired t"].iterrows():
            n[r["side_1"]], n[r["side_2"]] = int(r["n_1"]), int(r["n_2"])
        words = {"patients pre": "patients before treatment", "patients post": "patients after treatment",
                 "controls": "controls"}
        sizes = ", ".join(f"{n[k]} {w}" for k, w in words.items() if k in n)
        parts.append(f"Right: mean FD per participant, sessions averaged ({sizes}); bars are group means and grey "
                     "lines join a patient's pre and post.")
    return " ".join(parts)


def qc_section(tables: dict, figure: Path | None, number: int = 1) -> str:
    """The HTML fragment of the QC section from the group tables (``qc_fc``, ``motion``) and the QC figure
    (captioned as figure ``number``)."""
    motion = tables.get("motion")
    parts = [f'<section id="qc"><h2>{esc(HEADING)}</h2>',
             f"<p>{esc(motion_sentence(motion))}</p>",
             f"<p>{esc(qcfc_paragraph(tables.get('qc_fc')))}</p>"]
    if figure is not None and Path(figure).exists():
        parts.append(image(Path(figure).read_bytes(), "QC-FC and motion", f"Figure {number}. {_caption(tables)}"))
    parts += ["<h3>QC-FC (qc_fc.tsv)</h3>", table(tables.get("qc_fc")),
              "<h3>Motion by group and time (motion.tsv)</h3>", table(motion), "</section>"]
    return "\n".join(parts)
