"""Methods text, written from the settings actually used (``OUTPUT_DIR/logs/CITATION.md``)."""

from __future__ import annotations

from ketamine_fc import __version__
from ketamine_fc.utils.provenance import versions

REFERENCES = {
    "power2012": "Power JD et al. (2012) Spurious but systematic correlations in functional connectivity MRI "
                 "networks arise from subject motion. NeuroImage 59:2142. doi:10.1016/j.neuroimage.2011.10.018",
    "power2014": "Power JD et al. (2014) Methods to detect, characterize, and remove motion artifact in resting state "
                 "fMRI. NeuroImage 84:320. doi:10.1016/j.neuroimage.2013.08.048",
    "satterthwaite2013": "Satterthwaite TD et al. (2013) An improved framework for confound regression and filtering "
                         "for control of motion artifact in the preprocessing of resting-state functional "
                         "connectivity data. NeuroImage 64:240. doi:10.1016/j.neuroimage.2012.08.052",
    "hallquist2013": "Hallquist MN, Hwang K, Luna B (2013) The nuisance of nuisance regression: spectral "
                     "misspecification in a common approach to resting-state fMRI preprocessing reintroduces noise "
                     "and obscures functional connectivity. NeuroImage 82:208. doi:10.1016/j.neuroimage.2013.05.116",
    "gordon2016": "Gordon EM et al. (2016) Generation and evaluation of a cortical area parcellation from "
                  "resting-state correlations. Cereb Cortex 26:288. doi:10.1093/cercor/bhu239",
    "seitzman2020": "Seitzman BA et al. (2020) A set of functionally-defined brain regions with improved "
                    "representation of the subcortex and cerebellum. NeuroImage 206:116290. "
                    "doi:10.1016/j.neuroimage.2019.116290",
    "siegel2021": "Siegel JS et al. (2021) Prolonged ketamine infusion modulates limbic connectivity and induces "
                  "sustained remission of treatment-resistant depression. Psychopharmacology 238:1157. "
                  "doi:10.1007/s00213-021-05762-6",
    "nipype": "Gorgolewski K et al. (2011) Nipype: a flexible, lightweight and extensible neuroimaging data "
              "processing framework in Python. Front Neuroinform 5:13. doi:10.3389/fninf.2011.00013",
}


