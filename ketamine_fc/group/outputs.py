"""Write the group tables under ``OUTPUT_DIR/group/``, each with a sidecar describing it and its columns."""

from __future__ import annotations

from pathlib import Path

from ketamine_fc.group.analyses import CGI_TEST, CONVENTION_NAMES
from ketamine_fc.utils.derivatives import sidecar, write_tsv

DESCRIPTIONS = {
    "network_fc": "Network measures of every session gathered from the participant level (Fisher-z FC); "
                  "sessions with included = false are left out of every analysis.",
    "clinical_timecourse": "MADRS per timepoint (patients): n assessed, mean, SD; response (>= 50% reduction from "
                           "baseline, inclusive), remission (MADRS < 10) and CGI-I 1-2 counts per protocol; paired t "
                           "test and Cohen's d vs baseline (t and d signed timepoint minus baseline).",
    "clinical_anova": "Repeated-measures ANOVA of MADRS over timepoints on complete cases, with the "
                      "Greenhouse-Geisser epsilon and corrected p.",
    "lme": "Linear mixed-effects model per measure, patients only: FC ~ 1 + time + time:response + "
           "(1 | participant); time 0 = pre, 1 = post; response from the response timepoint (coded as "
           "ResponseCoding says). Fit under two conventions, side by side: the paper's (ML fit, residual DF "
           "n_obs - 3, MATLAB fitlme's defaults; columns *_ml_residual) and lmerTest's (REML fit, Satterthwaite "
           "DF; *_reml_satterthwaite), both equal to R lme4/lmerTest; estimate, se, t, df, p repeat the convention "
           "named in 'inference' (--lme-inference). On the paper's design (21 participants, 40 observations) null "
           "simulations give 7.0-7.4 % false positives at p < .05 for the paper's convention and 5.2-6.0 % for "
           "REML with Satterthwaite DF (benchmarks/lme_false_positives.py). SE from (X' V^-1 X)^-1 at the estimates; warnings (e.g. singular fits) "
           "recorded.",
    "baseline_reliability": "Test-retest of the two pre-treatment sessions: Pearson r and ICC(3,1).",
    "controls_vs_patients": "Two-tailed Student t tests, controls vs patients at baseline (pre sessions averaged "
                            "per participant) and post; controls' visits averaged.",
    "correlations": "Pearson correlations: volume / ICV vs MADRS percent change, BPRS positive (mean over "
                    "infusion days) vs MADRS change at each timepoint, analyte levels vs MADRS change.",
    "logistic": "Logistic regression of each side effect (0/1) on each analyte level.",
    "primary_outcomes": "The eight primary outcomes with raw p, the Bonferroni threshold alpha/8 and whether p is "
                        f"strictly below it. CGI-I: {CGI_TEST}, at the response timepoint. The MADRS ANOVA decides "
                        "with the Greenhouse-Geisser corrected p; the LME outcomes with the convention of "
                        "--lme-inference. p_alternative is the p of the other analysis (sphericity assumed; the "
                        "other LME convention) and decision_differs flags a decision it would change. Each row also has its "
                        "estimate with a 95 % CI and SE (estimate_of says of what), the participants and observations "
                        "used, and the direction in words. For the ANOVA, df_num and df are Greenhouse-Geisser "
                        "corrected.",
    "edges_limbic_change": "Limbic ROI pairs: paired t test of FC change (post minus the mean of pre), patients.",
    "excluded_sessions": "Sessions flagged included = false at the participant level, left out of every analysis.",
    "qc_fc": "QC-FC (Ciric et al. 2017, NeuroImage 154:174; Parkes et al. 2018, NeuroImage 171:415): per edge of "
             "the whole-brain Fisher-z matrix (upper triangle, diagonal ignored), the Pearson r across sessions "
             "between FC and mean FD, using the sessions that have the edge (at least 3). One analysis over all "
             "included sessions (the row of record), repeated sessions of a participant pooled as separate scans "
             "(as XCP-D and Ciric et al. do across scans); then the same restricted to patients' pre, patients' "
             "post and controls' sessions (rows with at least 3 sessions). About 5 % of edges are expected at "
             "p < .05 by chance. Distance dependence: Spearman rho between QC-FC r and the Euclidean distance "
             "between the two regions' centroids on the atlas grid of OUTPUT_DIR/atlases (column atlas; when "
             "atlas_grids > 1 the first grid in name order is used); negative when short edges are more "
             "motion-affected.",
    "qc_fc_edges": "QC-FC per edge over all included sessions (repeated sessions pooled): Pearson r and two-sided p "
                   "between Fisher-z FC and mean FD, with the distance between the regions' centroids.",
    "motion": "Head motion compared (two-sided, uncorrected): mean FD and retained frames of patients' post vs pre "
              "sessions (paired t over patients with both; a patient's pre sessions averaged), and patients vs "
              "controls at baseline (pre sessions averaged) and post (Student t, equal variances, as "
              "controls_vs_patients; controls' visits averaged). Included sessions only; t positive when side_1 "
              "is higher.",
    **{f"connectome_{slug}_edges": f"Edge-wise LME of the {what} on the Fisher z of every region pair (patients' pre "
       "and post sessions; FC ~ 1 + time + time:response + (1 | participant), the network measures' model), one "
       "row per edge: estimate, se, t, df, p under the deciding convention (--lme-inference), q = "
       "Benjamini-Hochberg FDR over the edges, and t_other, p_other under the other convention. A session "
       "lacking a region contributes the edges it has." for slug, what in (("time", "time effect"),
                                                                          ("timexresponse", "time x response"))},
    **{f"connectome_{slug}_{stat}": f"The {stat} of the edge-wise {what} as a region x region matrix "
       "(n/a on the diagonal)." for slug, what in (("time", "time effect"), ("timexresponse", "time x response"))
       for stat in ("t", "q")},
    "nbs_components": "Network-based statistic (Zalesky et al. 2010) per term: connected components of the edges "
                      "whose edge-wise LME t passes the primary threshold (--nbs-threshold; positive and negative "
                      "components apart, one family-wise null over both), their size (edges) and intensity, and "
                      "p_fwe = the fraction of permutations whose largest component is at least as large. "
                      "Permutations respect the repeated measures: time, sessions permuted within participant "
                      "(a sign flip of each patient's change); time x response, response labels permuted between "
                      "participants; Freedman-Lane residuals; seeded (--seed), so a rerun is identical. The "
                      "sidecar's NBS entry records the scheme.",
    "nbs_edges": "The edges of each NBS component (nbs_components).",
    "seed_maps": "Seed maps: for each seed (the sgACC set, its parcels' FC averaged, and each limbic region) the "
                 "same LME of its FC with every region; q = Benjamini-Hochberg FDR within each seed and term.",
    "connectome_regions": "The regions of the whole-connectome tables: label, atlas index, network, limbic role "
                          "and centroid in mm (x, y, z) on the atlas grid.",
}

