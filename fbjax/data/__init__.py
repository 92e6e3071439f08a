"""Synthetic designs of the main paper and the AIP slides (seeded, deterministic)."""

from fbjax.data.regression import aip_classification, aip_regression, three_group
from fbjax.data.synthetic import CalibratedDesign, ClassificationDesign, RegressionDesign, calibrated_degenerate

__all__ = [
    "CalibratedDesign", "ClassificationDesign", "RegressionDesign", "aip_classification", "aip_regression",
    "calibrated_degenerate", "three_group",
]  # fmt: skip
