"""Euclidean projection onto the probability simplex, in the input's dtype."""

from optax.projections import projection_simplex


def project_simplex(v):
    """optax's ``projection_simplex`` of ``v`` in ``v``'s dtype: optax returns float64 for float32 input where x64
    is on (an int64 ``arange`` inside; optax 0.2.8), which breaks a float32 loop's carry."""
    return projection_simplex(v).astype(v.dtype)
