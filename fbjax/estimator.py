"""A scikit-learn-style estimator: a weighted-l1 linear model whose penalties are learned on held-out data.

:class:`WeightedL1` solves the bilevel problem of the main paper (eq. 12) end to end,

    min_x  L(S(x); X_val, y_val)    s.t.  S(x) = argmin_w F(w; X, y) + sum_i exp(x_i) |w_i|,

with ``F`` the (ridge-regularised) least-squares or logistic loss on the training split and ``L`` the
same loss's held-out mean (validation MSE, or log-loss). The hypergradient is :func:`fbjax.argmin`'s
(sign-consistent policy by default), the outer solver NTRBA (Alg. 3), NBA (Alg. 2) or any optax
optimizer. As in the paper's experiments, ``x = log(alpha)`` lives in a box below
``log(0.9 alpha_max)``, ``alpha_max = ||grad F(0)||_inf`` (the smallest scalar penalty with
``S = 0``), and the outer run starts at the best scalar penalty of a validation grid: a feature that
starts inactive outside the biactive band gets a zero hypergradient under every policy, so a start
with the relevant features active matters (:func:`fbjax.argmin`). The reported model is the lower-level
solution at the best visited ``x``, so its validation loss is never above the grid's best.

    est = fbjax.WeightedL1().fit(X, y)            # 25% of (X, y) held out, or fit(X, y, X_val, y_val)
    est.coef_, est.alpha_, est.predict(X_test), est.score(X_test, y_test), est.result_.values
"""

from __future__ import annotations

import collections
import contextlib
import functools
import inspect
import math
import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from jax.experimental import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data

from fbjax import _checks, _errors
from fbjax.baselines.grid import best_scalar_penalty, grid_method
from fbjax.data.synthetic import MODELS, held_out_loss
from fbjax.implicit import argmin
from fbjax.intercept import WithIntercept
from fbjax.outer import nba, ntrba, optax_solve
from fbjax.outer.optax_adapter import as_transformation
from fbjax.solvers import solve

LOSSES = {"squared": "least-squares", "logistic": "logistic"}