COLUMNS = {
    "participant_id": "participant label (sub-...)", "session_id": "session label (ses-...)",
    "dmn": "mean Fisher-z FC over DMN node pairs", "sgacc_dmn": "mean Fisher-z FC between sgACC and the DMN",
    "limbic": "mean Fisher-z FC within the limbic network", "visual": "mean Fisher-z FC within the visual network",
    "n_frames": "retained frames", "mean_fd": "mean framewise displacement (mm)",
    "included": "whether the session enters the group analyses", "exclusion_reason": "why a session was excluded",
    "timepoint": "assessment label", "n": "number of participants (or observations) used",
    "mean": "mean MADRS", "sd": "standard deviation of MADRS (ddof 1)",
    "response_n": "responders among those assessed here and at baseline (>= 50% reduction, inclusive)",
    "remission_n": "participants with MADRS < 10 among those assessed", "cgi_improved_n": "CGI-I of 1 or 2",
    "n_paired": "assessed here and at baseline", "cgi_n": "CGI-I ratings at this timepoint",
    "t": "t statistic", "df": "degrees of freedom", "p": "two-sided p unless the test says otherwise",
    "cohens_d": "Cohen's d of timepoint minus baseline (variant in CohensD)",
    "F": "F statistic", "df_num": "numerator DF", "df_den": "denominator DF", "epsilon_gg": "Greenhouse-Geisser "
    "epsilon", "p_gg": "Greenhouse-Geisser corrected p", "measure": "FC measure", "term": "fixed effect",
    "estimate": "fixed-effect estimate (primary_outcomes: what estimate_of says)", "se": "standard error",
    "n_obs": "observations (sessions; MADRS ratings for the ANOVA outcome)",
    "ci_low": "lower bound of the 95 % confidence interval: for an LME fixed effect estimate - t(df, .975) x se "
              "under the deciding convention; for the primary outcomes as estimate_of says",
    "ci_high": "upper bound of the 95 % confidence interval (as ci_low)",
    "description": "the outcome in words", "estimate_of": "what estimate, ci_low, ci_high and se are of",
    "direction": "the direction of the estimate in words (the interaction read with the time estimate)",
    "n_participants": "participants (groups)", "method": "fit method / DF method",
    "sigma2_u": "random-intercept variance", "sigma2_e": "residual variance", "converged": "optimiser converged",
    "warning": "fit warning (n/a when clean)",
    "inference": "the convention repeated in estimate, se, t, df, p (--lme-inference)",
    **{f"{k}_{suffix}": f"{k} under {what}" for k in ("estimate", "se", "t", "df", "p") for suffix, what in
       (("ml_residual", "the paper's convention (ML fit, residual DF)"),
        ("reml_satterthwaite", "REML fit with Satterthwaite DF"))},
    "alternative": "the other analysis of the same outcome", "p_alternative": "p of the other analysis",
    "passes_alternative": "whether the other analysis passes the threshold",
    "decision_differs": "true where the other analysis would change the decision", "session_1": "first pre session", "session_2": "second pre session",
    "r": "Pearson r", "icc": "ICC(3,1), consistency", "comparison": "baseline (patients' pre) or post",
    "n_control": "controls", "n_patient": "patients", "mean_control": "controls' mean",
    "mean_patient": "patients' mean", "x": "first variable", "y": "second variable (MADRS % change)",
    "outcome": "outcome", "predictor": "predictor", "coef": "slope (log-odds per unit)", "z": "Wald z",
    "test": "the test performed", "statistic": "F, proportion improved or t",
    "bonferroni_threshold": "alpha / number of primary outcomes", "passes_bonferroni": "p strictly below the "
    "threshold", "region_1": "limbic ROI", "region_2": "limbic ROI", "mean_change": "mean post - pre (Fisher z)",
    "sessions": "which included sessions: all (pooled over participants and visits), patients pre, patients post "
                "or controls",
    "n_sessions": "sessions used", "mean_fd_sessions": "mean of the sessions' mean FD (mm)",
    "n_edges": "edges with a QC-FC r",
    "pct_edges_p05": "percent of edges whose QC-FC p < .05", "median_abs_r": "median |QC-FC r| over edges",
    "distance_rho": "Spearman rho between QC-FC r and the centroid distance of the edge",
    "distance_p": "two-sided p of distance_rho", "n_edges_distance": "edges with both a QC-FC r and a distance",
    "atlas": "atlas grid (dseg) whose region centroids give the distances",
    "atlas_grids": "atlas grids found in OUTPUT_DIR/atlases (the first in name order is used)",
    "index_i": "atlas index of the first region", "index_j": "atlas index of the second region",
    "label_i": "label of the first region", "label_j": "label of the second region",
    "distance_mm": "Euclidean distance between the regions' centroids (mm)",
    "contrast": "which motion comparison", "motion_measure": "mean_fd (mean framewise displacement, mm) or "
    "n_frames (retained frames)", "side_1": "first side of the comparison", "side_2": "second side",
    "n_1": "participants on side 1 (pairs for the paired test)", "n_2": "participants on side 2",
    "mean_1": "mean on side 1 (participants' averages)", "sd_1": "SD on side 1 (ddof 1)",
    "mean_2": "mean on side 2", "sd_2": "SD on side 2 (ddof 1)",
    "i": "position of the first region (0-based, connectome_regions order)", "j": "position of the second region",
    "network_i": "network of the first region",
    "network_j": "network of the second region", "q": "Benjamini-Hochberg FDR q",
    "t_other": "t under the other LME convention", "p_other": "p under the other LME convention",
    "component": "NBS component number (largest first)", "sign": "positive or negative t",
    "n_nodes": "regions in the component", "size": "edges in the component (NBS component size)",
    "intensity": "sum over the component's edges of |t| - threshold",
    "p_fwe": "family-wise-error-corrected p of the component (permutations)", "nodes": "regions of the component",
    "seed": "seed region or set", "region": "region", "network": "network of the region",
    "index": "atlas index", "limbic_role": "limbic structure (n/a for other regions)",
    "x_mm": "centroid x (mm)", "y_mm": "centroid y (mm)", "z_mm": "centroid z (mm)",
}


