"""Every analysis of the paper (methods.md section 1) on the checked group inputs, as tables."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import beta as beta_dist, t as t_dist

from ketamine_fc.core import stats
from ketamine_fc.errors import InputError
from ketamine_fc.group.inputs import GroupInputs, session_table
from ketamine_fc.group.qc import motion, qc_fc_tables

LOGGER = logging.getLogger("ketamine_fc.group")


def measure_columns(inputs: GroupInputs, params) -> list:
    """The measures analysed: ``params.measures``, else the four paper measures plus any numeric FC column."""
    return list(params.measures) if params.measures else list(inputs.measures)


def timepoint_order(madrs, params) -> list:
    found = list(dict.fromkeys(madrs["timepoint"]))
    return [t for t in params.timepoints if t in found] + [t for t in found if t not in params.timepoints]


def patient_ids(inputs, params) -> set:
    p = inputs.participants
    return set(p.loc[p["group"].astype(str) == params.patient_group, "participant_id"])


def _paired_madrs(inputs, params, timepoint) -> pd.DataFrame:
    """Baseline and ``timepoint`` MADRS of the patients assessed at both (columns ``baseline``, ``score``)."""
    wide = inputs.madrs.pivot_table(index="participant_id", columns="timepoint", values="madrs", aggfunc="first")
    if timepoint not in wide or params.baseline_timepoint not in wide:
        return pd.DataFrame(columns=["baseline", "score"])
    pair = wide[[params.baseline_timepoint, timepoint]].dropna()
    pair.columns = ["baseline", "score"]
    pair = pair[pair["baseline"] > 0]  # change and response are undefined for a baseline of 0 (logged once)
    return pair.loc[pair.index.isin(patient_ids(inputs, params))]


def zero_baselines(inputs, params) -> list:
    """Patients whose baseline MADRS is 0 (or below): their percent change and response are undefined."""
    madrs = inputs.madrs
    base = madrs[(madrs["timepoint"] == params.baseline_timepoint) & madrs["participant_id"].isin(
        patient_ids(inputs, params))]
    return sorted(base.loc[base["madrs"] <= 0, "participant_id"])


def madrs_change(inputs, params, timepoint) -> pd.Series:
    """Percent change of MADRS from baseline to ``timepoint`` per patient (negative = improvement)."""
    pair = _paired_madrs(inputs, params, timepoint)
    return pd.Series(stats.percent_change(pair["baseline"], pair["score"]), index=pair.index, dtype=float)


def responders(inputs, params) -> pd.Series:
    """Responder status (>= 50 % MADRS drop at the response timepoint) of each assessed patient."""
    pair = _paired_madrs(inputs, params, params.response_timepoint)
    return pd.Series(stats.is_response(pair["baseline"], pair["score"], params.response_threshold),
                     index=pair.index, dtype=bool, name="response")


def clinical(inputs, params):
    """MADRS time course per protocol (with CGI-I counts when rated), patients only."""
    pts = patient_ids(inputs, params)
    madrs = inputs.madrs[inputs.madrs["participant_id"].isin(pts)]
    cgi = None if inputs.cgi is None else inputs.cgi[inputs.cgi["participant_id"].isin(pts)]
    return stats.clinical_timecourse(madrs, timepoint_order(madrs, params), baseline=params.baseline_timepoint,
                                     cgi=cgi, cohens_d=params.cohens_d, madrs_path=inputs.sources.get("madrs"),
                                     cgi_path=inputs.sources.get("cgi"))


def clinical_anova(inputs, params):
    """Repeated-measures ANOVA of MADRS over timepoints (complete cases), patients only."""
    madrs = inputs.madrs[inputs.madrs["participant_id"].isin(patient_ids(inputs, params))]
    anova = stats.rm_anova(madrs, "participant_id", "timepoint", "madrs")
    return pd.DataFrame([{k: anova[k] for k in ("n", "F", "df_num", "df_den", "p", "epsilon_gg", "p_gg")}])


#: the two inference conventions of the LME: name -> (fit method, DF method, column suffix)
CONVENTIONS = {"paper": ("ml", "residual", "ml_residual"), "satterthwaite": ("reml", "satterthwaite",
                                                                           "reml_satterthwaite")}
STATS = ("estimate", "se", "t", "df", "p")
#: the conventions in words (tables, sidecars, report)
CONVENTION_NAMES = {"paper": "ML fit, residual DF (the paper's)", "satterthwaite": "REML fit, Satterthwaite DF"}


def lme(inputs, params, measures):
    """``FC ~ 1 + time + time:response + (1 | participant)`` per measure on the patients' pre/post sessions.

    Both conventions are fit: the paper's (ML, residual DF; columns ``*_ml_residual``) and lmerTest's (REML,
    Satterthwaite DF; ``*_reml_satterthwaite``); ``estimate, se, t, df, p`` repeat the one named by
    ``params.lme_inference`` (column ``inference``), with its 95 % CI ``ci_low, ci_high`` = estimate -/+
    t(df, .975) x se. One row per measure and term, with ``n_obs``,
    ``n_participants`` and the deciding fit's variances and warning (``n/a`` when clean). A design that cannot
    be fit (for example every patient a responder, so that time and time:response coincide) gives rows of n/a
    with the reason in ``warning``, logged once. ``response`` is 1 for responders, or for non-responders with
    ``response_coding = "nonresponder"``.
    """
    fc, X, terms, problem = lme_design(inputs, params)
    if problem:
        LOGGER.warning("LME not computed: %s", problem)
    rows = []
    for m in measures:
        ok = np.isfinite(fc[m].to_numpy(float))
        common = {"measure": m, "inference": params.lme_inference, "n_obs": int(ok.sum()),
                  "n_participants": int(fc.loc[ok, "participant_id"].nunique())}
        if problem:
            rows += [{**common, "term": t, **{k: np.nan for k in STATS}, "ci_low": np.nan, "ci_high": np.nan,
                      "converged": False, "warning": f"not computed: {problem}"} for t in terms]
            continue
        fits = {name: stats.fit_random_intercept(fc[m].to_numpy(float)[ok], X[ok], fc["participant_id"].to_numpy()[ok],
                                                 method=fit, term_names=terms, df_method=df)
                for name, (fit, df, _) in CONVENTIONS.items()}
        decide = fits[params.lme_inference]
        for i, term in enumerate(terms):
            row = {**common, "term": term, **{k: decide.iloc[i][k] for k in STATS}}
            row["ci_low"], row["ci_high"] = t_interval(row["estimate"], row["se"], row["df"])
            for name, (_, _, suffix) in CONVENTIONS.items():
                row.update({f"{k}_{suffix}": fits[name].iloc[i][k] for k in STATS})
            row.update(sigma2_u=decide.attrs["sigma2_u"], sigma2_e=decide.attrs["sigma2_e"],
                       converged=bool(decide.attrs["converged"]), warning=decide.attrs["warning"] or "n/a")
            rows.append(row)
        if decide.attrs["warning"]:
            LOGGER.warning("LME of %s: %s", m, decide.attrs["warning"])
    return pd.DataFrame(rows)


def lme_design(inputs, params, quiet=False):
    """The patients' pre and post sessions with a known response, and the design ``1 + time + time:response``.

    Returns
    -------
    sessions : DataFrame
        One row per session (``session_table`` columns plus ``time`` and the coded ``response``), in the rows'
        order of ``X``.
    X : (n, 3) array
    terms : list of str
    problem : str or None
        Why the design cannot be fit, in words.
    """
    fc = session_table(inputs, params)
    resp = responders(inputs, params)
    fc = fc[fc["participant_id"].isin(patient_ids(inputs, params)) & fc["phase"].isin(["pre", "post"])]
    unknown = sorted(set(fc["participant_id"]) - set(resp.index))
    if unknown and not quiet:
        LOGGER.info("LME: %d patient(s) without a defined response at %s left out: %s", len(unknown),
                    params.response_timepoint, ", ".join(unknown))
    fc = fc[fc["participant_id"].isin(resp.index)].reset_index(drop=True)
    time = (fc["phase"] == "post").to_numpy(float)
    response = resp.reindex(fc["participant_id"]).to_numpy(float)
    problem = lme_design_problem(time, response, fc["participant_id"].to_numpy())  # 1 = responder here
    if params.response_coding == "nonresponder":
        response = 1.0 - response
    X = np.column_stack([np.ones(len(fc)), time, time * response])
    return fc.assign(time=time, response=response), X, ["intercept", "time", "time:response"], problem


def t_interval(estimate, se, df, level=0.95) -> tuple:
    """``estimate -/+ t_{df, (1 + level) / 2} x se`` (NaN where a value is missing or df <= 0)."""
    if not all(np.isfinite([estimate, se, df])) or df <= 0:
        return np.nan, np.nan
    half = float(t_dist.ppf((1 + level) / 2, df)) * se
    return float(estimate - half), float(estimate + half)


def lme_design_problem(time, response, groups) -> str | None:
    """Why ``1 + time + time:response`` cannot be fit to these sessions, in words (None if it can)."""
    time, response = np.asarray(time, float), np.asarray(response, float)
    n_sub = len(set(groups))
    if not (time == 0).any() or not (time == 1).any():
        return "the patients need both pre and post sessions"
    post = time == 1
    if (response[post] == 1).all():
        return f"every patient with a post session is a responder ({n_sub} patients), so time and time:response " \
               "cannot be told apart"
    if (response[post] == 0).all():
        return f"no patient with a post session is a responder ({n_sub} patients), so time:response is always 0"
    if n_sub < 3 or len(time) <= 3:
        return f"{len(time)} sessions of {n_sub} patients are too few for the model"
    return None


def baseline_reliability(inputs, params, measures):
    """Pearson r and ICC(3,1) between the first two pre sessions of the patients who have both."""
    fc = session_table(inputs, params)
    fc = fc[fc["participant_id"].isin(patient_ids(inputs, params)) & (fc["phase"] == "pre")]
    found = sorted(fc["session_id"].unique())
    if params.pre_sessions:
        found = [s for s in _prefixed_sessions(params.pre_sessions) if s in found]
    pre_labels = found[:2]
    rows = []
    if len(pre_labels) < 2:
        return pd.DataFrame(columns=["measure", "session_1", "session_2", "n", "r", "p", "icc"])
    wide = {m: fc.pivot_table(index="participant_id", columns="session_id", values=m) for m in measures}
    for m in measures:
        both = wide[m][pre_labels].dropna()
        rr = stats.test_retest(both.iloc[:, 0], both.iloc[:, 1]) if len(both) >= 3 else \
            {"n": len(both), "r": np.nan, "p": np.nan, "icc": np.nan}
        rows.append({"measure": m, "session_1": pre_labels[0], "session_2": pre_labels[1], **rr})
    return pd.DataFrame(rows)


def _prefixed_sessions(labels):
    return [s if str(s).startswith("ses-") else f"ses-{s}" for s in labels]


def controls_vs_patients(inputs, params, measures):
    """Student t tests of controls vs patients pre (pre sessions averaged) and post; controls' visits averaged."""
    fc = session_table(inputs, params)
    controls = fc[fc["group"].astype(str) == params.control_group].groupby("participant_id")[measures].mean()
    pts = fc[fc["participant_id"].isin(patient_ids(inputs, params))]
    rows = []
    for comparison, phase in (("baseline", "pre"), ("post", "post")):
        patients = pts[pts["phase"] == phase].groupby("participant_id")[measures].mean()
        for m in measures:
            res = stats.student_t(controls[m].dropna(), patients[m].dropna())
            rows.append({"measure": m, "comparison": comparison, "n_control": res["n_x"], "n_patient": res["n_y"],
                         "mean_control": res["mean_x"], "mean_patient": res["mean_y"], "t": res["t"],
                         "df": res["df"], "p": res["p"]})
    return pd.DataFrame(rows)


