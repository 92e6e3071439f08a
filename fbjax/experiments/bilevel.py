"""One bilevel run of the paper's experiments, batched over seeds in one program.

Upper level: validation MSE ``||A_val y - b_val||^2 / n_val``; lower level: the weighted elastic
net on the training split (``l2 = 1/n_train``); ``x = log(alpha)`` in the paper code's box
``log(alpha_max) + [-5, log 0.9]``. With ``Settings(model="logistic")`` (labels in ``{-1, +1}``) both
levels use the logistic loss instead: mean validation log-loss over weighted sparse logistic
regression. A *method* is an outer solver plus a policy:

    scalar        validation grid search over 100 scalar penalties in [1e-3, 0.9] alpha_max
    ntrba-sc      NTRBA + sign-consistent policy (the paper's method)
    ntrba-null    NTRBA + null policy
    nba-sc        NBA + sign-consistent policy
    nba-null      NBA + null policy (the paper's weighted Sparse-HO)
    sparse-ho-gd  null policy + the sparse-ho library's GradientDescent rule (faithful Sparse-HO:
                  the library's exact support, no biactive band)
    scalar-cv     (logistic only) scikit-learn's l1 logistic regression with an intercept, C picked by 5-fold
                  cross-validated accuracy on the training and validation rows (Experiment 5, Setting 2's scalar)

As in the paper, the reported model is the lower-level solution at the best visited ``x``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from jax.experimental import sparse as jsparse

import fbjax
from fbjax._batching import batch_method
from fbjax._errors import checked_jit
from fbjax.baselines import best_scalar_penalty, sparse_ho_gd
from fbjax.baselines.grid import grid_method
from fbjax.data.synthetic import MODELS, held_out_loss
from fbjax.estimator import _from_bcoo
from fbjax.losses import _sq_col_norms
from fbjax.outer import batch_map

METHODS = ("scalar", "ntrba-sc", "ntrba-null", "nba-sc", "nba-null", "sparse-ho-gd", "scalar-cv")
SCALAR = ("scalar", "scalar-cv")  # one penalty for every feature: no outer trajectory
CV_CS = np.logspace(-4, 4, 30)  # the paper code's C grid of scalar-cv (expes_fb/expe6_real_world/run_s2.py)
SUPPORT_THRESHOLD = 1e-10
ARRAYS = ("A_train", "b_train", "A_val", "b_val", "A_test", "b_test", "beta", "x0", "hid")
DESIGNS = ("A_train", "A_val", "A_test")


BANDS = ("published", "scale-free")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The paper code's settings (Table 3 defaults)."""

    max_iter: int = 60
    step: float = 0.1  # NBA
    radius: float = 0.1  # NTRBA Delta_0 (other constants: fbjax.TrustRegion defaults)
    outer_tol: float = 1e-8  # NBA / NTRBA stop when ||h|| < outer_tol
    grid: int = 100
    grid_range: tuple = (1e-3, 0.9)
    grid_tol: float = 1e-8  # FB residual for the grid solves (the paper code: KKT 1e-8)
    # x = log(alpha) in log(alpha_max) + box; the lower end may be -inf (no lower bound).
    box: tuple = (-5.0, float(np.log(0.9)))
    p_grad_norm: float = 1.0  # sparse-ho-gd
    max_support: int | None = None  # static reduced-adjoint bucket (None: p // 2, at least 32)
    # Lower level (fbjax.solve): "fista" (the tables'), "cd" or "auto". Tables 1-3 come out the same to
    # the last printed digit with "cd"; FISTA is faster on the grid's small penalties (RESULTS.md).
    solver: str = "fista"
    # The biactive band (fbjax.fb). "published": the partition that produced the paper's tables, the
    # scale max(|v|, u, 1) read at the code's step 1 / max_j ||A_j||^2 / n; "scale-free": max(|v|, u)
    # read at the FB step (fbjax's default and the paper code's current one).
    band: str = "published"
    biactive_rtol: float = 0.1
    # The outer start. None: each design's own x0 (the calibrated one of the degenerate designs, else
    # log(alpha_max / 5)); a float f: the uniform start x0 = log(f alpha_max); "scalar": the uniform
    # start at the seed's best scalar penalty of the validation grid. Clipped to the box.
    start: float | str | None = None
    model: str = "least-squares"  # or "logistic": the loss of both levels (MODELS)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose from {tuple(MODELS)}")
        lo, hi = self.box
        if not (-float("inf") <= lo < hi < float("inf")):
            raise ValueError(f"box must be (lower, upper) with lower < upper, upper finite, got {self.box!r}")
        if self.solver not in fbjax.solvers.NAMES:
            raise ValueError(f"unknown solver {self.solver!r}; choose from {fbjax.solvers.NAMES}")
        if self.band not in BANDS:
            raise ValueError(f"unknown band {self.band!r}; choose from {BANDS}")
        if self.start is not None and self.start != "scalar" and (
            isinstance(self.start, str) or not 0 < self.start < float("inf")
        ):
            raise ValueError(
                f"start must be 'scalar' or a fraction f > 0 of alpha_max (x0 = log(f alpha_max)), got {self.start!r}"
            )

    def box_bounds(self, alpha_max):
        """``(lower, upper)`` of the box ``log(alpha_max) + box`` for ``x = log(alpha)`` (the paper code's
        ``[-5, log 0.9]`` by default)."""
        return jnp.log(alpha_max) + self.box[0], jnp.log(alpha_max) + self.box[1]


