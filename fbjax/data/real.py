"""Real data for Experiment 5 (main paper, Sec. 5.5): LIBSVM files, and two offline stand-ins.

The paper's datasets (RCV1, REAL-SIM, W8A, NEWS20, PHISHING, MNIST 0/1) are downloads from the LIBSVM site;
give their paths. ``"digits"`` and ``"breast-cancer"`` are scikit-learn's bundled copies, for runs without
the downloads; neither is one of the paper's datasets.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse

from fbjax.data.synthetic import ClassificationDesign, split

DENSE_MAX = 50_000_000  # entries of the dense design the seed sweeps hold (400 MB in float64)


@functools.lru_cache(maxsize=4)
def load(source: str, max_samples: int | None = None):
    """``(X, y)`` of ``source``: the path of a LIBSVM file (``X`` SciPy sparse), ``"digits"`` (scikit-learn's
    8 x 8 digits, 1797 x 64, intensities scaled to [0, 1] as in the LIBSVM copy of MNIST; ten classes) or
    ``"breast-cancer"`` (scikit-learn's Wisconsin data, 569 x 30; two classes). ``max_samples``: keep that
    many rows, drawn without replacement by ``default_rng(0)``."""
    if source in ("digits", "breast-cancer"):
        from sklearn.datasets import load_breast_cancer, load_digits

        X, y = load_digits(return_X_y=True) if source == "digits" else load_breast_cancer(return_X_y=True)
        X = X / 16.0 if source == "digits" else X
    else:
        from sklearn.datasets import load_svmlight_file

        try:
            X, y = load_svmlight_file(source)
        except ValueError as e:  # scikit-learn's parser names neither the file nor the format
            raise ValueError(f"{source}: not a LIBSVM (svmlight) file, 'label index:value ...' per line ({e})") from e
    if max_samples is not None and X.shape[0] > max_samples:
        keep = np.sort(np.random.default_rng(0).choice(X.shape[0], max_samples, replace=False))
        X, y = X[keep], y[keep]
    if not np.all(np.isfinite(X.data if scipy.sparse.issparse(X) else X)):
        raise ValueError(f"{source}: the features have non-finite entries")
    return X, y


def binary_labels(y, source: str = "y") -> np.ndarray:
    """Two-class labels as ``{-1, +1}``, the larger class value ``+1``."""
    classes = np.unique(y)
    if classes.size != 2:
        raise ValueError(f"{source}: binary classification needs 2 classes, got {classes.size}")
    return np.where(y == classes[1], 1.0, -1.0)


def real_binary(seed: int, source: str, max_samples: int | None = None) -> ClassificationDesign:
    """Experiment 5, Setting 2: the real task ``source`` (:func:`load`) split 60/20/20 by ``default_rng(seed)``
    (part sizes truncated), a dense ``X`` standardized with the training rows' mean and standard deviation (a
    constant column is centred only), a sparse one kept as it is: densified up to ``DENSE_MAX`` entries, SciPy
    CSR past it (the seed sweeps then run BCOO designs); ``l2 = 1/n_train``. There is no ground truth: ``beta``
    is 0 and ``groups`` empty."""
    X, y = load(source, max_samples)
    n, d = X.shape
    dense = not scipy.sparse.issparse(X)
    if dense and n * d > DENSE_MAX:
        raise ValueError(f"{source}: a dense {n} x {d} design is past the {DENSE_MAX:.0e} entries the seed sweeps "
                         "hold; pass max_samples")  # fmt: skip
    b = binary_labels(y, source)
    if dense:
        A = np.asarray(X, dtype=np.float64)
    elif n * d <= DENSE_MAX:
        A = X.toarray().astype(np.float64)
    else:  # stays sparse (CSR): the seed sweeps run it as BCOO
        A = scipy.sparse.csr_matrix(X, dtype=np.float64)
    parts = split(A, b, np.random.default_rng(seed), paper_code=True)
    if dense:
        mean, std = parts["A_train"].mean(axis=0), parts["A_train"].std(axis=0)
        std = np.where(std > 0, std, 1.0)
        for k in ("A_train", "A_val", "A_test"):
            parts[k] = (parts[k] - mean) / std
    l2 = 1.0 / parts["A_train"].shape[0]
    return ClassificationDesign(**parts, beta=np.zeros(d), groups={}, l2=l2, seed=seed)
