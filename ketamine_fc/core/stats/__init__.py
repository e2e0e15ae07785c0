"""Group-level statistics: pure functions on arrays and tables (numpy, scipy, pandas; no file I/O)."""

from ketamine_fc.core.stats.anova import gg_epsilon, rm_anova
from ketamine_fc.core.stats.clinical import (
    cgi_improved,
    clinical_timecourse,
    is_remission,
    is_response,
    percent_change,
)
from ketamine_fc.core.stats.effect_size import cohens_d_paired
from ketamine_fc.core.stats.inference import binomial_test, logistic, paired_t, pearson, student_t
from ketamine_fc.core.stats.lme import fit_random_intercept, fit_random_intercept_many
from ketamine_fc.core.stats.multiple import bonferroni
from ketamine_fc.core.stats.reliability import icc_3_1, icc_3_1_table, test_retest

__all__ = [
    "bonferroni", "binomial_test", "cgi_improved", "clinical_timecourse", "cohens_d_paired",
    "fit_random_intercept", "fit_random_intercept_many", "gg_epsilon", "icc_3_1", "icc_3_1_table",
    "is_remission", "is_response", "logistic", "paired_t", "pearson", "percent_change", "rm_anova",
    "student_t", "test_retest",
]