def correlations(inputs, params):
    """Pearson r of volume / ICV, BPRS positive and analyte levels with the patients' MADRS % change."""
    rows = []
    change = madrs_change(inputs, params, params.response_timepoint)
    if inputs.volumes is not None:
        vol = inputs.volumes.set_index("participant_id")
        for s in (c for c in vol.columns if c != "icv"):
            ratio = (vol[s] / vol["icv"]).reindex(change.index)
            rows.append({"x": f"{s}_icv", "y": f"madrs_change_{params.response_timepoint}",
                         **stats.pearson(ratio, change)})
    if inputs.bprs is not None:
        bprs = inputs.bprs.groupby("participant_id")["bprs_positive"].mean()
        for tp in timepoint_order(inputs.madrs, params):
            if tp == params.baseline_timepoint:
                continue
            ch = madrs_change(inputs, params, tp)
            if len(ch) >= 3:
                rows.append({"x": "bprs_positive_mean", "y": f"madrs_change_{tp}",
                             **stats.pearson(bprs.reindex(ch.index), ch)})
    if inputs.ketamine_levels is not None:
        levels = inputs.ketamine_levels.set_index("participant_id")
        for analyte in levels.columns:
            rows.append({"x": analyte, "y": f"madrs_change_{params.response_timepoint}",
                         **stats.pearson(levels[analyte].reindex(change.index), change)})
    return pd.DataFrame(rows, columns=["x", "y", "n", "r", "p"])


