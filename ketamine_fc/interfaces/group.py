"""Nipype interfaces of the group level: gather the network measures, run the statistics and the report."""

from __future__ import annotations

from nipype.interfaces.base import (BaseInterfaceInputSpec, Directory, File, SimpleInterface, TraitedSpec,
                                    traits)


class _GatherInputSpec(BaseInterfaceInputSpec):
    output_dir = Directory(mandatory=True, desc="participant-level output directory")


class _GatherOutputSpec(TraitedSpec):
    fc_table = File(exists=True, desc="group/network_fc.tsv: one row per session")


class GatherNetworkMeasures(SimpleInterface):
    """Stack every session's network-measure row into ``OUTPUT_DIR/group/network_fc.tsv``."""

    input_spec = _GatherInputSpec
    output_spec = _GatherOutputSpec
    always_run = True  # its input is a folder's content, which Nipype's cache cannot see

    def _run_interface(self, runtime):
        from pathlib import Path

        from ketamine_fc.group.inputs import gather_network_measures
        from ketamine_fc.utils.derivatives import sidecar, write_tsv

        table = gather_network_measures(self.inputs.output_dir)
        path = Path(self.inputs.output_dir) / "group" / "network_fc.tsv"
        write_tsv(table, path, sidecar("Network measures of every session, gathered from the participant level."))
        self._results["fc_table"] = str(path)
        return runtime


class _GroupStatsInputSpec(BaseInterfaceInputSpec):
    bids_dir = Directory(exists=True, mandatory=True)
    output_dir = traits.Str(mandatory=True)
    fc_table = File(exists=True, mandatory=True)
    fmriprep_dir = traits.Either(None, traits.Str, usedefault=True)
    params = traits.Dict(mandatory=True, desc="GroupParams.to_dict()")


class _GroupStatsOutputSpec(TraitedSpec):
    report = File(exists=True)
    tables = traits.Dict(desc="table name -> TSV path")


class GroupStatistics(SimpleInterface):
    """Every analysis of the paper, the tables with sidecars, the figures and the HTML report.

    Always rerun: it reads the phenotype tables, participant-level matrices and FreeSurfer statistics in folders
    whose content Nipype's cache cannot see (a few seconds).
    """

    input_spec = _GroupStatsInputSpec
    output_spec = _GroupStatsOutputSpec
    always_run = True

    def _run_interface(self, runtime):
        from ketamine_fc.group.analyses import run_group_analyses
        from ketamine_fc.group.inputs import load_group_inputs
        from ketamine_fc.group.outputs import write_group_tables
        from ketamine_fc.config import GroupParams
        from ketamine_fc.reports.report import write_report

        params = GroupParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.inputs.params.items()})
        inputs = load_group_inputs(self.inputs.bids_dir, self.inputs.output_dir, params, self.inputs.fc_table,
                                   self.inputs.fmriprep_dir)
        tables = run_group_analyses(inputs, params)
        paths = write_group_tables(tables, self.inputs.output_dir, params, inputs)
        self._results["tables"] = {k: str(v) for k, v in paths.items()}
        self._results["report"] = str(write_report(tables, inputs, params, self.inputs.output_dir))
        return runtime