def participant_methods(p: dict) -> str:
    """One paragraph per step of the participant level, from ``Settings.parameters("participant")``."""
    v = versions()
    fd = (f"Frames with framewise displacement (FD; Power et al. 2012, head radius {p['head_radius']:g} mm) above "
          f"{p['fd_thresh']:g} mm were censored" if p["fd_thresh"] > 0 else "No frame was censored for motion")
    if p["motion_filter_type"] != "none":
        fd += f", FD being computed from motion parameters {p['motion_filter_type']}-filtered at " + (
            f"{p['band_stop_min']:g}-{p['band_stop_max']:g}" if p["band_stop_max"] else f"{p['band_stop_min']:g}") + \
            " breaths per minute"
    contig = (f", together with retained segments shorter than {p['min_contig']} frames (Power et al. 2014)"
              if p["min_contig"] else "")
    dummy = ("fMRIPrep's non-steady-state frames" if p["dummy_scans"] == "auto" else
             f"the first {p['dummy_scans']} frames")
    band = ("no temporal filter" if p["disable_bandpass_filter"] else
            f"a zero-phase Butterworth band-pass filter (order {p['bpf_order']}, {p['lower_bpf']:g}-{p['upper_bpf']:g}"
            f" Hz, {p['bpf_padtype']} padding)")
    trend = "linearly detrended, " if p["detrend"] else ""
    order = {"regress-filter": "The nuisance regression (with an intercept" + (" and a linear trend" if p["detrend"]
                                                                                 else "") +
                               ") was fit on the retained frames only; censored frames of the residuals were then "
                               f"interpolated with a cubic spline and {band} was applied",
             "filter-regress": "As in XCP-D (Hallquist et al. 2013), censored frames of the data and of the "
                               f"regressors were interpolated with a cubic spline, both were {trend}and {band} was "
                               "applied to both alike; the regression was then fit on the retained frames only"}
    steps = order[p["denoise_order"]]
    if p["motion_filter_type"] != "none" and p.get("motion_regressors", "filtered") == "filtered":
        steps += " (with the filtered motion parameters and their expansions as motion regressors)"
    cleanup = (f" Cortical signal bleeding into subcortical regions was removed by regressing, out of every "
               f"subcortical voxel, the mean signal of the cortex within {p['adjacent_cortex_mm']:g} mm."
               if p["subcortical_cleanup"] else "")
    min_frames = (f"{p['min_time']:g} s" if p.get("min_time") else f"{p['min_frames']} frames")
    return "\n\n".join([
        f"Functional connectivity was computed with ketamine-fc {__version__} (Nipype {v['nipype']}, "
        f"nibabel {v['nibabel']}, NumPy {v['numpy']}, SciPy {v['scipy']}), reproducing Siegel et al. (2021), from "
        f"the fMRIPrep outputs of the '{p['task']}' task in {p['space']} space.",
        f"{fd}{contig}, and {dummy} were discarded. Nuisance regressors followed the {p['nuisance_regressors']} "
        f"strategy (Satterthwaite et al. 2013). {steps}; censored frames were then removed "
        f"again.{cleanup}",
        f"Regions were the Gordon 333 cortical parcels (Gordon et al. 2016) and the Seitzman 300 subcortical and "
        f"cerebellar regions (Seitzman et al. 2020), with the amygdala, accumbens and anterior/posterior hippocampus "
        f"(split at MNI y = {p['hippocampus_split_y']:g} mm) expanded to whole Harvard-Oxford structures. A region "
        f"was left out of a run when fewer than {p['min_region_voxels']} voxels or less than "
        f"{p['min_region_coverage']:.0%} of its atlas voxels fell inside the brain mask. Region time series (means "
        "of the cleaned voxels) were correlated over the retained frames of all runs of a session and Fisher-z "
        "transformed; the network measures are the mean Fisher-z FC within the default-mode network, between the "
        f"subgenual cingulate (Gordon parcels {', '.join(map(str, p['sgacc']))}) and the default-mode network, "
        "within the limbic network and within the visual network.",
        f"Sessions with fewer than {min_frames} retained, or that kept less than {p['min_coverage']:.0%} of the "
        "regions of any of these networks, were excluded from the group analysis.",
        "## References\n\n" + "\n".join(f"- {REFERENCES[k]}" for k in ("siegel2021", "power2012", "power2014",
                                                                       "satterthwaite2013", "hallquist2013", "gordon2016",
                                                                       "seitzman2020", "nipype")),
    ]) + "\n"


def citation(participant: dict | None = None, group: dict | None = None) -> str:
    """The text of ``CITATION.md``."""
    parts = ["# Methods\n", "Text generated by ketamine-fc from the settings of the run, to adapt for a methods "
             "section.\n"]
    if participant:
        try:
            parts += ["## Participant level\n", participant_methods(participant)]
        except (KeyError, TypeError, ValueError):  # settings recorded by an older version lack some names
            parts += ["## Participant level\n", "The participant-level outputs do not record every setting (an "
                      "older version made them); see the Parameters of their JSON sidecars.\n"]
    if group:
        parts += ["## Group level\n", group_methods(group)]
    return "\n".join(parts)


def group_methods(g: dict) -> str:
    """The group statistics in words, from ``GroupParams.to_dict()``."""
    decides = {"paper": "the first (the paper's convention)", "satterthwaite": "the second"}[g["lme_inference"]]
    coding = ("responders" if g["response_coding"] == "responder" else "non-responders")
    return (f"Each network measure was modelled in the patients with a linear mixed-effects model, FC ~ time + "
            f"time x response + (1 | participant), with time = 1 after treatment and response = 1 for {coding}. "
            "The model was fit twice: by maximum likelihood with t tests on residual degrees of freedom (observations "
            "minus fixed effects; MATLAB fitlme's defaults, as in Siegel et al. 2021) and by restricted maximum "
            f"likelihood with Satterthwaite degrees of freedom (lmerTest); {decides} decided the primary outcomes, "
            "and decisions the other would change are flagged. Response was a MADRS reduction "
            f"of at least {g['response_threshold']:.0%} from {g['baseline_timepoint']} at {g['response_timepoint']}; "
            f"remission a MADRS below {g['remission_cutoff']:g}. MADRS over time was tested with a repeated-measures "
            f"ANOVA, Greenhouse-Geisser corrected. The {g['n_primary']} primary outcomes were judged against "
            f"the Bonferroni threshold p < {g['alpha']:g}/{g['n_primary']}.\n")
