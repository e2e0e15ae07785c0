"""Workflow for one session: FC over the concatenated retained frames of its runs, network measures, QC."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ketamine_fc.interfaces.connectivity import SessionConnectivity


def init_session_fc_wf(*, participant_id: str, session_id: str | None, sgacc, min_frames: int,
                       min_coverage: float = 0.5, run_labels=(), atlas: str | None = None, atlas_dir=None,
                       name: str = "session_fc_wf"):
    """Fisher-z FC matrices and the four network measures of one session.

    .. workflow::

        from ketamine_fc.workflows.session import init_session_fc_wf
        wf = init_session_fc_wf(participant_id="sub-01", session_id="ses-pre1", sgacc=[123, 280, 286],
                                min_frames=240)

    Inputs
    ------
    timeseries, qc : list of str
        Cleaned runs (from ``init_bold_wf``) and their QC JSON files, in run order.
    table : str
        Atlas region table.

    ``atlas`` (with ``atlas_dir``) names the atlas description whose network sets are measured (default the
    paper's).

    Outputs
    -------
    relmat_r, relmat_z, relmat_limbic, measures, qc
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["timeseries", "qc", "table"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["relmat_r", "relmat_z", "relmat_limbic", "measures", "qc"]),
                         name="outputnode")
    fc = pe.Node(SessionConnectivity(participant_id=participant_id, session_id=session_id or "n/a",
                                     sgacc=list(sgacc), min_frames=int(min_frames), min_coverage=float(min_coverage),
                                     run_labels=[str(r) for r in run_labels],
                                     **({"atlas": str(atlas)} if atlas else {}),
                                     **({"atlas_dir": str(atlas_dir)} if atlas_dir else {})), name="connectivity")
    workflow.connect([
        (inputnode, fc, [("timeseries", "timeseries"), ("qc", "qc"), ("table", "table")]),
        (fc, outputnode, [("relmat_r", "relmat_r"), ("relmat_z", "relmat_z"), ("relmat_limbic", "relmat_limbic"),
                          ("measures", "measures"), ("qc", "qc")]),
    ])
    return workflow
