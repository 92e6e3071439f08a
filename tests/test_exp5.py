"""Experiment 5: the semi-synthetic design on real columns (Setting 1), real binary tasks (Setting 2), and their
``fbjax reproduce`` paths."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse

import fbjax
import fbjax.cli as cli
from fbjax.data import semi_synthetic
from fbjax.data import real
from fbjax.data.real import load, real_binary
from fbjax.data.semi_synthetic import correlated_pairs, top_variance_columns
from fbjax.experiments import paper, specs


def planted(seed=0, n=300, d=40):
    """Columns of varied variance, three of them copied into near-duplicates: the pairs (0, 1), (5, 9) and
    (20, 33) have correlations about 0.999, 0.99 and 0.95, every other pair about 0 (n = 300 rows)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(1.0, 2.0, d)
    for (i, j), r in (((0, 1), 0.999), ((5, 9), 0.99), ((20, 33), 0.95)):
        X[:, j] = X[:, i] / np.std(X[:, i]) * r + np.sqrt(1 - r**2) * rng.standard_normal(n)
    return X


def test_columns_pairs_and_variance():
    X = planted()
    assert correlated_pairs(X, 3) == [(0, 1), (5, 9), (20, 33)]
    sparse = scipy.sparse.random(50, 30, density=0.2, random_state=0, format="csr")
    dense = sparse.toarray()
    expected = np.argsort(-np.var(dense, axis=0), kind="stable")[:10]
    np.testing.assert_array_equal(top_variance_columns(sparse, 10), expected)
    const = np.column_stack([np.ones(50), dense])  # a constant column pairs with nothing
    assert all(0 not in pair for pair in correlated_pairs(const, 10))


def test_semi_synthetic_layout_determinism_and_errors():
    X = planted()
    d = semi_synthetic(0, X, n_pairs=3, n_easy=4, n_background=30)
    assert {k: len(v) for k, v in d.groups.items()} == {"easy": 4, "dist": 3, "hid": 3, "noise": 24}
    assert d.model == "logistic" and d.A_train.shape == (180, 34) and d.A_val.shape[0] == 60 == d.A_test.shape[0]
    A = np.concatenate([d.A_train, d.A_val, d.A_test])
    background = top_variance_columns(X, 30)
    pairs = correlated_pairs(X[:, background], 3)
    for k, (i, j) in enumerate(pairs):  # the distractor / hidden columns are the real pair's columns
        assert {tuple(np.sort(A[:, d.groups["dist"][k]])), tuple(np.sort(A[:, d.groups["hid"][k]]))} == \
            {tuple(np.sort(X[:, background[i]])), tuple(np.sort(X[:, background[j]]))}
    assert set(np.flatnonzero(d.beta)) == set(d.groups["easy"]) | set(d.groups["hid"])
    assert set(np.unique(d.b_train)) <= {-1.0, 1.0} and d.l2 == 1 / 180
    kw = dict(n_pairs=3, n_easy=4, n_background=30)
    again, other = semi_synthetic(0, X, **kw), semi_synthetic(1, X, **kw)
    np.testing.assert_array_equal(again.A_train, d.A_train)
    np.testing.assert_array_equal(again.x0, d.x0)
    assert not np.array_equal(other.A_train, d.A_train)  # the seed draws the split ...
    rows = lambda e: np.sort(np.concatenate([e.A_train, e.A_val, e.A_test]), axis=0)  # noqa: E731
    np.testing.assert_array_equal(rows(other), rows(d))  # ... of the same rows and labels
    np.testing.assert_array_equal(other.beta, d.beta)
    with pytest.raises(ValueError, match="pairs need at least 30"):
        semi_synthetic(0, X[:, :20])
    bad = X.copy()
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        semi_synthetic(0, bad, n_pairs=3)
    for kw, match in [(dict(noise=np.nan), "noise must be a finite number >= 0"),  # (labelled every row -1)
                      (dict(easy_frac=-0.1), "easy_frac must be a positive"),  # (a NaN x0: "x contains NaN")
                      (dict(delta=-1.0), "delta must be"), (dict(n_pairs=0), "n_pairs must be an int >= 1")]:
        with pytest.raises(ValueError, match=match):
            semi_synthetic(0, X, **{"n_pairs": 3, **kw})


