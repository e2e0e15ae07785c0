"""ketamine-fc: resting-state functional connectivity before and after treatment, as Nipype workflows."""

__version__ = "0.1.0"