def stack(designs, x0=None) -> dict | list:
    """Stack seeds of one configuration into arrays with a leading seed axis.

    ``x0``: per-design start (default: the design's own ``x0``, else ``log(alpha_max / 5)``). Designs whose
    matrices are SciPy sparse give a list of per-seed dicts instead, the matrices as BCOO with one number of
    stored entries per split across seeds (:func:`run_batch` then compiles one program and runs the seeds
    one after another).
    """
    sparse = scipy.sparse.issparse(designs[0].A_train)
    out = {k: [] for k in ARRAYS if not (sparse and k in DESIGNS)}
    for i, d in enumerate(designs):
        for k in ARRAYS[:7]:
            if k in out:
                out[k].append(getattr(d, k))
        start = getattr(d, "x0", None) if x0 is None else x0[i]
        out["x0"].append(np.full(d.p, np.log(d.alpha_max / 5)) if start is None else start)
        hid = np.zeros(d.p, bool)
        hid[d.groups.get("hid", [])] = True
        out["hid"].append(hid)
    out = {k: jnp.asarray(np.stack(v)) for k, v in out.items()}
    out["l2"] = jnp.asarray([d.l2 for d in designs])
    out["alpha_max"] = jnp.asarray([d.alpha_max for d in designs])
    if not sparse:
        return out
    nse = {k: max(getattr(d, k).nnz for d in designs) for k in DESIGNS}
    return [{**{k: v[i] for k, v in out.items()}, **{k: _padded_bcoo(getattr(d, k), nse[k]) for k in DESIGNS}}
            for i, d in enumerate(designs)]  # fmt: skip


def _padded_bcoo(M, nse: int):
    """SciPy sparse ``M`` as BCOO with ``nse`` stored entries: the extra ones are zeros at ``(0, 0)``."""
    M = scipy.sparse.coo_matrix(M)
    pad = nse - M.nnz
    data = np.concatenate([M.data, np.zeros(pad, M.dtype)])
    indices = np.concatenate([np.stack([M.row, M.col], axis=1), np.zeros((pad, 2), int)]).astype(np.int32)
    return jsparse.BCOO((jnp.asarray(data), jnp.asarray(indices)), shape=M.shape)


def _f1(est, true):
    return 2 * jnp.sum(est & true) / jnp.maximum(jnp.sum(est) + jnp.sum(true), 1)


def f1_score(y, beta, threshold=SUPPORT_THRESHOLD):
    """Support-recovery F1 of ``supp(y) = {|y_i| > threshold}`` against ``supp(beta)``."""
    return _f1(jnp.abs(y) > threshold, beta != 0)


def classification_f1(A, b, y):
    """F1 of the predicted labels ``sign(A y)`` against ``b in {-1, +1}`` (positive class +1)."""
    return _f1(A @ y > 0, b > 0)


def band_kwargs(s: Settings, A, exact: bool = False) -> dict:
    """``fbjax.argmin`` keywords of the band ``s.band``; ``exact``: no band (the sparse-ho library)."""
    if exact:
        return dict(biactive_rtol=0.0)
    if s.band == "scale-free":
        return dict(biactive_rtol=s.biactive_rtol)
    # "published": sparse_ho/algo/implicit_variational.py, _resolve_gamma and scale_floor=1.0
    step = 1 / jnp.max(_sq_col_norms(A) / A.shape[0])
    return dict(biactive_rtol=s.biactive_rtol, biactive_floor=1.0, partition_gamma=step)