@pytest.mark.parametrize("source", ["planted", "digits"])
def test_calibration_makes_hidden_features_biactive_and_null_starves(source):
    """At the calibrated x0 the hidden coefficients are 0 and ``|grad_j F| = alpha_j / 1.05`` (5% inside the
    threshold); the null policy's hypergradient is exactly 0 on them, the sign-consistent policy's is not."""
    if source == "planted":
        d = semi_synthetic(0, scipy.sparse.csr_matrix(planted()), n_pairs=3, n_easy=4, n_background=30)
    else:
        d = semi_synthetic(0, load("digits", 600)[0])
    F, hid = d.lower_level(jnp.float64), d.groups["hid"]
    x0 = jnp.asarray(d.x0)
    sol = fbjax.solve(F, x0, tol=1e-12)
    assert bool(sol.converged) and np.all(np.asarray(sol.y)[hid] == 0)
    np.testing.assert_allclose(np.abs(np.asarray(sol.grad)[hid]) / np.exp(d.x0[hid]), 1 / 1.05, rtol=1e-8)
    assert np.any(np.asarray(sol.y)[d.groups["easy"]] != 0)
    grads = {}
    for policy in ("null", "sc"):
        grads[policy] = np.asarray(jax.grad(lambda x: d.validation_loss(fbjax.argmin(F, x, policy=policy)))(x0))
    assert np.all(grads["null"][hid] == 0) and np.linalg.norm(grads["sc"][hid]) > 0


def run_tiny(monkeypatch, name, data, out, **generator_kw):
    """``fbjax reproduce NAME --data DATA`` at 2 seeds, 3 outer iterations and a 6-point grid; its Markdown."""
    make = specs.EXPERIMENTS[name]

    def tiny(quick, data):
        exp = make(quick, data)
        configs = tuple(dataclasses.replace(c, kwargs=dict(c.kwargs, **generator_kw)) for c in exp.configs)
        settings = dataclasses.replace(exp.settings, max_iter=3, grid=6)
        return dataclasses.replace(exp, configs=configs, seeds=2, settings=settings)

    monkeypatch.setitem(specs.EXPERIMENTS, name, tiny)
    assert cli.main(["reproduce", name, "--data", data, "--no-plot", "--out", str(out)]) == 0
    return (out / name / f"{name}.md").read_text()