def logistic(inputs):
    """Logistic regression of each 0/1 side effect on each analyte level."""
    rows = []
    if inputs.side_effects is None or inputs.ketamine_levels is None:
        return pd.DataFrame(columns=["outcome", "predictor", "coef", "se", "z", "p", "n", "warning"])
    merged = inputs.side_effects.merge(inputs.ketamine_levels, on="participant_id")
    for outcome in (c for c in inputs.side_effects.columns if c != "participant_id"):
        for analyte in (c for c in inputs.ketamine_levels.columns if c != "participant_id"):
            ok = merged[[outcome, analyte]].dropna()
            res = stats.logistic(ok[outcome].to_numpy(), ok[analyte].to_numpy())
            rows.append({"outcome": outcome, "predictor": analyte, **res})
    return pd.DataFrame(rows)


CGI_TEST = "exact binomial test, one-sided: proportion with CGI-I 1-2 greater than 0.5"
#: the columns of primary_outcomes.tsv
PRIMARY_COLUMNS = ["outcome", "description", "test", "estimate_of", "estimate", "ci_low", "ci_high", "se", "statistic",
                   "df_num", "df", "p", "n", "n_participants", "n_obs", "direction", "bonferroni_threshold",
                   "passes_bonferroni", "alternative", "p_alternative", "passes_alternative", "decision_differs"]
