"""Simulate a study shaped like Siegel et al. 2021: raw BIDS, phenotype tables and fMRIPrep-style derivatives."""

from ketamine_fc.simulate.design import Effects, make_study
from ketamine_fc.simulate.writer import simulate_study

__all__ = ["Effects", "make_study", "simulate_study"]
