"""Nipype interfaces of the participant report: a fragment per run, one per session, then the page."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd
from nipype.interfaces.base import (BaseInterfaceInputSpec, File, InputMultiObject, SimpleInterface, TraitedSpec,
                                    traits)

from ketamine_fc.utils.derivatives import read_tsv


def _read_table(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["n/a"])


class _RunReportletInputSpec(BaseInterfaceInputSpec):
    label = traits.Str(mandatory=True, desc="run name shown in the report")
    signals = File(exists=True, mandatory=True, desc="raw region signals (ExtractedSignals)")
    censoring = File(exists=True, mandatory=True)
    frames = File(exists=True, mandatory=True, desc="per-frame DVARS (DenoiseSignals)")
    timeseries = File(exists=True, mandatory=True)
    qc = File(exists=True, mandatory=True, desc="run QC JSON")
    dseg = File(exists=True, mandatory=True, desc="atlas labels: a NIfTI on the BOLD grid, or a dlabel on the "
                                                  "grayordinates of a CIFTI run")
    table = File(exists=True, mandatory=True)
    mean = File(exists=True, mandatory=True, desc="temporal mean of the BOLD")
    surfaces = traits.List(File(exists=True), desc="CIFTI runs: midthickness surfaces (left, right) to draw the "
                                                   "parcels on; empty: the fs_LR 32k group average")
    atlas_dir = traits.Either(None, traits.Str, usedefault=True, desc="directory with the atlas files")
    fd_thresh = traits.Float(mandatory=True)
    tr = traits.Float(mandatory=True)


class _ReportOutputSpec(TraitedSpec):
    out_report = File(exists=True)


def _lost_regions(qc) -> list:
    return [lab for key in ("missing_regions", "shrunk_regions", "absent_regions") for lab in qc.get(key, [])]


def _volume_atlas_figure(dseg_file, mean_file, table, lost):
    from ketamine_fc.reports.participant_figures import atlas_figure

    dseg = nb.load(dseg_file)
    lost_img = None
    if lost:
        labels = np.asarray(dseg.dataobj)
        index = table.loc[table["label"].isin(lost), "index"].to_numpy()
        lost_data = np.where(np.isin(labels, index), labels, 0).astype(np.int16)
        lost_img = nb.Nifti1Image(lost_data, dseg.affine) if lost_data.any() else None
    png = atlas_figure(dseg, nb.load(mean_file), lost_img)
    return png, (f"the {len(table)} atlas regions over the run's mean BOLD image (7 axial slices, z = -30 to "
                 "60 mm).")


def _cifti_atlas_figure(dlabel_file, table, lost, surfaces, atlas_dir):
    """The cortical parcels on the midthickness surfaces (the participant's, else the group average)."""
    from ketamine_fc.atlases.surface import GROUP_SURFACES_NAME, read_cifti_atlas, surface_meshes
    from ketamine_fc.reports.participant_figures import surface_atlas_figure
    from ketamine_fc.utils.cifti_io import CORTEX

    labels, grays = read_cifti_atlas(dlabel_file)
    meshes = surface_meshes(dict(zip("LR", surfaces)) if surfaces else None, atlas_dir)
    which = ("the participant's fs_LR 32k midthickness surfaces" if surfaces else
             f"the {GROUP_SURFACES_NAME} midthickness surfaces")
    per_vertex = {}
    for hemi, name in zip("LR", CORTEX):
        model = grays.model(name)
        per_vertex[hemi] = np.zeros(model.n_vertices, dtype=np.int64)
        per_vertex[hemi][model.vertices] = labels[model.columns]
    networks = dict(zip(table["index"].astype(int), table["network"].astype(str)))
    lost_index = table.loc[table["label"].isin(lost), "index"].to_numpy()
    png = surface_atlas_figure(meshes, per_vertex, networks, lost_index)
    n_cortex = int((table["structure"] == "cortex").sum())
    return png, (f"the {n_cortex} cortical parcels on {which}, coloured by network (regions left out of this run in "
                 "grey); the subcortical regions lie on the CIFTI voxels and are not drawn.")


class RunReportlet(SimpleInterface):
    """The HTML fragment of one run (figures embedded)."""

    input_spec = _RunReportletInputSpec
    output_spec = _ReportOutputSpec

    def _run_interface(self, runtime):
        from ketamine_fc.core.extraction import ExtractedSignals
        from ketamine_fc.reports.participant import run_section

        qc = json.loads(Path(self.inputs.qc).read_text())
        table = _read_table(self.inputs.table)
        signals = ExtractedSignals.load(self.inputs.signals)
        lost = _lost_regions(qc)
        try:
            if signals.kind == "cifti":
                atlas_png, caption = _cifti_atlas_figure(self.inputs.dseg, table, lost, self.inputs.surfaces,
                                                         self.inputs.atlas_dir)
            else:
                atlas_png, caption = _volume_atlas_figure(self.inputs.dseg, self.inputs.mean, table, lost)
        except Exception as err:  # a figure never stops the outputs: the report says what is missing
            atlas_png, caption = None, f"the atlas figure could not be drawn ({type(err).__name__}: {err})."
        html = run_section(self.inputs.label, qc, read_tsv(self.inputs.censoring), read_tsv(self.inputs.frames),
                           signals.region_means, read_tsv(self.inputs.timeseries), table,
                           fd_thresh=self.inputs.fd_thresh, tr=self.inputs.tr, atlas_png=atlas_png,
                           atlas_caption=caption)
        self._results["out_report"] = os.path.join(runtime.cwd, "run_report.html")
        Path(self._results["out_report"]).write_text(html)
        return runtime


class _SessionReportletInputSpec(BaseInterfaceInputSpec):
    label = traits.Str(mandatory=True, desc="session name shown in the report")
    relmat_z = File(exists=True, mandatory=True)
    measures = File(exists=True, mandatory=True)
    qc = File(exists=True, mandatory=True, desc="session QC TSV")
    table = File(exists=True, mandatory=True)
    min_frames = traits.Int(mandatory=True)
    run_trs = traits.Dict(traits.Str, traits.Float, mandatory=True, desc="run label -> TR (s)")
    run_reports = InputMultiObject(File(exists=True), mandatory=True, desc="run fragments, in run order")


class SessionReportlet(SimpleInterface):
    """The HTML fragment of one session, holding its runs' fragments."""

    input_spec = _SessionReportletInputSpec
    output_spec = _ReportOutputSpec

    def _run_interface(self, runtime):
        from ketamine_fc.reports.participant import session_section

        z = _read_table(self.inputs.relmat_z).set_index("region")
        measures = _read_table(self.inputs.measures).iloc[0]
        html = session_section(self.inputs.label, measures, _read_table(self.inputs.qc), z,
                               _read_table(self.inputs.table), min_frames=self.inputs.min_frames,
                               tr_of=dict(self.inputs.run_trs),
                               runs_html=[Path(f).read_text() for f in self.inputs.run_reports])
        self._results["out_report"] = os.path.join(runtime.cwd, "session_report.html")
        Path(self._results["out_report"]).write_text(html)
        return runtime


class _ParticipantReportInputSpec(BaseInterfaceInputSpec):
    output_dir = traits.Str(mandatory=True)
    subject = traits.Str(mandatory=True, desc="label without sub-")
    session_reports = InputMultiObject(File(exists=True), mandatory=True)
    session_labels = traits.List(traits.Str, mandatory=True)
    measures = InputMultiObject(File(exists=True), mandatory=True, desc="network measures, same order")
    parameters = traits.Dict(mandatory=True, desc="participant-level settings")


class ParticipantReport(SimpleInterface):
    """Write ``OUTPUT_DIR/sub-<label>.html`` atomically."""

    input_spec = _ParticipantReportInputSpec
    output_spec = _ReportOutputSpec

    def _run_interface(self, runtime):
        from ketamine_fc.reports.participant import summary_row, write_participant_report

        rows = [summary_row(label, _read_table(path).iloc[0])
                for label, path in zip(self.inputs.session_labels, self.inputs.measures)]
        out = write_participant_report(self.inputs.output_dir, self.inputs.subject,
                                       [Path(f).read_text() for f in self.inputs.session_reports], rows,
                                       dict(self.inputs.parameters))
        self._results["out_report"] = str(out)
        return runtime