#: the two LME terms of the primary outcomes, in words
TERM_WORDS = {"time": "post vs pre (time)", "time:response": "change by response (time x response)"}


def clopper_pearson(k, n, level=0.95) -> tuple:
    """Exact (Clopper-Pearson) two-sided interval of the proportion ``k / n``."""
    a = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta_dist.ppf(a, k, n - k + 1))
    high = 1.0 if k == n else float(beta_dist.ppf(1 - a, k + 1, n - k))
    return low, high


def _anova_change(inputs, params) -> dict:
    """Mean MADRS change (response timepoint minus baseline) over the ANOVA's complete cases, with its t interval."""
    madrs = inputs.madrs[inputs.madrs["participant_id"].isin(patient_ids(inputs, params))]
    madrs = madrs.assign(madrs=pd.to_numeric(madrs["madrs"], errors="coerce"))
    wide = madrs.pivot_table(index="participant_id", columns="timepoint", values="madrs", aggfunc="first",
                             dropna=False).reindex(columns=list(pd.unique(madrs["timepoint"]))).dropna()
    out = {"estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "se": np.nan, "n_obs": int(wide.size),
           "direction": "n/a"}
    base, later = params.baseline_timepoint, params.response_timepoint
    if base in wide and later in wide and len(wide) >= 2:
        d = (wide[later] - wide[base]).to_numpy(float)
        se = float(d.std(ddof=1) / np.sqrt(len(d)))
        low, high = t_interval(d.mean(), se, len(d) - 1)
        out.update(estimate=float(d.mean()), se=se, ci_low=low, ci_high=high,
                   direction=f"{'fell' if d.mean() < 0 else 'rose'} from {base} to {later}")
    return out


