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
    signals = File(exists=True, mandatory=True, desc="raw region signals (ExtractSignals)")
    censoring = File(exists=True, mandatory=True)
    frames = File(exists=True, mandatory=True, desc="per-frame DVARS (DenoiseSignals)")
    timeseries = File(exists=True, mandatory=True)
    qc = File(exists=True, mandatory=True, desc="run QC JSON")
    dseg = File(exists=True, mandatory=True)
    table = File(exists=True, mandatory=True)
    mean = File(exists=True, mandatory=True, desc="temporal mean of the BOLD")
    fd_thresh = traits.Float(mandatory=True)
    tr = traits.Float(mandatory=True)


class _ReportOutputSpec(TraitedSpec):
    out_report = File(exists=True)


class RunReportlet(SimpleInterface):
    """The HTML fragment of one run (figures embedded)."""

    input_spec = _RunReportletInputSpec
    output_spec = _ReportOutputSpec

    def _run_interface(self, runtime):
        from ketamine_fc.reports.participant import run_section
        from ketamine_fc.reports.participant_figures import atlas_figure

        qc = json.loads(Path(self.inputs.qc).read_text())
        table = _read_table(self.inputs.table)
        dseg = nb.load(self.inputs.dseg)
        lost = [lab for key in ("missing_regions", "shrunk_regions", "absent_regions") for lab in qc.get(key, [])]
        lost_img = None
        if lost:
            labels = np.asarray(dseg.dataobj)
            index = table.loc[table["label"].isin(lost), "index"].to_numpy()
            lost_data = np.where(np.isin(labels, index), labels, 0).astype(np.int16)
            lost_img = nb.Nifti1Image(lost_data, dseg.affine) if lost_data.any() else None
        atlas_png = atlas_figure(dseg, nb.load(self.inputs.mean), lost_img)
        raw = np.load(self.inputs.signals)["region_means"]
        html = run_section(self.inputs.label, qc, read_tsv(self.inputs.censoring), read_tsv(self.inputs.frames), raw,
                           read_tsv(self.inputs.timeseries), table, fd_thresh=self.inputs.fd_thresh,
                           tr=self.inputs.tr, atlas_png=atlas_png)
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
        from ketamine_fc.reports.methods import participant_methods
        from ketamine_fc.reports.participant import participant_page
        from ketamine_fc.utils.derivatives import atomic_path

        rows = []
        for label, path in zip(self.inputs.session_labels, self.inputs.measures):
            m = _read_table(path).iloc[0]
            rows.append({"session": label, "retained frames": m.get("n_frames"), "mean FD (mm)": m.get("mean_fd"),
                         "included": str(m.get("included")).lower() == "true",
                         "why excluded": m.get("exclusion_reason")})
        params = dict(self.inputs.parameters)
        html = participant_page(self.inputs.subject, [Path(f).read_text() for f in self.inputs.session_reports],
                                pd.DataFrame(rows), params, participant_methods(params))
        out = Path(self.inputs.output_dir) / f"sub-{self.inputs.subject}.html"
        with atomic_path(out) as tmp:
            tmp.write_text(html)
        self._results["out_report"] = str(out)
        return runtime
