"""Synthetic and semi-synthetic designs of the main paper and the AIP slides (seeded, deterministic)."""

from fbjax.data.regression import aip_classification, aip_regression, three_group
from fbjax.data.semi_synthetic import CalibratedClassificationDesign, semi_synthetic
from fbjax.data.synthetic import CalibratedDesign, ClassificationDesign, RegressionDesign, calibrated_degenerate

__all__ = [
    "CalibratedClassificationDesign", "CalibratedDesign", "ClassificationDesign", "RegressionDesign",
    "aip_classification", "aip_regression", "calibrated_degenerate", "semi_synthetic", "three_group",
]  # fmt: skip