def _groups(params) -> tuple:
    """(group coded response = 0, group coded 1) under ``params.response_coding``."""
    return ("non-responders", "responders") if params.response_coding == "responder" else ("responders",
                                                                                           "non-responders")


def _lme_direction(term, estimate, time_estimate, params) -> str:
    """The direction of an LME primary outcome in words (the interaction read with the time estimate)."""
    if not np.isfinite(estimate):
        return "n/a"
    zero, one = _groups(params)
    if term == "time":
        return f"{'lower' if estimate < 0 else 'higher'} after treatment (in {zero}, the response = 0 group)"
    if not np.isfinite(time_estimate):
        return f"{'lower' if estimate < 0 else 'higher'} in {one} than in {zero} after treatment"
    change = {zero: time_estimate, one: time_estimate + estimate}
    resp, non = change["responders"], change["non-responders"]
    if resp < 0 and non < 0:
        words = f"fell more in {'responders' if resp < non else 'non-responders'}"
    elif resp >= 0 and non >= 0:
        words = f"rose more in {'responders' if resp > non else 'non-responders'}"
    else:
        words = f"{'fell' if resp < 0 else 'rose'} in responders and {'fell' if non < 0 else 'rose'} in non-responders"
    return f"{words} (model post - pre: responders {resp:+.3g}, non-responders {non:+.3g})"


