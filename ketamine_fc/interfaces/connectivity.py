"""Nipype interface: one session's FC matrices, network measures and QC from its cleaned runs."""

from __future__ import annotations

import json
import os

import pandas as pd
from nipype.interfaces.base import (BaseInterfaceInputSpec, File, InputMultiObject, SimpleInterface, TraitedSpec,
                                    isdefined, traits)

from ketamine_fc.core.session import session_connectivity


class _SessionFCInputSpec(BaseInterfaceInputSpec):
    timeseries = InputMultiObject(File(exists=True), mandatory=True, desc="cleaned runs of one session")
    qc = InputMultiObject(File(exists=True), mandatory=True, desc="run QC JSON files, same order")
    table = File(exists=True, mandatory=True)
    sgacc = traits.List(traits.Int, mandatory=True)
    min_frames = traits.Int(mandatory=True)
    min_coverage = traits.Float(0.5, usedefault=True, desc="minimum fraction of each network set's regions")
    participant_id = traits.Str(mandatory=True)
    session_id = traits.Str("n/a", usedefault=True)
    run_labels = traits.List(traits.Str, desc="run labels, same order as timeseries")
    atlas = traits.Str(desc="atlas description whose network sets are measured (default the paper's)")
    atlas_dir = traits.Str(desc="directory with the atlas files and descriptions")


class _SessionFCOutputSpec(TraitedSpec):
    relmat_r = File(exists=True)
    relmat_z = File(exists=True)
    relmat_limbic = File(exists=True)
    measures = File(exists=True, desc="one-row TSV for the group level")
    qc = File(exists=True, desc="TSV, one row per run and one for the session")


class SessionConnectivity(SimpleInterface):
    """Concatenate the retained frames of every run, correlate, Fisher-z, network measures and QC."""

    input_spec = _SessionFCInputSpec
    output_spec = _SessionFCOutputSpec

    def _run_interface(self, runtime):
        runs = [pd.read_csv(f, sep="\t", na_values=["n/a"]) for f in self.inputs.timeseries]
        qcs = [json.load(open(f)) for f in self.inputs.qc]
        table = pd.read_csv(self.inputs.table, sep="\t", keep_default_na=False, na_values=["n/a"])
        labels = self.inputs.run_labels or [f"run-{i + 1}" for i in range(len(qcs))]
        sgacc, spec = list(self.inputs.sgacc), None
        if isdefined(self.inputs.atlas):
            from ketamine_fc.atlases.descriptions import network_spec, sgacc_for

            atlas_dir = self.inputs.atlas_dir if isdefined(self.inputs.atlas_dir) else None
            spec = network_spec(self.inputs.atlas, atlas_dir)
            sgacc = sgacc_for(self.inputs.atlas, sgacc, atlas_dir)
        out = session_connectivity(runs, qcs, table, sgacc=sgacc, min_frames=self.inputs.min_frames,
                                   min_coverage=self.inputs.min_coverage, run_labels=labels, network_spec=spec)
        files = {"relmat_r": out["r"], "relmat_z": out["z"], "relmat_limbic": out["limbic_z"]}
        for key, frame in files.items():
            self._results[key] = os.path.join(runtime.cwd, f"{key}.tsv")
            frame.to_csv(self._results[key], sep="\t", na_rep="n/a", float_format="%.8g", index_label="region")
        measures = dict(out["measures"])
        row = {"participant_id": self.inputs.participant_id, "session_id": self.inputs.session_id}
        row.update({k: measures.pop(k) for k in list(measures) if not k.startswith(("n_pairs_", "coverage_"))})
        row["exclusion_reason"] = "; ".join(out["exclusion_reasons"]) or "n/a"
        row.update(measures)
        self._results["measures"] = os.path.join(runtime.cwd, "measures.tsv")
        pd.DataFrame([row]).to_csv(self._results["measures"], sep="\t", index=False, na_rep="n/a")
        lost = out["lost_regions"]
        qc_rows = [dict(run=label, **{k: v for k, v in q.items() if not isinstance(v, list)},
                        flags=",".join(q["flags"]) or "n/a", missing_regions=",".join(q["missing_regions"]) or "n/a",
                        shrunk_regions=",".join(q["shrunk_regions"]) or "n/a",
                        absent_regions=",".join(q.get("absent_regions", [])) or "n/a") for label, q in zip(labels, qcs)]
        qc_rows.append({"run": "session", "n_retained": out["measures"]["n_frames"],
                        "mean_fd": out["measures"]["mean_fd"], "included": out["measures"]["included"],
                        "flags": row["exclusion_reason"], "n_missing_regions": len(lost),
                        "missing_regions": ",".join(k for k, v in lost.items() if v == "missing") or "n/a",
                        "shrunk_regions": ",".join(k for k, v in lost.items() if v == "shrunk") or "n/a",
                        "absent_regions": ",".join(k for k, v in lost.items() if v == "absent") or "n/a"})
        self._results["qc"] = os.path.join(runtime.cwd, "qc.tsv")
        pd.DataFrame(qc_rows).to_csv(self._results["qc"], sep="\t", index=False, na_rep="n/a")
        return runtime