def test_cli_reproduce_exp5_s1_on_a_libsvm_file(tmp_path, monkeypatch, capsys):
    from sklearn.datasets import dump_svmlight_file

    path = tmp_path / "w8a"
    X = scipy.sparse.csr_matrix(np.round(planted(1, n=120), 1))
    dump_svmlight_file(X, np.ones(120), str(path))
    full = specs.get("exp5-s1", data={"w8a": str(path)})
    assert [c.label for c in full.configs] == ["w8a"] and full.settings.model == "logistic" and full.seeds == 5
    assert full.settings.band == "scale-free" and full.settings.max_iter == 60
    assert [c.label for c in specs.get("exp5-s1").configs] == ["digits"]
    assert set(paper.TABLE5) == {"rcv1", "real-sim", "w8a", "news20"}

    out = tmp_path / "out"
    md = run_tiny(monkeypatch, "exp5-s1", f"w8a={path}", out, n_pairs=3, n_easy=4)
    (sc,) = [line for line in md.splitlines() if line.startswith("| w8a | NTRBA-SC (ours) |")]
    assert "0.792 ± 0.079" in sc and "0.667 ± 0.000" in sc  # the paper's w8a row beside ours
    rows = [json.loads(line) for line in (out / "exp5-s1" / "runs.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(r["hid_grad_norm_k0"] == 0 for r in rows if r["method"] in ("nba-null", "ntrba-null"))
    assert all(r["hid_grad_norm_k0"] > 0 for r in rows if r["method"] == "ntrba-sc")
    for argv in (["reproduce", "table3", "--data", f"w8a={path}"], ["reproduce", "exp5-s1", "--data", "w8a"],
                 ["reproduce", "exp5-s1", "--data", f"w8a={tmp_path / 'missing'}"]):  # fmt: skip
        with pytest.raises(SystemExit):
            cli.main(argv + ["--out", str(out)])
    (tmp_path / "notes.txt").write_text("not\na LIBSVM file\n")
    with pytest.raises(SystemExit):  # a usage error naming the file, before any sweep (was a parser traceback)
        cli.main(["reproduce", "exp5-s1", "--data", f"w8a={tmp_path / 'notes.txt'}", "--out", str(out)])
    err = capsys.readouterr().err
    assert "--data w8a: " in err and "notes.txt: not a LIBSVM (svmlight) file" in err


def test_real_binary_splits_and_standardizes_on_the_training_rows(monkeypatch):
    X, y = load("breast-cancer")
    d = real_binary(0, "breast-cancer")
    assert d.model == "logistic" and d.A_train.shape == (341, 30) and d.A_val.shape == (113, 30)
    assert d.A_test.shape == (115, 30) and d.l2 == 1 / 341 and not np.any(d.beta)
    perm = np.random.default_rng(0).permutation(569)  # the split: one permutation, part sizes truncated
    tr, val = np.sort(perm[:341]), np.sort(perm[341:454])
    mean, std = X[tr].mean(axis=0), X[tr].std(axis=0)
    np.testing.assert_allclose(d.A_train, (X[tr] - mean) / std, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d.A_val, (X[val] - mean) / std, rtol=1e-12, atol=1e-12)  # the training rows' stats
    np.testing.assert_array_equal(d.b_val, np.where(y[val] == 1, 1.0, -1.0))
    assert not np.array_equal(real_binary(1, "breast-cancer").A_train, d.A_train)
    with pytest.raises(ValueError, match="2 classes, got 10"):
        real_binary(0, "digits")
    monkeypatch.setattr(real, "DENSE_MAX", 1000)
    with pytest.raises(ValueError, match="max_samples"):
        real_binary(0, "breast-cancer")


def test_cli_reproduce_exp5_s2_on_a_sparse_libsvm_file(tmp_path, monkeypatch):
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(0)
    X = scipy.sparse.random(150, 12, density=0.5, random_state=1, format="csr")
    labels = np.where(X @ rng.standard_normal(12) + 0.1 * rng.standard_normal(150) > 0, 3, 7)
    path = tmp_path / "phishing"
    dump_svmlight_file(X, labels, str(path))
    d = real_binary(0, str(path))  # a sparse file is kept as it is (not standardized), densified
    perm = np.random.default_rng(0).permutation(150)
    np.testing.assert_allclose(d.A_train, X.toarray()[np.sort(perm[:90])], rtol=1e-15)
    assert set(np.unique(d.b_train)) == {-1.0, 1.0}
    full = specs.get("exp5-s2", data={"phishing": str(path)})
    assert full.settings.start == 0.1 and full.settings.biactive_rtol == 1e-3 and full.seeds == 3
    assert set(paper.TABLE6) == {"mnist", "news20", "phishing", "rcv1", "real-sim"}

    out = tmp_path / "out"
    md = run_tiny(monkeypatch, "exp5-s2", f"phishing={path}", out)
    (sc,) = [line for line in md.splitlines() if line.startswith("| phishing | NTRBA-SC (ours) |")]
    assert "0.935 ± 0.002" in sc and "14.706 ± 0.000" in sc  # the paper's phishing row beside ours
    assert "'scale-free', 0.001 on the scale" in md and "x0 = log(0.1 alpha_max), the paper code's" in md
    rows = [json.loads(line) for line in (out / "exp5-s2" / "runs.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and all(0 <= r["cls_f1_test"] <= 1 for r in rows)
    (cv,) = [line for line in md.splitlines() if line.startswith("| phishing | Scalar l1 (5-fold CV")]
    assert "0.947 ± 0.004" in cv  # the paper's scalar row is the CV one
    assert [c.kwargs["max_samples"] for c in specs.get("exp5-s2", max_samples=100).configs] == [100]
    assert real_binary(0, str(path), 100).A_train.shape == (60, 12)
    for argv in (["reproduce", "table1", "--max-samples", "100"], ["reproduce", "exp5-s2", "--max-samples", "2"]):
        with pytest.raises(SystemExit):
            cli.main(argv + ["--out", str(out)])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scalar_cv_is_scikit_learns_cross_validated_l1_logistic_regression():
    """Setting 2's scalar baseline: C by 5-fold stratified accuracy on the training + validation rows, the refit
    there, predictions with its intercept (scikit-learn's own cross_val_score and predict as the oracle)."""
    from sklearn.metrics import f1_score as sk_f1
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from fbjax.experiments.bilevel import Settings, _l1_logistic, run_batch, scalar_cv, stack

    designs = [real_binary(s, "breast-cancer", 200) for s in (0, 1)]
    Cs = np.logspace(-2, 2, 5)
    out = scalar_cv(stack(designs), Cs=Cs)
    for i, d in enumerate(designs):
        X, y = np.concatenate([d.A_train, d.A_val]), np.concatenate([d.b_train, d.b_val]) > 0
        acc = [cross_val_score(_l1_logistic(C), X, y, cv=StratifiedKFold(5), scoring="accuracy").mean() for C in Cs]
        np.testing.assert_allclose(out["values"][i], acc, rtol=1e-12)
        C = Cs[int(np.argmax(acc))]
        np.testing.assert_allclose(np.exp(-out["best_x"][i]) / X.shape[0], C, rtol=1e-12)
        clf = _l1_logistic(C).fit(X, y)  # the refit on training + validation rows, predictions with the intercept
        assert out["cls_f1_test"][i] == pytest.approx(sk_f1(d.b_test > 0, clf.predict(d.A_test)), abs=1e-12)
        assert out["nnz"][i] == np.sum(clf.coef_ != 0) and out["accepted"][i] == 0
    with pytest.raises(ValueError, match="logistic"):
        run_batch("scalar-cv", Settings(), stack(designs))



@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_large_sparse_file_runs_as_bcoo_and_gives_the_dense_results(tmp_path, monkeypatch):
    """Past ``DENSE_MAX`` entries a sparse file stays sparse: ``stack`` gives per-seed BCOO designs (padded to
    one number of stored entries) and ``run_batch`` runs one program per seed. Same numbers as the dense run."""
    from sklearn.datasets import dump_svmlight_file

    from fbjax.experiments.bilevel import Settings, run_batch, stack

    rng = np.random.default_rng(2)
    X = scipy.sparse.random(120, 15, density=0.4, random_state=3, format="csr")
    path = tmp_path / "sparse.svm"
    dump_svmlight_file(X, X @ rng.standard_normal(15) > 0.2, str(path))
    dense = [real_binary(s, str(path)) for s in (0, 1)]
    monkeypatch.setattr(real, "DENSE_MAX", 100)
    real.load.cache_clear()
    sparse = [real_binary(s, str(path)) for s in (0, 1)]
    assert scipy.sparse.issparse(sparse[0].A_train) and not scipy.sparse.issparse(dense[0].A_train)
    np.testing.assert_array_equal(sparse[1].A_test.toarray(), dense[1].A_test)
    data = stack(sparse)
    assert isinstance(data, list) and data[0]["A_train"].nse == data[1]["A_train"].nse  # one program for both
    settings = Settings(model="logistic", band="scale-free", biactive_rtol=1e-3, start=0.1, max_iter=4, grid=6)
    published = dataclasses.replace(settings, band="published", biactive_rtol=0.1)  # its step reads column norms
    for method, s in (("scalar", settings), ("ntrba-sc", settings), ("ntrba-sc", published)):
        a, b = run_batch(method, s, data), run_batch(method, s, stack(dense))
        for k in ("best_val_loss", "cls_f1_test", "nnz", "best_x"):
            np.testing.assert_allclose(a[k], b[k], rtol=1e-7, atol=1e-10, err_msg=f"{method} {k}")
    # scikit-learn's saga takes another code path on CSR input, and stops at 300 epochs: not the same numbers
    cv = run_batch("scalar-cv", settings, data)
    assert cv["best_x"].shape == (2, 15) and np.all((0 <= cv["cls_f1_test"]) & (cv["cls_f1_test"] <= 1))