def run_one(method: str, s: Settings, data: dict) -> dict:
    """One seed: the outer run of ``method`` and its metrics (traced; see :func:`run_batch`).

    ``data``: one seed of :func:`stack`, optionally with ``x_scalar``, the best grid penalty of the
    ``scalar`` method, which ``start="scalar"`` then uses instead of running the grid again."""
    p = data["beta"].shape[0]
    F = MODELS[s.model](data["A_train"], data["b_train"], l2=data["l2"])
    alpha_max = data["alpha_max"]
    lower, upper = s.box_bounds(alpha_max)
    val = lambda y: held_out_loss(s.model, data["A_val"], data["b_val"], y)  # noqa: E731
    support = s.max_support or max(32, p // 2)
    solve = lambda x, y0, tol=None: jax.lax.stop_gradient(fbjax.solve(F, x, y0=y0, tol=tol, solver=s.solver).y)  # noqa: E731

    def grid():  # (best scalar penalty as a p-vector, validation loss over the grid)
        return best_scalar_penalty(lambda x, y0: solve(x, y0, s.grid_tol), val, alpha_max, p, s.grid, *s.grid_range)

    if method == "scalar":
        x_best, values = grid()
        res_values, grad_norms, h0 = values, jnp.zeros_like(values), jnp.zeros(p, values.dtype)
        accepted = jnp.asarray(0)
    else:
        policy = "null" if method in ("nba-null", "ntrba-null", "sparse-ho-gd") else "sc"
        band = band_kwargs(s, data["A_train"], exact=method == "sparse-ho-gd")

        def phi(x, y0):
            y = fbjax.argmin(F, x, policy=policy, y0=y0, max_support=support, solver=s.solver, **band)
            return val(y), jax.lax.stop_gradient(y)

        fun = jax.value_and_grad(phi, has_aux=True)
        if s.start == "scalar":  # the scalar block's result when the sweep passes it, else the grid here
            x0 = data["x_scalar"] if "x_scalar" in data else grid()[0].astype(data["x0"].dtype)
        elif s.start is not None:
            x0 = jnp.full(p, jnp.log(s.start * alpha_max), data["x0"].dtype)
        else:
            x0 = data["x0"]
        x0 = jnp.clip(x0, lower, upper)
        y_init = solve(x0, None)
        (_, _), h0 = fun(x0, y_init)
        kw = dict(max_iter=s.max_iter, lower=lower, upper=upper, aux0=y_init)
        if method.startswith("ntrba"):
            res = fbjax.ntrba(fun, x0, radius=s.radius, tol=s.outer_tol, **kw)
        elif method.startswith("nba"):
            res = fbjax.nba(fun, x0, step=s.step, tol=s.outer_tol, **kw)
        else:
            res = sparse_ho_gd(fun, x0, p_grad_norm=s.p_grad_norm, **kw)
        x_best, res_values, grad_norms = res.best_x, res.values, res.grad_norms
        accepted = jnp.sum(res.accepted)
    y = solve(x_best, None)
    hid = data["hid"]
    if s.model == "least-squares":
        by_model = {
            "test_mse": held_out_loss(s.model, data["A_test"], data["b_test"], y),
            "nmse_val": jnp.sum((data["A_val"] @ y - data["b_val"]) ** 2) / jnp.sum(data["b_val"] ** 2),
            "nmse_test": jnp.sum((data["A_test"] @ y - data["b_test"]) ** 2) / jnp.sum(data["b_test"] ** 2),
        }
    else:
        by_model = {
            "test_loss": held_out_loss(s.model, data["A_test"], data["b_test"], y),
            "cls_f1_val": classification_f1(data["A_val"], data["b_val"], y),
            "cls_f1_test": classification_f1(data["A_test"], data["b_test"], y),
        }
    return {
        "best_val_loss": val(y),
        "f1": f1_score(y, data["beta"]),
        "hid_recall": jnp.sum(hid & (jnp.abs(y) > SUPPORT_THRESHOLD)) / jnp.maximum(jnp.sum(hid), 1),
        **by_model,
        "hid_grad_norm_k0": jnp.linalg.norm(jnp.where(hid, h0, 0)),
        "grad_norm_k0": jnp.linalg.norm(h0),
        "nnz": jnp.sum(jnp.abs(y) > SUPPORT_THRESHOLD),
        "accepted": accepted,  # outer steps taken (0 for the grid): 0 means the run never left x0
        "values": res_values,
        "grad_norms": grad_norms,
        "best_x": x_best,
    }


def _l1_logistic(C: float):
    """scikit-learn's l1 logistic regression as the paper code fits it (saga, 300 epochs, tol 1e-4), with saga's
    sampling seeded (``random_state=0``; the paper code leaves it unseeded)."""
    import inspect

    from sklearn.linear_model import LogisticRegression

    legacy = inspect.signature(LogisticRegression).parameters["penalty"].default != "deprecated"  # before 1.8
    l1 = {"penalty": "l1"} if legacy else {"l1_ratio": 1.0}
    return LogisticRegression(C=C, solver="saga", max_iter=300, tol=1e-4, random_state=0, **l1)


def scalar_cv(data: dict, folds: int = 5, Cs=CV_CS) -> dict:
    """The ``scalar-cv`` method on every seed of :func:`stack` ``data`` (NumPy and scikit-learn, not traced).

    Per seed: ``C`` of ``Cs`` with the best mean accuracy over ``folds`` stratified folds (unshuffled; ties: the
    first) of the training and validation rows, refit on them; predictions ``sign(A w + w0)`` with the intercept
    ``w0``. ``best_x`` is the equivalent uniform ``log(alpha) = log(1 / (C n))``; ``values`` the CV accuracies."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold

    seeds = [_numpy(d) for d in data] if isinstance(data, list) else [
        {k: v[s] for k, v in jax.device_get(data).items()} for s in range(len(data["l2"]))]  # fmt: skip
    out: dict = {}
    for one in seeds:
        rows = (one["A_train"], one["A_val"])
        X = scipy.sparse.vstack(rows, format="csr") if scipy.sparse.issparse(rows[0]) else np.concatenate(rows)
        y = np.concatenate([one["b_train"], one["b_val"]]) > 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            acc = [np.mean([_l1_logistic(C).fit(X[tr], y[tr]).score(X[va], y[va])
                            for tr, va in StratifiedKFold(folds).split(X, y)]) for C in Cs]  # fmt: skip
            C = Cs[int(np.argmax(acc))]
            clf = _l1_logistic(C).fit(X, y)
        w, w0 = clf.coef_.ravel(), float(clf.intercept_[0])
        t = {k: one[f"A_{k}"] @ w + w0 for k in ("val", "test")}
        pred = {k: np.where(t[k] >= 0, 1.0, -1.0) for k in t}
        f1 = {k: float(_f1(pred[k] > 0, one[f"b_{k}"] > 0)) for k in t}
        row = {
            "best_val_loss": np.mean(np.logaddexp(0.0, -one["b_val"] * t["val"])),
            "f1": float(f1_score(w, one["beta"])), "hid_recall": 0.0,
            "test_loss": np.mean(np.logaddexp(0.0, -one["b_test"] * t["test"])),
            "cls_f1_val": f1["val"], "cls_f1_test": f1["test"], "hid_grad_norm_k0": 0.0, "grad_norm_k0": 0.0,
            "nnz": float(np.sum(np.abs(w) > SUPPORT_THRESHOLD)), "accepted": 0.0,
            "values": np.asarray(acc), "grad_norms": np.zeros(len(Cs)),
            "best_x": np.full(w.size, np.log(1.0 / (C * X.shape[0]))),
        }  # fmt: skip
        for k, v in row.items():
            out.setdefault(k, []).append(v)
    return {k: np.asarray(v) for k, v in out.items()}


def _numpy(one: dict) -> dict:
    """One seed of a sparse :func:`stack` in NumPy, its BCOO matrices as SciPy CSR (the padding's zeros add nothing)."""
    return {k: _from_bcoo(v, k) if isinstance(v, jsparse.BCOO) else np.asarray(v) for k, v in one.items()}


_COMPILED: dict = {}


def _program(fn, how: str = "map"):
    """``fn`` compiled, its checks as values (cacheable, :func:`fbjax._errors.checked_jit`) where it maps the seeds
    with ``lax.map`` (``how``) and walks the scalar grid as a path; where either is a vmap of while loops (a GPU's
    defaults, ``--batch vmap``) plain ``jax.jit``, with the callbacks that checkify would refuse."""
    mapped = batch_method(how) == "map" and grid_method() == "path"
    return checked_jit(fn) if mapped else jax.jit(fn)


def run_batch(method: str, settings: Settings, data: dict, how: str = "auto") -> dict:
    """All seeds of one configuration in one compiled program (``lax.map`` on CPU, ``vmap`` on GPU; a list of
    sparse seeds from :func:`stack`: the program of one seed, run for each)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    if method == "scalar-cv":
        if settings.model != "logistic":
            raise ValueError("scalar-cv is a logistic-regression baseline; it needs Settings(model='logistic')")
        return scalar_cv(data)
    if isinstance(data, list):  # sparse designs (stack): one program, the seeds one after another
        key = (method, settings, "per seed")
        if key not in _COMPILED:
            _COMPILED[key] = _program(lambda one: run_one(method, settings, one))
        runs = [jax.device_get(_COMPILED[key](one)) for one in data]
        return {k: np.stack([r[k] for r in runs]) for k in runs[0]}
    key = (method, settings, how)
    if key not in _COMPILED:
        run = lambda d: batch_map(lambda one: run_one(method, settings, one), d, how)  # noqa: E731
        _COMPILED[key] = _program(run, how)
    return jax.device_get(_COMPILED[key](data))
