# Reference fits for tests/stats/test_stats_lme.py (R 4.x, lme4, lmerTest); run once, numbers kept in the test.
suppressMessages({library(lme4); library(lmerTest)})
options(digits = 10)
d <- read.csv("lme_unbalanced.csv")
for (outcome in c("y", "y_singular")) {
  for (reml in c(FALSE, TRUE)) {
    f <- as.formula(paste(outcome, "~ time + time:response + (1 | pid)"))
    m <- lmer(f, data = d, REML = reml)
    cat("\n====", outcome, "REML =", reml, "singular =", isSingular(m), "\n")
    print(coef(summary(m, ddf = "Satterthwaite")), digits = 12)
    vc <- as.data.frame(VarCorr(m))
    cat("sigma2_u =", format(vc$vcov[1], digits = 12), " sigma2_e =", format(vc$vcov[2], digits = 12), "\n")
    cat("logLik =", format(as.numeric(logLik(m)), digits = 12), " theta =", format(getME(m, "theta"), digits = 12), "\n")
  }
}
# p values with the 'residual' DF (n_obs - n_fixed = 37), as MATLAB fitlme reports by default
m <- lmer(y ~ time + time:response + (1 | pid), data = d, REML = FALSE)
tt <- coef(summary(m, ddf = "lme4"))[, "t value"]
cat("\nresidual-DF p (ML, y):", format(2 * pt(-abs(tt), df = nrow(d) - 3), digits = 12), "\n")
cat(R.version.string, " lme4", format(packageVersion("lme4")), " lmerTest", format(packageVersion("lmerTest")), "\n")
