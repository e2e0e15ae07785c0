"""Methods text, written from the settings actually used (``OUTPUT_DIR/CITATION.md`` and the reports)."""

from __future__ import annotations

from ketamine_fc import __version__
from ketamine_fc.utils.provenance import versions

REFERENCES = {
    "siegel2021": "Siegel JS et al. (2021) Prolonged ketamine infusion modulates limbic connectivity and induces "
                  "sustained remission of treatment-resistant depression. Psychopharmacology 238:1157. "
                  "doi:10.1007/s00213-021-05762-6",
    "power2012": "Power JD et al. (2012) Spurious but systematic correlations in functional connectivity MRI "
                 "networks arise from subject motion. NeuroImage 59:2142. doi:10.1016/j.neuroimage.2011.10.018",
    "power2014": "Power JD et al. (2014) Methods to detect, characterize, and remove motion artifact in resting state "
                 "fMRI. NeuroImage 84:320. doi:10.1016/j.neuroimage.2013.08.048",
    "satterthwaite2013": "Satterthwaite TD et al. (2013) An improved framework for confound regression and filtering "
                         "for control of motion artifact in the preprocessing of resting-state functional "
                         "connectivity data. NeuroImage 64:240. doi:10.1016/j.neuroimage.2012.08.052",
    "behzadi2007": "Behzadi Y, Restom K, Liau J, Liu TT (2007) A component based noise correction method (CompCor) "
                   "for BOLD and perfusion based fMRI. NeuroImage 37:90. doi:10.1016/j.neuroimage.2007.04.042",
    "ciric2017": "Ciric R et al. (2017) Benchmarking of participant-level confound regression strategies for the "
                 "control of motion artifact in studies of functional connectivity. NeuroImage 154:174. "
                 "doi:10.1016/j.neuroimage.2017.03.020",
    "hallquist2013": "Hallquist MN, Hwang K, Luna B (2013) The nuisance of nuisance regression: spectral "
                     "misspecification in a common approach to resting-state fMRI preprocessing reintroduces noise "
                     "and obscures functional connectivity. NeuroImage 82:208. doi:10.1016/j.neuroimage.2013.05.116",
    "xcpd2024": "Mehta K et al. (2024) XCP-D: A robust pipeline for the post-processing of fMRI data. Imaging "
                "Neuroscience 2:1. doi:10.1162/imag_a_00257",
    "gordon2016": "Gordon EM et al. (2016) Generation and evaluation of a cortical area parcellation from "
                  "resting-state correlations. Cereb Cortex 26:288. doi:10.1093/cercor/bhu239",
    "seitzman2020": "Seitzman BA et al. (2020) A set of functionally-defined brain regions with improved "
                    "representation of the subcortex and cerebellum. NeuroImage 206:116290. "
                    "doi:10.1016/j.neuroimage.2019.116290",
    "nipype": "Gorgolewski K et al. (2011) Nipype: a flexible, lightweight and extensible neuroimaging data "
              "processing framework in Python. Front Neuroinform 5:13. doi:10.3389/fninf.2011.00013",
    "bates2015": "Bates D, Mächler M, Bolker B, Walker S (2015) Fitting linear mixed-effects models using lme4. "
                 "J Stat Softw 67(1):1-48. doi:10.18637/jss.v067.i01",
    "kuznetsova2017": "Kuznetsova A, Brockhoff PB, Christensen RHB (2017) lmerTest package: tests in linear mixed "
                      "effects models. J Stat Softw 82(13):1-26. doi:10.18637/jss.v082.i13",
    "greenhouse1959": "Greenhouse SW, Geisser S (1959) On methods in the analysis of profile data. Psychometrika "
                      "24:95. doi:10.1007/BF02289823",
    "clopper1934": "Clopper CJ, Pearson ES (1934) The use of confidence or fiducial limits illustrated in the case "
                   "of the binomial. Biometrika 26:404. doi:10.1093/biomet/26.4.404",
}