class WeightedL1(BaseEstimator):
    """Weighted-l1 (elastic-net or sparse logistic) model with per-feature penalties learned by bilevel
    optimisation on a held-out split.

    Args:
      loss: ``"squared"`` (weighted elastic net, ``||X w - y||^2 / (2 n)``: a regressor) or ``"logistic"``
        (sparse logistic regression: a binary classifier; any two labels, ``classes_[1]`` the positive
        one, coded ``+1`` inside the loss ``log(1 + exp(-y x^T w))``).
      l2: ridge ``l2/2 ||w||^2`` of the lower level (default ``1 / n``, the paper's).
      outer: ``"ntrba"`` (Alg. 3, default), ``"nba"`` (Alg. 2) or an ``optax.GradientTransformation``.
      policy: ``"sc"`` (sign-consistent, Def. 2) or ``"null"`` (Sparse-HO's hypergradient).
      max_iter: outer iterations.  radius: NTRBA's initial radius.  step: NBA's step.
      start: ``"scalar"`` (the best penalty of a ``grid``-point validation grid in ``[1e-3, 0.9] alpha_max``,
        its lower end raised to the box's where ``box_lower > log(1e-3)``; each point solved to the paper code's
        ``||R_gamma||_inf <= 1e-8``, or ``argmin_kw``'s ``tol``, by FISTA with Newton steps on its settled
        supports on the CPU, ``solver="fista-newton"``, or ``argmin_kw``'s ``solver``)
        or a fraction ``f`` for the uniform start ``alpha = f alpha_max``. The grid start reaches the lower
        validation loss; with many features and few held-out rows that can overfit them and keep many small
        coefficients, where ``start=0.2`` (Table 1's) recovers sparser supports (benchmarks/RESULTS.md,
        "WeightedL1 against scikit-learn's CV estimators").
      box_lower: lower end ``log(alpha_max) + box_lower`` of the box for ``x = log(alpha)``, or None (no
        lower bound, the default); the upper end is ``log(0.9 alpha_max)``. Where ``alpha_max`` is 0 (``y``
        orthogonal to every column of ``X``: ``w = 0`` for every penalty) it is taken as ``ALPHA_MAX_FLOOR``
        (1e-15, as scikit-learn's ``LassoCV`` does; times ``a s`` for rescaled data, see Scale below), and the fit
        returns ``coef_ = 0``.
      fit_intercept: also fit an unpenalised, unridged intercept ``c`` (default False, the paper's model): the lower
        level becomes ``mean_i l(x_i^T w + c, y_i) + l2/2 ||w||^2 + sum_i alpha_i |w_i|`` and the upper level the
        validation loss of ``X_val w + c``. For the squared loss on a dense ``X``, ``c = mean(y) - mean(X) w`` over
        the training rows, so ``fit`` centres ``X``, ``y``, ``X_val`` and ``y_val`` by the training rows' means (as
        scikit-learn's linear models do); otherwise (logistic loss, sparse ``X``) ``c`` is profiled out of the
        lower level exactly (:class:`fbjax.WithIntercept`). ``fit`` sets ``intercept_``;
        ``alpha_max`` is then that of the model with the intercept.
      validation_fraction, random_state: the held-out split ``fit`` makes when given no validation data
        (``random_state``: None, an int ``>= 0`` or a ``numpy.random.Generator``, as ``numpy.random.default_rng``).
      argmin_kw: a dict of further keywords of :func:`fbjax.argmin` (``tol``, ``solver``, ``max_support``, ...).
        On strongly correlated features ``{"solver": "fista-newton"}`` can speed a fit up several times
        (benchmarks/RESULTS.md, "Newton steps on FISTA's settled supports").

    Scale: where the largest column root-mean-square ``s_X`` of ``X`` or the root-mean-square ``s_y`` of ``y``
    (squared loss, after the centring) lies outside ``[1/16, 16]``, ``fit`` solves the lower level on ``X / a``
    and ``y / s``, ``a`` and ``s`` the powers of two nearest ``s_X`` and ``s_y`` (exact in floating point), with
    ``l2 / a^2`` and the penalties ``alpha / (a s)``, and the outer run on ``Phi / s^2``. That is the same problem,
    and every attribute is of the data as given; but the lower level's tolerances (absolute, see
    :func:`fbjax.argmin`) and the outer solvers' stopping tests then hold relative to the data's scale, so raw
    features and targets of any magnitude fit (``fit(a X, c y)`` with ``l2 a^2`` gives ``c / a`` times the
    coefficients: tested). Data of unit scale are fitted as they are. Columns on very different scales are
    another matter, as for any l1 model: the grid's scalar penalties are relative to the largest ``|X_j^T y| / n``,
    so a feature whose column is much smaller starts inactive, outside the biactive band, where its hypergradient
    is 0. Standardize first (``make_pipeline(StandardScaler(with_mean=False), WeightedL1())``): with 4 of 30
    columns 1e6 times larger, test R^2 0.126 without, 1.000 with (benchmarks/RESULTS.md, "Data of any scale").

    ``X`` may be dense (NumPy or JAX), SciPy sparse or BCOO; a float32 ``X`` gives a float32 fit, a float64 ``X``
    a float64 fit, also where JAX's 64-bit mode is off (as in a joblib worker of ``GridSearchCV``). Input
    is checked as scikit-learn does (its ``check_estimator`` suite passes, tests/test_estimator.py). The
    parameters are checked in ``fit`` and work with scikit-learn's ``clone``, ``get_params`` and
    ``set_params`` (e.g. inside ``GridSearchCV``, which calls ``fit(X, y)`` and ``score``). A fit compiles one
    program per shape of the data and choice of ``loss``, ``outer``, ``policy``, ``max_iter``, the kind of
    ``start``, ``grid``, whether ``box_lower`` is set and ``argmin_kw``; the numbers ``l2``, ``radius``,
    ``step``, the start fraction and ``box_lower`` are its arguments, so refits over them reuse it. ``predict``
    and ``decision_function`` return NumPy arrays. With ``loss="logistic"`` it is a scikit-learn classifier
    (``is_classifier``; ``predict`` returns labels of ``classes_``, ``predict_proba``, ``decision_function``,
    ``score`` the accuracy), else a regressor (``score`` the R^2).

    Attributes after ``fit`` (arrays are NumPy arrays, as scikit-learn's): ``coef_`` (the lower-level solution at
    the best penalties), ``intercept_`` (0.0 without ``fit_intercept``), ``alpha_``
    (those penalties, ``exp(x_)``), ``x_``, ``alpha_max_``, ``alpha_scalar_`` (the grid's best scalar
    penalty, None without a grid), ``validation_loss_`` (at ``coef_``), ``result_`` (the
    :class:`fbjax.OuterResult` trajectory), ``n_iter_`` (outer iterations run), ``n_features_in_``, and
    ``classes_`` (logistic).
    """

    def __init__(
        self, loss: str = "squared", *, l2: float | None = None, outer="ntrba", policy: str = "sc", max_iter: int = 50,
        radius: float = 0.1, step: float = 0.1, start="scalar", grid: int = 100, box_lower: float | None = None,
        fit_intercept: bool = False, validation_fraction: float = 0.25, random_state: int = 0,
        argmin_kw: dict | None = None,
    ):  # fmt: skip
        self.loss, self.l2, self.outer, self.policy, self.max_iter = loss, l2, outer, policy, max_iter
        self.radius, self.step, self.start, self.grid, self.box_lower = radius, step, start, grid, box_lower
        self.fit_intercept, self.validation_fraction = fit_intercept, validation_fraction
        self.random_state, self.argmin_kw = random_state, argmin_kw

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # SciPy sparse X (and BCOO) fit with FISTA on BCOO
        tags.target_tags.required = True
        if self.loss == "logistic":
            tags.estimator_type, tags.classifier_tags = "classifier", ClassifierTags(multi_class=False)
        else:
            tags.estimator_type, tags.regressor_tags = "regressor", RegressorTags()
        return tags

    def _check_params(self):  # in fit, as scikit-learn does: set_params may change them
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {self.loss!r}")
        if not (isinstance(self.outer, str) and self.outer in ("ntrba", "nba")):
            try:
                as_transformation(self.outer)
            except TypeError:
                raise ValueError(f"outer must be 'ntrba', 'nba' or an optax.GradientTransformation, got "
                                 f"{self.outer!r}") from None
        if not (self.start == "scalar" or (isinstance(self.start, numbers.Real) and not isinstance(self.start, bool)
                                           and 0 < self.start < math.inf)):
            raise ValueError(f"start must be 'scalar' or a fraction f > 0 of alpha_max, got {self.start!r}")
        _checks.check_positive(radius=self.radius, step=self.step)  # here: in the program they are traced
        if self.l2 is not None:
            _checks.check_positive(zero_ok=True, l2=self.l2)
        _checks.check_count(max_iter=self.max_iter, grid=self.grid)
        if self.box_lower is not None and not (-math.inf < self.box_lower < math.log(0.9)):
            raise ValueError(f"box_lower must be None or a number below log(0.9), got {self.box_lower!r}")
        kw = self.argmin_kw or {}
        if not isinstance(kw, dict):
            raise ValueError(f"argmin_kw must be None or a dict of fbjax.argmin's keywords, got {kw!r}")
        known, fixed = set(inspect.signature(argmin).parameters) - {"F", "x"}, {"psi", "policy", "y0"}
        if set(kw) - known:  # (was argmin's TypeError, at the first solve)
            raise ValueError(f"argmin_kw has {sorted(set(kw) - known)}, which fbjax.argmin does not take here; it "
                             f"takes {sorted(known - fixed)}")  # fmt: skip
        reserved = fixed & set(kw)
        if reserved:
            raise ValueError(f"argmin_kw may not set {sorted(reserved)}: WeightedL1 fixes psi = exp (alpha = exp(x)), "
                             "takes the policy as its own parameter and warm-starts the lower level itself")
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise ValueError(f"fit_intercept must be True or False, got {self.fit_intercept!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in (0, 1), got {self.validation_fraction!r}")
        rs = self.random_state  # (NumPy's Generator seeds the split: numpy.random.default_rng(random_state))
        if not (rs is None or isinstance(rs, np.random.Generator) or (_checks.is_count(rs, minimum=0))):
            raise ValueError(f"random_state must be None, an int >= 0 or a numpy.random.Generator, got {rs!r}")

    def fit(self, X, y, X_val=None, y_val=None) -> WeightedL1:
        """Learn the penalties on ``(X_val, y_val)`` (default: a held-out ``validation_fraction`` of
        ``(X, y)``) and fit the model on ``(X, y)`` with them."""
        self._check_params()
        X, y = self._checked(X, y, reset=True)
        with _precision_of(X):
            return self._fit(X, y, X_val, y_val)

    def _fit(self, X, y, X_val, y_val) -> WeightedL1:
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither (then fit holds out validation_fraction)")
        if X_val is None:
            perm = np.random.default_rng(self.random_state).permutation(X.shape[0])
            n_val = max(1, round(self.validation_fraction * X.shape[0]))
            X, y, X_val, y_val = X[perm[n_val:]], y[perm[n_val:]], X[perm[:n_val]], y[perm[:n_val]]
        else:
            X_val, y_val = self._checked(X_val, y_val, reset=False, names=("X_val", "y_val"))
        centre = self.fit_intercept and self.loss == "squared" and not any(map(scipy.sparse.issparse, (X, X_val)))
        if centre:  # c = mean(y) - mean(X) w: X w + c - y = (X - mean(X)) w - (y - mean(y)) on both splits
            x_mean, y_mean = X.mean(axis=0), y.mean()
            X, y, X_val, y_val = X - x_mean, y - y_mean, X_val - x_mean, y_val - y_mean
        # the lower level on (X / a, y / s) with a, s powers of two (exact): fbjax's absolute tolerances then hold
        # relative to the data's scale (logistic labels: s = 1); ``_learn`` maps back
        rms = _column_rms(X)
        ka, ks = _exponent(rms), _exponent(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
        X, X_val, y, y_val = (_times(M, 2.0**-k) for M, k in ((X, ka), (X_val, ka), (y, ks), (y_val, ks)))
        X, y, X_val, y_val = _as_jax(X), jnp.asarray(y), _as_jax(X_val), jnp.asarray(y_val)
        model = LOSSES[self.loss]
        l2 = (1.0 / X.shape[0] if self.l2 is None else self.l2) * 2.0 ** (-2 * ka)  # l2 / a^2
        known = {"lipschitz": l2} if rms == 0 else {}  # X = 0: Lambda_F = l2, which no power iteration finds
        F = MODELS[model](X, y, l2=l2, **known)
        if self.fit_intercept and not centre:
            if self.loss == "logistic" and np.unique(np.asarray(y)).size < 2:
                raise ValueError("fit_intercept=True: the training rows hold one class only, so no finite intercept "
                                 "fits them; pass X_val, y_val or another random_state")
            F = WithIntercept(F, **known)
        # what shapes the program is static; the numbers are traced, so that a refit with another l2, radius,
        # step, start fraction or box_lower (a GridSearchCV over them) reuses the compiled program
        static = _Static(self.loss, _Outer(self.outer), self.policy, self.max_iter, self.start == "scalar", self.grid,
                         self.box_lower is not None, tuple(sorted((self.argmin_kw or {}).items())))  # fmt: skip
        values = dict(radius=self.radius, step=self.step, start=1.0 if self.start == "scalar" else self.start,
                      box_lower=0.0 if self.box_lower is None else self.box_lower, a=2.0**ka, s=2.0**ks)  # fmt: skip
        values = {k: jnp.asarray(v, F.lipschitz.dtype) for k, v in values.items()}
        result, alpha_max, x_scalar, intercept = _learn(static, model, F, X_val, y_val, values)
        # the lower-level solution the outer run computed at its best point, and Phi there
        # fitted attributes are NumPy arrays, as scikit-learn's (writeable copies; result_ keeps JAX's)
        self.coef_, self.validation_loss_ = np.array(result.best_aux), float(result.best_value)
        if centre:
            self.intercept_ = float(y_mean - x_mean @ self.coef_)
        else:
            self.intercept_ = float(intercept)  # c(coef_) for a WithIntercept, else 0
        self.x_, self.alpha_ = np.array(result.best_x), np.array(jnp.exp(result.best_x))
        self.alpha_max_ = float(alpha_max)
        self.alpha_scalar_ = None if x_scalar is None else float(jnp.exp(x_scalar[0]))
        self.result_, self.n_iter_ = result, int(result.num_iter)
        return self

    def _checked(self, X, y, *, reset, names=("X", "y")):
        """``(X, y)`` as NumPy (X: dense, or SciPy CSR for a sparse or BCOO ``X``) after scikit-learn's checks
        (2-D, finite, numeric, matching lengths); ``reset`` records ``n_features_in_`` and needs 2 rows,
        else the feature count must match it. Logistic labels come back as ``-1`` / ``+1`` (``classes_[1]``)."""
        kw = dict(accept_sparse="csr", dtype=(np.float64, np.float32), y_numeric=self.loss == "squared",
                  ensure_min_samples=1 + reset)  # fmt: skip
        X = _from_bcoo(X, names[0])
        if reset:
            X, y = validate_data(self, X, y, reset=True, **kw)
        else:
            X, y = check_X_y(X, y, **kw)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"{names[0]} has {X.shape[1]} features, but WeightedL1 is expecting "
                                 f"{self.n_features_in_} features as input")
        if self.loss == "logistic":
            y = self._signs(y, reset, names[1])
        return X, y.astype(X.dtype, copy=False)  # a float32 X keeps the fit in float32

    def _signs(self, y, reset, name):
        """Binary labels as ``+1`` (``classes_[1]``) and ``-1``; ``reset`` records ``classes_``."""
        check_classification_targets(y)
        if reset:
            kind = type_of_target(y, input_name=name)
            if kind != "binary":
                raise ValueError(f"Only binary classification is supported (WeightedL1 with loss='logistic'); "
                                 f"the type of the target {name} is {kind}. For more classes, wrap it in "
                                 f"sklearn.multiclass.OneVsRestClassifier")
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(f"{name} holds one class only ({self.classes_[0]!r}); the classifier needs two")
        else:
            unseen = np.setdiff1d(y, self.classes_)
            if unseen.size:
                raise ValueError(f"{name} has labels {unseen.tolist()} that y has not; "
                                 f"classes_ = {self.classes_.tolist()}")
        return np.where(y == self.classes_[1], 1.0, -1.0)

    def _linear(self, X) -> np.ndarray:
        """``X @ coef_ + intercept_`` (``X`` dense, SciPy sparse or BCOO)."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, _from_bcoo(X, "X"), reset=False, accept_sparse="csr", dtype=(np.float64, np.float32))
        return np.asarray(X @ np.asarray(self.coef_)) + self.intercept_

    @available_if(lambda self: self.loss == "logistic")
    def decision_function(self, X) -> np.ndarray:
        """``X @ coef_ + intercept_``, the log-odds of ``classes_[1]`` (logistic loss only)."""
        return self._linear(X)

    @available_if(lambda self: self.loss == "logistic")
    def predict_proba(self, X) -> np.ndarray:
        """``[1 - s, s]``: ``s = 1 / (1 + exp(-t))`` is the probability of ``classes_[1]`` (``t``: the decision
        function)."""
        s = expit(self._linear(X))
        return np.column_stack([1 - s, s])

    @available_if(lambda self: self.loss == "logistic")
    def predict_log_proba(self, X) -> np.ndarray:
        """``log predict_proba(X) = [-log(1 + e^t), -log(1 + e^-t)]`` (``t``: the decision function), without
        overflow."""
        t = self._linear(X)
        return np.column_stack([-np.logaddexp(0, t), -np.logaddexp(0, -t)])

    def predict(self, X):
        """``X @ coef_ + intercept_`` (squared loss) or the labels ``classes_[1]`` where ``X @ coef_ + intercept_ > 0``,
        else ``classes_[0]`` (logistic)."""
        t = self._linear(X)
        return t if self.loss == "squared" else self.classes_[(t > 0).astype(int)]

    def score(self, X, y) -> float:
        """scikit-learn's convention: the coefficient of determination R^2 (squared loss) or the accuracy
        (logistic)."""
        return float((r2_score if self.loss == "squared" else accuracy_score)(np.asarray(y), self.predict(X)))


def _precision_of(X):
    """A float64 ``X`` fits in float64, as in scikit-learn, also where JAX's 64-bit mode is off (its default, and
    what a joblib worker of ``GridSearchCV(n_jobs=2)`` starts with): ``jax.enable_x64`` around the fit."""
    if X.dtype == np.float64 and not jax.config.jax_enable_x64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def _from_bcoo(X, name):
    """A BCOO matrix as SciPy CSR (scikit-learn's checks know SciPy, not BCOO); anything else as it is."""
    if not _checks.is_sparse(X):
        return X
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got a BCOO of shape {X.shape}")
    return scipy.sparse.coo_matrix((np.asarray(X.data), np.asarray(X.indices).T), shape=X.shape).tocsr()


def _column_rms(X) -> float:
    """The largest column root-mean-square of ``X`` (dense or SciPy sparse), in float64."""
    if scipy.sparse.issparse(X):
        X = X.astype(np.float64)
        sq = X.multiply(X).sum(axis=0)
    else:
        sq = np.einsum("ij,ij->j", X, X, dtype=np.float64)
    return float(np.sqrt(np.max(sq) / X.shape[0]))  # (validate_data: at least one column)


RESCALE_FROM = 16.0  # a data scale s outside [1/16, 16] is divided by 2^round(log2 s); within it, fits are as before


def _exponent(s: float) -> int:
    """``k`` with ``s / 2^k`` near 1 (0 for ``s`` within ``[1/RESCALE_FROM, RESCALE_FROM]``, 0, or not finite)."""
    return round(math.log2(s)) if math.isfinite(s) and s > 0 and not 1 / RESCALE_FROM <= s <= RESCALE_FROM else 0


def _times(M, factor: float):
    """``M * factor`` in ``M``'s dtype (dense or SciPy sparse); exact for a power of two, barring under/overflow."""
    return M if factor == 1.0 else (M * factor).astype(M.dtype, copy=False)


def _as_jax(X):
    """A NumPy array as a JAX array, a SciPy sparse matrix as BCOO."""
    return sparse.BCOO.from_scipy_sparse(X) if scipy.sparse.issparse(X) else jnp.asarray(X)


_Static = collections.namedtuple("_Static", "loss outer policy max_iter grid_start grid boxed argmin_kw")


class _Outer:
    """The outer solver in ``_learn``'s static key, equal to its copies. A name or an ``optax.GradientTransformation``
    (a tuple of functions, which a copy keeps) compares as itself; a wrapper object (``optax.MultiSteps``) compares
    by its type and fields, not its identity, so scikit-learn's clones (a GridSearchCV's) reuse the program."""

    def __init__(self, solver):
        self.solver, self._key = solver, solver
        if not isinstance(solver, (str, tuple)) and hasattr(solver, "__dict__"):
            key = (type(solver), tuple(sorted(vars(solver).items())))
            try:
                hash(key)
            except TypeError:  # a field that is not hashable: by identity
                return
            self._key = key

    def __eq__(self, other):
        return isinstance(other, _Outer) and self._key == other._key

    def __hash__(self):
        return hash(self._key)


def _solve_kw(argmin_kw: tuple) -> dict:
    """The keywords of :func:`fbjax.solve` among ``argmin_kw``'s items."""
    return {k: v for k, v in argmin_kw if k in ("tol", "max_iter", "solver", "gamma")}


GRID_TOL = 1e-8  # ||R_gamma||_inf of the start grid's solves (the paper code's, Settings.grid_tol; float32: 1e-4):
# 1.4x faster than 1e-10, the same best grid point, losses within 1e-5 relative (benchmarks/RESULTS.md)
GRID_SOLVER_CPU = "fista-newton"  # the start grid's solver on the CPU (elsewhere "fista": the grid is vmapped there,
# and a Newton step due for one point would run for all; not measured on a GPU)
GRID_LOW = 1e-3  # the scalar grid's smallest penalty, GRID_LOW alpha_max (the paper's), or the box's lower end
ALPHA_MAX_FLOOR = 1e-15  # scikit-learn's alpha grid floor (np.finfo(float).resolution): log(alpha_max) stays finite


def _values(prm: _Static, *_) -> bool:
    """Whether ``_learn`` carries its checks as values: not where it vmaps the grid's solves (off the CPU), which
    checkify refuses (:func:`fbjax._errors.checked_jit`)."""
    return not (prm.grid_start and grid_method() == "vmap")


@functools.partial(_errors.checked_jit, static_argnums=(0, 1), values=_values)
def _learn(prm: _Static, model, F, X_val, y_val, num: dict):
    # F, X_val, y_val are the data over (a, s) (``fit``): at w_s = w a / s and alpha_s = alpha / (a s) the lower level
    # is F(w) / s^2, so S(x) = S_s(x - log(a s)) s / a, and the validation loss is s^2 that of the scaled data. The
    # outer run sees x = log(alpha) of the data as given, and Phi / s^2 (its stopping tests are absolute); the warm
    # starts (aux) are w_s. The result is mapped back at the end.
    p, a, s = F.n_features, num["a"], num["s"]
    grad0 = F.grad(jnp.zeros(p, F.lipschitz.dtype))  # grad F(0): the ridge adds nothing
    alpha_max = jnp.maximum(jnp.max(jnp.abs(grad0)), ALPHA_MAX_FLOOR) * a * s  # the floor relative to the scale
    shift = jnp.log(a) + jnp.log(s)  # x_s = x - shift (0 for a = s = 1: every number is then as without rescaling)
    upper = jnp.log(alpha_max) + math.log(0.9)
    lower = jnp.log(alpha_max) + num["box_lower"] if prm.boxed else None
    intercept = F.intercept if isinstance(F, WithIntercept) else lambda w: 0.0  # noqa: E731
    val = lambda w: held_out_loss(model, X_val, y_val, w, intercept(w))  # noqa: E731
    x_scalar = None
    if prm.grid_start:
        # the grid's small penalties give supports near n_train, where FISTA beats coordinate descent
        # (benchmarks/RESULTS.md, "The lower level inside the experiments' outer loops"), so FISTA (on the CPU
        # with Newton steps on settled supports: "Newton steps on FISTA's settled supports") unless
        # argmin_kw names a solver; to the paper code's grid tolerance unless it names a tol
        tol = max(GRID_TOL, _checks.default_tol(F.lipschitz.dtype))
        grid_solver = GRID_SOLVER_CPU if grid_method() == "path" else "fista"
        kw = {"solver": grid_solver, "tol": tol, **_solve_kw(prm.argmin_kw)}
        lo = jnp.maximum(GRID_LOW, jnp.exp(num["box_lower"])) if prm.boxed else GRID_LOW  # the grid inside the box
        fit = lambda x, w0: solve(F, x - shift, y0=w0, **kw).y  # noqa: E731
        x0 = x_scalar = best_scalar_penalty(fit, val, alpha_max, p, prm.grid, lo)[0]
    else:
        x0 = jnp.full(p, jnp.log(num["start"] * alpha_max))

    def phi(x, w0):
        w = argmin(F, x - shift, policy=prm.policy, y0=w0, **dict(prm.argmin_kw))
        return val(w), jax.lax.stop_gradient(w)

    fun = jax.value_and_grad(phi, has_aux=True)
    kw = dict(max_iter=prm.max_iter, lower=lower, upper=upper, aux0=jnp.zeros(p, x0.dtype))
    if prm.outer.solver == "ntrba":
        result = ntrba(fun, x0, radius=num["radius"], **kw)
    elif prm.outer.solver == "nba":
        result = nba(fun, x0, step=num["step"], **kw)
    else:
        result = optax_solve(fun, x0, prm.outer.solver, **kw)
    c = intercept(result.best_aux) * s  # in the program: no root compiled apart
    back = {"aux": s / a, "best_aux": s / a, "value": s**2, "best_value": s**2, "values": s**2, "grad_norms": s**2}
    scaled = [getattr(result, k) * f for k, f in back.items()]
    result = eqx.tree_at(lambda r: [getattr(r, k) for k in back], result, scaled)
    return result, alpha_max, x_scalar, c