def primary_outcomes(anova, course, lme_table, inputs, params):
    """The eight primary outcomes of the paper with raw p and the Bonferroni decision (p < alpha / 8).

    Each row says what was measured (``description``), its estimate with a 95 % CI (``estimate_of`` says of
    what: the mean MADRS change over the ANOVA's complete cases, the proportion improved with an exact
    Clopper-Pearson interval, or the LME fixed effect with ``estimate -/+ t(df, .975) x se`` under the deciding
    convention), ``n_participants``, ``n_obs`` and the ``direction`` in words. Each row also carries the p of the
    alternative analysis (the ANOVA without the Greenhouse-Geisser correction; the LME under the other inference
    convention), its decision, and ``decision_differs`` where they disagree.
    """
    from ketamine_fc.reports.labels import measure_name

    other = {"paper": "satterthwaite", "satterthwaite": "paper"}[params.lme_inference]
    names = CONVENTION_NAMES
    anova_row = {"F": np.nan, "n": 0, "p": np.nan, "p_gg": np.nan, "df_num": np.nan, "df_den": np.nan,
                 "epsilon_gg": np.nan} if anova is None else anova.iloc[0]
    change = _anova_change(inputs, params) if anova is not None else {"n_obs": 0, "direction": "n/a"}
    rows = [{"outcome": "madrs_rm_anova", "description": "MADRS over time (repeated-measures ANOVA)",
             "test": "repeated-measures ANOVA of MADRS over timepoints, Greenhouse-Geisser corrected",
             "estimate_of": f"mean MADRS change, {params.response_timepoint} minus {params.baseline_timepoint} "
                            "(points), over the ANOVA's complete cases; paired t interval",
             **change, "statistic": anova_row["F"], "df_num": anova_row["df_num"] * anova_row["epsilon_gg"],
             "df": anova_row["df_den"] * anova_row["epsilon_gg"], "n": anova_row["n"],
             "n_participants": int(anova_row["n"]), "p": anova_row["p_gg"], "alternative": "sphericity assumed",
             "p_alternative": anova_row["p"]}]
    resp = None if course is None else course.loc[course["timepoint"] == params.response_timepoint]
    k, n = (resp.iloc[0]["cgi_improved_n"], resp.iloc[0]["cgi_n"]) if resp is not None and len(resp) else (np.nan,
                                                                                                           np.nan)
    cgi = {"outcome": f"cgi_improved_{params.response_timepoint}",
           "description": f"CGI-I improved (1-2) at {params.response_timepoint}", "test": CGI_TEST,
           "estimate_of": "proportion of the rated patients with CGI-I 1-2; exact (Clopper-Pearson) interval",
           "alternative": "n/a", "p_alternative": np.nan}
    if pd.notna(k) and pd.notna(n) and n > 0:
        res = stats.binomial_test(int(k), int(n), p0=0.5, alternative="greater")
        low, high = clopper_pearson(int(k), int(n))
        rows.append(cgi | {"estimate": res["proportion"], "ci_low": low, "ci_high": high, "statistic": res["proportion"],
                           "n": int(n), "n_participants": int(n), "n_obs": int(n), "p": res["p"],
                           "direction": f"{int(k)} of {int(n)} improved: "
                                        + ("more than half" if res["proportion"] > 0.5 else "not more than half")})
    else:
        rows.append(cgi | {"test": f"not run (no CGI-I at {params.response_timepoint})", "statistic": np.nan,
                           "n": 0, "n_participants": 0, "n_obs": 0, "p": np.nan, "direction": "n/a"})
    suffix = CONVENTIONS[other][2]
    zero, one = _groups(params)
    of = {"time": f"fixed effect of time: post minus pre in {zero} (Fisher z)",
          "time:response": f"fixed effect of time x response: the post - pre change of {one} minus that of {zero} "
                           "(Fisher z)"}
    for m in ("dmn", "sgacc_dmn", "limbic"):
        time_hit = lme_table[(lme_table["measure"] == m) & (lme_table["term"] == "time")]
        time_estimate = float(time_hit.iloc[0]["estimate"]) if len(time_hit) else np.nan
        for term in ("time", "time:response"):
            hit = lme_table[(lme_table["measure"] == m) & (lme_table["term"] == term)]
            row = {"outcome": f"{m} {term}", "description": f"{measure_name(m)}, {TERM_WORDS[term]}",
                   "test": f"LME t test of the fixed effect ({names[params.lme_inference]})", "estimate_of": of[term],
                   "statistic": np.nan, "n": 0, "n_participants": 0, "n_obs": 0, "p": np.nan,
                   "alternative": names[other], "p_alternative": np.nan, "direction": "n/a"}
            if len(hit):
                h = hit.iloc[0]
                low, high = t_interval(h["estimate"], h["se"], h["df"])
                row.update(estimate=h["estimate"], ci_low=low, ci_high=high, se=h["se"], statistic=h["t"], df=h["df"],
                           n=h["n_obs"], n_participants=h["n_participants"], n_obs=h["n_obs"], p=h["p"],
                           p_alternative=h.get(f"p_{suffix}", np.nan),
                           direction=_lme_direction(term, float(h["estimate"]), time_estimate, params))
            rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=[c for c in PRIMARY_COLUMNS if c not in (
        "bonferroni_threshold", "passes_bonferroni", "passes_alternative", "decision_differs")])
    threshold, passes = stats.bonferroni(table["p"].to_numpy(), n_tests=params.n_primary, alpha=params.alpha)
    _, passes_alt = stats.bonferroni(table["p_alternative"].to_numpy(float), n_tests=params.n_primary,
                                     alpha=params.alpha)
    table["bonferroni_threshold"] = threshold
    table["passes_bonferroni"] = passes
    table["passes_alternative"] = np.where(table["p_alternative"].notna(), passes_alt, False)
    table["decision_differs"] = table["p_alternative"].notna() & (table["passes_bonferroni"] != table["passes_alternative"])
    return table[PRIMARY_COLUMNS]