def _nuisance(name: str) -> str:
    """The nuisance strategy in words (its definition file's description)."""
    from ketamine_fc.core.confounds import nuisance_strategy
    from ketamine_fc.errors import InputError

    try:
        text = " ".join(nuisance_strategy(name)["description"].split())
    except (InputError, KeyError, OSError):
        return f"see the definition of {name}."
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def participant_paragraphs(p: dict) -> list:
    """The participant level in words, one paragraph per step, from ``Settings.parameters("participant")``."""
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
             "filter-regress": "As in XCP-D (Mehta et al. 2024), censored frames of the data and of the regressors "
                               f"were interpolated with a cubic spline, both were {trend}and {band} was applied to "
                               "both alike, so that no frequency removed from the data is reintroduced by the "
                               "regression (Hallquist et al. 2013); the regression was then fit on the retained frames "
                               "only"}
    steps = order[p["denoise_order"]]
    if p["motion_filter_type"] != "none" and p.get("motion_regressors", "filtered") == "filtered":
        steps += " (with the filtered motion parameters and their expansions as motion regressors)"
    surface = str(p.get("space", "")).partition(":")[0] == "fsLR"
    cortex = ("the cortical grayordinates within {mm:g} mm (vertices placed by fs_LR 32k midthickness surfaces, as "
              "the WashU pfm_regress_adjacent_cortex step does on CIFTI; the surfaces used are named in every sidecar)"
              if surface else "the cortex within {mm:g} mm").format(mm=p["adjacent_cortex_mm"])
    cleanup = (f" Cortical signal bleeding into subcortical regions was removed by regressing, out of every "
               f"subcortical {'grayordinate' if surface else 'voxel'}, the mean signal of {cortex}."
               if p["subcortical_cleanup"] else " No cortical signal was regressed out of subcortical voxels.")
    data = ("as CIFTI-2 dense time series on fs_LR 91k grayordinates (fs_LR 32k cortical vertices and subcortical "
            "voxels in MNI152NLin6Asym)" if surface else f"in {p['space']} space")
    regions = (f"the Gordon 333 cortical parcels (Gordon et al. 2016) on the fs_LR 32k cortical surface and the "
               f"Seitzman 300 subcortical and cerebellar regions (Seitzman et al. 2020) on the subcortical voxels, "
               f"with the amygdala, accumbens and anterior/posterior hippocampus (split at MNI y = "
               f"{p['hippocampus_split_y']:g} mm) expanded to the file's whole CIFTI structures and the antero-medial "
               "thalamus spheres kept within the CIFTI thalamus" if surface else
               f"the Gordon 333 cortical parcels (Gordon et al. 2016) and the Seitzman 300 subcortical and "
               f"cerebellar regions (Seitzman et al. 2020), with the amygdala, accumbens and anterior/posterior "
               f"hippocampus (split at MNI y = {p['hippocampus_split_y']:g} mm) expanded to whole Harvard-Oxford "
               "structures")
    min_frames = (f"{p['min_time']:g} s" if p.get("min_time") else f"{p['min_frames']} frames")
    return [
        f"Functional connectivity was computed with ketamine-fc {__version__} (Nipype {v['nipype']}, Gorgolewski et "
        f"al. 2011; nibabel {v['nibabel']}, NumPy {v['numpy']}, SciPy {v['scipy']}), reproducing Siegel et al. "
        f"(2021), from the fMRIPrep outputs of the '{p['task']}' task {data}.",
        f"{fd}{contig}, and {dummy} were discarded. The nuisance regressors followed XCP-D's {p['nuisance_regressors']} "
        f"strategy (Mehta et al. 2024; strategies compared by Ciric et al. 2017): {_nuisance(p['nuisance_regressors'])}"
        f" {steps}; censored frames were finally dropped.{cleanup}",
        f"Regions were {regions}. A region "
        f"was left out of a run when fewer than {p['min_region_voxels']} voxels or less than "
        f"{p['min_region_coverage']:.0%} of its atlas voxels fell inside the brain mask. Region time series (means "
        "of the cleaned voxels) were correlated (Pearson) over the retained frames of all runs of a session and "
        "Fisher-z transformed; the network measures are the mean Fisher-z FC within the default-mode network, "
        f"between the subgenual cingulate (Gordon parcels {', '.join(map(str, p['sgacc']))}) and the default-mode "
        "network, within the limbic network and within the visual network.",
        f"Sessions with fewer than {min_frames} retained, or that kept less than {p['min_coverage']:.0%} of the "
        "regions of any of these networks, were excluded from the group analysis.",
    ]


def participant_references(p: dict) -> list:
    """Keys of :data:`REFERENCES` cited by :func:`participant_paragraphs`."""
    keys = ["siegel2021", "nipype", "power2012"] + (["power2014"] if p.get("min_contig") else [])
    keys += ["xcpd2024", "ciric2017", "satterthwaite2013"]
    keys += ["behzadi2007"] if p.get("nuisance_regressors") == "acompcor" else []
    keys += ["hallquist2013"] if p.get("denoise_order") == "filter-regress" else []
    return keys + ["gordon2016", "seitzman2020"]


def reference_list(keys) -> str:
    """Markdown list of the references of ``keys`` (each once, in order)."""
    return "\n".join(f"- {REFERENCES[k]}" for k in dict.fromkeys(keys))


def participant_methods(p: dict) -> str:
    """The participant level in Markdown (paragraphs, then its references)."""
    return "\n\n".join(participant_paragraphs(p) + ["## References\n\n" + reference_list(
        participant_references(p))]) + "\n"