def write_group_tables(tables: dict, output_dir, params, inputs) -> dict:
    """Write every table to ``OUTPUT_DIR/group/<name>.tsv`` with its JSON sidecar; return name -> path."""
    folder = Path(output_dir) / "group"
    for name in set(DESCRIPTIONS) - set(tables):  # a table not computed this time must not linger from a past run
        for stale in (folder / f"{name}.tsv", folder / f"{name}.json"):
            stale.unlink(missing_ok=True)
    out = {}
    for name, df in tables.items():
        columns = {c: COLUMNS.get(c, "carried from the input table") for c in df.columns}
        meta = sidecar(DESCRIPTIONS.get(name, name), params.to_dict(), sources=list(inputs.sources.values()),
                       Columns=columns)
        if name == "clinical_timecourse":
            meta["CohensD"] = {"dz": "mean(diff) / SD(diff)", "av": "mean(diff) / mean of the two SDs",
                               "pooled": "mean(diff) / sqrt of the mean of the two variances"}[params.cohens_d]
        if name in ("lme", "primary_outcomes"):
            meta["Inference"] = CONVENTION_NAMES[params.lme_inference]
            meta["ResponseCoding"] = ("response = 1 for responders: a larger fall in responders gives a negative "
                                      "time:response estimate" if params.response_coding == "responder" else
                                      "response = 1 for non-responders: a larger fall in responders gives a "
                                      "positive time:response estimate (the paper's sign)")
        if name == "primary_outcomes":
            meta["CGITest"] = CGI_TEST
        if name in ("nbs_components", "nbs_edges") and getattr(inputs, "nbs_info", None):
            meta["NBS"] = inputs.nbs_info
        out[name] = write_tsv(df, folder / f"{name}.tsv", meta)
    return out
