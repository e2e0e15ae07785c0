"""Write the group tables under ``OUTPUT_DIR/group/``, each with a sidecar describing it."""

from __future__ import annotations

from pathlib import Path

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
           "(1 | participant); time 0 = pre, 1 = post; response from the response timepoint. SE from "
           "(X' V^-1 X)^-1 at the estimates as lme4/fitlme; warnings (e.g. singular fits) recorded.",
    "baseline_reliability": "Test-retest of the two pre-treatment sessions: Pearson r and ICC(3,1).",
    "controls_vs_patients": "Two-tailed Student t tests, controls vs patients at baseline (pre sessions averaged "
                            "per participant) and post; controls' visits averaged.",
    "correlations": "Pearson correlations: volume / ICV vs MADRS percent change, BPRS positive (mean over "
                    "infusion days) vs MADRS change at each timepoint, analyte levels vs MADRS change.",
    "logistic": "Logistic regression of each side effect (0/1) on each analyte level.",
    "primary_outcomes": "The eight primary outcomes with raw p, the Bonferroni threshold alpha/8 and whether p is "
                        "strictly below it.",
    "edges_limbic_change": "Limbic ROI pairs: paired t test of FC change (post minus the mean of pre), patients.",
}


def write_group_tables(tables: dict, output_dir, params, inputs) -> dict:
    """Write every table; return name -> path."""
    folder = Path(output_dir) / "group"
    out = {}
    for name, df in tables.items():
        meta = sidecar(DESCRIPTIONS.get(name, name), params.to_dict(), sources=list(inputs.sources.values()),
                       Columns=list(df.columns))
        if name == "clinical_timecourse":
            meta["CohensD"] = {"dz": "mean(diff) / SD(diff)", "av": "mean(diff) / mean of the two SDs",
                               "pooled": "mean(diff) / pooled SD"}[params.cohens_d]
        if name == "lme":
            meta["DegreesOfFreedom"] = params.lme_df
            meta["FitMethod"] = params.lme_fit
        out[name] = write_tsv(df, folder / f"{name}.tsv", meta)
    return out