def group_paragraphs(g: dict) -> list:
    """The group statistics in words, from ``GroupParams.to_dict()``."""
    decides = {"paper": "the first (the paper's convention)", "satterthwaite": "the second"}[g["lme_inference"]]
    one, zero = (("responders", "non-responders") if g["response_coding"] == "responder"
                 else ("non-responders", "responders"))
    return [
        f"Response was a MADRS reduction of at least {g['response_threshold']:.0%} from {g['baseline_timepoint']} at "
        f"{g['response_timepoint']}; remission a MADRS below {g['remission_cutoff']:g}. MADRS over time was tested "
        "with a repeated-measures ANOVA on the patients assessed at every timepoint, Greenhouse-Geisser corrected "
        "(Greenhouse and Geisser 1959); its effect is reported as the mean MADRS change from "
        f"{g['baseline_timepoint']} to {g['response_timepoint']} over the same patients, with a paired t interval. "
        f"CGI-I improvement (a rating of 1 or 2) at {g['response_timepoint']} was tested with a one-sided exact "
        "binomial test against a proportion of 0.5, with an exact (Clopper and Pearson 1934) interval.",
        "Each network measure was modelled in the patients with a linear mixed-effects model, FC ~ time + "
        f"time x response + (1 | participant), with time = 1 after treatment and response = 1 for {one}: the time "
        f"effect is the post - pre change of the {zero} and the interaction the change of the {one} minus that of "
        f"the {zero}. The "
        "model was fit twice: by maximum likelihood with t tests on the residual degrees of freedom (observations "
        "minus fixed effects), the defaults of MATLAB's fitlme used by Siegel et al. (2021), and by restricted "
        "maximum likelihood with Satterthwaite degrees of freedom; the estimates and standard errors are those of "
        "R's lme4 (Bates et al. 2015) and the Satterthwaite degrees of freedom those of lmerTest (Kuznetsova et al. "
        f"2017). {decides.capitalize()} decided the primary outcomes, and decisions the other would change are "
        "flagged. 95 % confidence intervals are estimate +/- t(df, 0.975) x SE with that convention's degrees of "
        "freedom.",
        "Controls and patients were compared with two-tailed Student t tests (pre sessions, and controls' visits, "
        "averaged per participant); test-retest reliability of the two pre-treatment sessions with Pearson r and "
        "ICC(3,1); volumes / ICV, BPRS and analyte levels were correlated with the MADRS percent change (Pearson), "
        "side effects regressed on analyte levels (logistic). FC change of each limbic region pair (post minus the "
        f"mean of pre) was tested with paired t tests, uncorrected (shown where p < {g['limbic_edge_threshold_p']:g}). "
        f"The {g['n_primary']} primary outcomes were judged against the Bonferroni threshold p < "
        f"{g['alpha']:g}/{g['n_primary']} = {g['alpha'] / g['n_primary']:.4g}.",
    ]


def group_references(g: dict | None = None) -> list:
    """Keys of :data:`REFERENCES` cited by :func:`group_paragraphs`."""
    return ["siegel2021", "greenhouse1959", "clopper1934", "bates2015", "kuznetsova2017"]


def group_methods(g: dict) -> str:
    """The group statistics in words (paragraphs separated by blank lines)."""
    return "\n\n".join(group_paragraphs(g)) + "\n"


def cited(participant: dict | None = None, group: dict | None = None) -> list:
    """Every reference key the methods of these settings cite, each once."""
    keys = (participant_references(participant) if participant else []) + (group_references(group) if group
                                                                              else [])
    return list(dict.fromkeys(keys))


def participant_section(participant: dict | None) -> list:
    """The participant-level paragraphs, or one saying why they are not known."""
    if not participant:
        return ["The network measures were read from a table (--fc-table); the participant-level settings that "
                "made them are not recorded, so they are not described here."]
    try:
        return participant_paragraphs(participant)
    except (KeyError, TypeError, ValueError):  # settings recorded by an older version lack some names
        return ["The participant-level outputs do not record every setting (an older version made them); see the "
                "Parameters of their JSON sidecars."]


def citation(participant: dict | None = None, group: dict | None = None) -> str:
    """The text of ``CITATION.md``: the methods of each level run, then every reference cited."""
    parts = ["# Methods", "Text generated by ketamine-fc from the settings of the run, to adapt for a methods "
             "section."]
    if participant or group:
        parts += ["## Participant level", *participant_section(participant)]
    if group:
        parts += ["## Group level", *group_paragraphs(group)]
    parts += ["## References", reference_list(cited(participant, group) or ["siegel2021"])]
    return "\n\n".join(parts) + "\n"