def edges_limbic_change(inputs, params):
    """Paired t test per limbic ROI pair of FC change, post minus the mean of pre (patients, included sessions)."""
    empty = pd.DataFrame(columns=["region_1", "region_2", "n", "t", "p", "mean_change"])
    pts = patient_ids(inputs, params)
    kept = set(zip(inputs.fc["participant_id"], inputs.fc["session_id"]))
    pre, post = {}, {}
    for (sub, ses), mat in inputs.limbic.items():
        if sub in pts and (sub, ses) in kept:
            phase = pre if params.is_pre(ses) else post if params.is_post(ses) else {}
            phase.setdefault(sub, []).append(mat)
    subs = sorted(set(pre) & set(post))
    if len(subs) < 3:
        return empty
    labels = list(post[subs[0]][0].columns)
    mean = {k: {s: np.mean([m.loc[labels, labels].to_numpy() for m in v[s]], axis=0) for s in subs}
            for k, v in (("pre", pre), ("post", post))}
    before = np.stack([mean["pre"][s] for s in subs])
    after = np.stack([mean["post"][s] for s in subs])
    rows = []
    for i, a in enumerate(labels):
        for j in range(i + 1, len(labels)):
            res = stats.paired_t(after[:, i, j], before[:, i, j])
            rows.append({"region_1": a, "region_2": labels[j], "n": res["n"], "t": res["t"], "p": res["p"],
                         "mean_change": float(np.nanmean(after[:, i, j] - before[:, i, j]))})
    return pd.DataFrame(rows)


def _guarded(name, func, inputs, fallback=None):
    """Run one analysis; if it cannot be computed, log one line, record why, and return ``fallback``."""
    try:
        return func()
    except (InputError, ValueError, ZeroDivisionError, np.linalg.LinAlgError, KeyError, IndexError) as err:
        reason = str(err).strip() or type(err).__name__
        LOGGER.warning("%s not computed: %s", name, reason)
        inputs.skipped[name] = f"not computed: {reason}"
        return fallback


def connectome_tables(inputs, params) -> dict:
    """The whole-connectome statistics (see :mod:`ketamine_fc.group.connectome`)."""
    from ketamine_fc.group.connectome import connectome_tables as compute

    return compute(inputs, params)


def run_group_analyses(inputs: GroupInputs, params) -> dict:
    """Every group table of the paper, keyed by its output name.

    An analysis that cannot be computed is logged, listed in ``inputs.skipped`` and left out; the others go on.
    """
    zero = zero_baselines(inputs, params)
    if zero:
        LOGGER.warning("%s: baseline MADRS of 0, so percent change and response are undefined; left out of the "
                       "responder groups, the LME and the correlations with MADRS change", ", ".join(zero))
    measures = measure_columns(inputs, params)
    course = _guarded("clinical_timecourse", lambda: clinical(inputs, params), inputs)
    anova = _guarded("clinical_anova", lambda: clinical_anova(inputs, params), inputs)
    lme_table = _guarded("lme", lambda: lme(inputs, params, measures), inputs)
    qc = _guarded("qc_fc", lambda: qc_fc_tables(inputs, params), inputs, fallback={})
    tables = {
        "network_fc": inputs.fc_all if inputs.fc_all is not None else inputs.fc,
        "clinical_timecourse": course,
        "clinical_anova": anova,
        "lme": lme_table,
        "baseline_reliability": _guarded("baseline_reliability",
                                         lambda: baseline_reliability(inputs, params, measures), inputs),
        "controls_vs_patients": _guarded("controls_vs_patients",
                                         lambda: controls_vs_patients(inputs, params, measures), inputs),
        "correlations": _guarded("correlations", lambda: correlations(inputs, params), inputs),
        "logistic": _guarded("logistic", lambda: logistic(inputs), inputs),
        "primary_outcomes": _guarded("primary_outcomes", lambda: primary_outcomes(
            anova, course, lme_table if lme_table is not None else pd.DataFrame(columns=["measure", "term"]),
            inputs, params), inputs),
        "edges_limbic_change": _guarded("edges_limbic_change", lambda: edges_limbic_change(inputs, params), inputs),
        "qc_fc": qc.get("qc_fc"),
        "qc_fc_edges": qc.get("qc_fc_edges"),
        "motion": _guarded("motion", lambda: motion(inputs, params), inputs),
        "excluded_sessions": inputs.excluded_sessions,
        **_guarded("connectome", lambda: connectome_tables(inputs, params), inputs, fallback={}),
    }
    return {name: table for name, table in tables.items() if table is not None}
