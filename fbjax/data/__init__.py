"""Synthetic designs of the main paper (seeded, deterministic)."""

from fbjax.data.synthetic import CalibratedDesign, calibrated_degenerate

__all__ = ["CalibratedDesign", "calibrated_degenerate"]
