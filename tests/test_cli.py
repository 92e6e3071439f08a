"""The ``fbjax demo`` and ``fbjax bench`` paths end to end on tiny configurations."""

import json
import subprocess
import sys

import jax
import pytest

import fbjax.cli as cli


def test_demo_quick_writes_table_json_and_plot(tmp_path, capsys):
    rows = cli.demo(seeds=2, out=str(tmp_path), sizes=[(50, 60)], rhos=[0.95])
    out = capsys.readouterr().out
    assert "Sparse-HO (null)" in out and "| 0.95 | (50, 60) | 0.00 ± 0.00 |" in out
    assert all(r["null_hid"] == 0.0 and r["sc_hid"] > 0 for r in rows)
    saved = json.loads((tmp_path / "starvation.json").read_text())
    assert len(saved["rows"]) == 2
    assert (tmp_path / "starvation.png").stat().st_size > 10_000


def test_main_parses_quick(tmp_path):
    """``demo --quick`` runs the starvation study on one configuration, with ``--seeds`` seeds (default 2);
    ``--seeds`` without ``--starvation`` or ``--quick`` is a usage error (it was ignored)."""
    assert cli.main(["demo", "--quick", "--seeds", "1", "--no-plot", "--out", str(tmp_path)]) == 0
    assert len(json.loads((tmp_path / "starvation.json").read_text())["rows"]) == 1
    with pytest.raises(SystemExit):
        cli.main(["demo", "--seeds", "3", "--out", str(tmp_path)])


def test_demo_instance_table_and_plot(tmp_path, capsys):
    """The main job: on the paper's Fig. 5 instance the null oracle starves the hidden block
    (exactly 0 at k = 0) and NTRBA-SC recovers a better support than both Sparse-HO variants."""
    res = cli.demo_instance(out=str(tmp_path))
    out = capsys.readouterr().out
    assert "NTRBA-SC (ours)" in out and "Sparse-HO" in out
    assert res["nba-null"]["hid_grad_norm_k0"] == 0 and res["sparse-ho-gd"]["hid_grad_norm_k0"] == 0
    assert res["ntrba-sc"]["hid_grad_norm_k0"] > 0
    assert res["ntrba-sc"]["f1"] > max(res[m]["f1"] for m in ("scalar", "nba-null", "sparse-ho-gd"))
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_bench_times_forward_and_backward(tmp_path, capsys):
    """``fbjax bench`` on a tiny size: the timed solve reached tol, the backward's working set holds the
    support, the ratio is the backward over the forward, both files are written; a bad size is refused."""
    assert cli.main(["bench", "--p", "40", "--repeats", "1", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert (row["n"], row["p"]) == (26, 40)
    assert row["fwd_residual"] <= 1e-10 and row["working_set"] >= row["support"] > 0
    assert row["bwd_over_fwd"] == pytest.approx(row["bwd_s"] / row["fwd_s"])
    assert min(row["fwd_s"], row["bwd_s"], row["grad_s"]) > 0
    assert "| 26 | 40 |" in capsys.readouterr().out
    assert (tmp_path / "bench.md").read_text().startswith("`fbjax bench --p 40 --repeats 1`")
    with pytest.raises(SystemExit):
        cli.main(["bench", "--p", "5"])
    assert "a problem size must be an integer >= 20, got '5'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["demo"], ["reproduce", "table3"], ["bench"]])
def test_an_unwritable_out_folder_is_refused_before_any_work(tmp_path, capsys, command):
    """``--out`` under a file (it cannot be created) is a usage error naming the folder, not a traceback at
    the end of a long run."""
    (tmp_path / "file").write_text("")
    bad = str(tmp_path / "file" / "out")
    with pytest.raises(SystemExit) as exit_:
        cli.main([*command, "--out", bad])
    assert exit_.value.code == 2
    assert f"--out {bad}: cannot create or write that folder" in capsys.readouterr().err


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_device_flag_picks_the_backend(tmp_path, device):
    """``--device`` decides JAX's backend (it was once an environment variable set after JAX had read it, and
    ignored): the run reports that backend, or, with no such backend here, stops with an error naming it.
    In a child process: a process starts its JAX backends once."""
    out = subprocess.run(
        [sys.executable, "-m", "fbjax.cli", "bench", "--device", device, "--p", "20", "--repeats", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    try:
        available = bool(jax.devices(device))
    except RuntimeError:
        available = False
    if available:
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads((tmp_path / "bench.json").read_text())["rows"][0]["backend"] == device
    else:
        assert out.returncode != 0 and f"fbjax: --device {device}: JAX could not start that backend" in out.stderr


def test_compile_cache_flag(tmp_path, monkeypatch):
    """``--compile-cache``: default ``$FBJAX_COMPILE_CACHE``, else ``$XDG_CACHE_HOME/fbjax/jax``; it turns on
    JAX's persistent cache there, unless it is ``none`` or JAX already has a cache folder."""
    monkeypatch.delenv("FBJAX_COMPILE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cli.default_compile_cache() == str(tmp_path / "xdg" / "fbjax" / "jax")
    monkeypatch.setenv("FBJAX_COMPILE_CACHE", "none")
    assert cli.default_compile_cache() == "none"
    calls = []
    monkeypatch.setattr(jax.config, "update", lambda name, value: calls.append((name, value)))
    cli._set_compile_cache("none")
    assert calls == []
    cli._set_compile_cache(str(tmp_path / "cc"))
    assert ("jax_compilation_cache_dir", str(tmp_path / "cc")) in calls and (tmp_path / "cc").is_dir()
    calls.clear()
    monkeypatch.setattr(cli, "jax_cache_dir", lambda: "/elsewhere")
    cli._set_compile_cache(str(tmp_path / "cc"))
    assert calls == []  # JAX_COMPILATION_CACHE_DIR wins
