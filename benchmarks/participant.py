"""Benchmark one realistic run through the participant workflow against the equivalent nilearn script.

Run:  python benchmarks/participant.py [--data DIR] [--repeat N]

Measures, each in a fresh process so that peak memory is its own:
  floor    stream-decompress the gzipped BOLD (zlib-ng) and discard it
  ours     the participant-level run workflow (censor, atlas, one streamed read, 36P, band-pass, subcortical
           cleanup) through Nipype's Linear plugin
  nilearn  NiftiLabelsMasker(labels=the same atlas, mask, detrend, band-pass).fit_transform(bold, confounds=36P,
           sample_mask=retained frames): the script a user would otherwise write
Prints seconds, peak memory (GB) and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# atlases: the shared copy beside the checkout unless the user points elsewhere (no network needed)
os.environ.setdefault("KETAMINE_FC_DATA", str(HERE.parents[1] / "shared" / "data" / "atlases"))


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_floor(bold, **_):
    from zlib_ng import gzip_ng_threaded

    with gzip_ng_threaded.open(bold, "rb", threads=1) as fobj:
        while fobj.read(2**25):
            pass


def run_ours(bold, mask, confounds, tr, work, **_):
    from ketamine_fc.config import AtlasParams, DenoiseParams
    from ketamine_fc.workflows.bold import init_bold_wf

    wf = init_bold_wf(denoise=DenoiseParams(), atlas=AtlasParams(), name="bench_bold_wf")
    wf.base_dir = work
    wf.inputs.inputnode.bold = bold
    wf.inputs.inputnode.mask = mask
    wf.inputs.inputnode.confounds = confounds
    wf.inputs.inputnode.tr = tr
    wf.config["execution"].update({"remove_unnecessary_outputs": "false", "crashdump_dir": work})
    wf.run(plugin="Linear")


def run_nilearn(bold, mask, confounds, tr, work, **_):
    import numpy as np
    import pandas as pd
    from nilearn.maskers import NiftiLabelsMasker

    from ketamine_fc.atlases import load_atlas
    from ketamine_fc.core.censoring import censoring_table
    from ketamine_fc.core.confounds import read_confounds, select_nuisance

    atlas = load_atlas(mask)
    conf = read_confounds(confounds)
    keep = censoring_table(conf, tr)["retained"].to_numpy().astype(bool)
    masker = NiftiLabelsMasker(labels_img=atlas.dseg, mask_img=mask, standardize=False, detrend=True,
                               low_pass=0.08, high_pass=0.009, t_r=tr)
    ts = masker.fit_transform(bold, confounds=select_nuisance(conf, "36P").to_numpy(),
                              sample_mask=np.flatnonzero(keep))
    pd.DataFrame(ts).to_csv(Path(work) / "nilearn.tsv", sep="\t")


def child(which, args):
    """Run one measurement in this process and print JSON (seconds, peak GB)."""
    start = time.perf_counter()
    {"floor": run_floor, "ours": run_ours, "nilearn": run_nilearn}[which](**args)
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_gb": _peak_gb()}))


def measure(which, args):
    out = subprocess.run([sys.executable, __file__, "--child", which, json.dumps(args)], capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(f"{which} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path.home() / ".cache" / "ketamine_fc_bench"))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        return child(opts.child[0], json.loads(opts.child[1]))
    from synthetic_run import make_run

    print("preparing the run (first time only: about a minute) ...", flush=True)
    bold, mask, confounds = make_run(opts.data)
    tr = json.loads((Path(opts.data) / "bold.json").read_text())["RepetitionTime"]
    results = {}
    for which in ("floor", "ours", "nilearn"):
        best = None
        for _ in range(opts.repeat):
            with tempfile.TemporaryDirectory() as work:
                args = dict(bold=str(bold), mask=str(mask), confounds=str(confounds), tr=tr, work=work)
                res = measure(which, args)
            best = res if best is None or res["seconds"] < best["seconds"] else best
        results[which] = best
        print(f"{which:8s} {best['seconds']:7.2f} s  peak {best['peak_gb']:.2f} GB", flush=True)
    ours, peer, floor = (results[k]["seconds"] for k in ("ours", "nilearn", "floor"))
    print(f"ours / nilearn = {ours / peer:.2f}   (target <= 0.5)")
    print(f"ours / floor   = {ours / floor:.2f}")
    print(f"ours peak memory {results['ours']['peak_gb']:.2f} GB (target < 1.5 GB)")


if __name__ == "__main__":
    main()
