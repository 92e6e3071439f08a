"""The ``fbjax demo`` path end to end on a tiny configuration."""

import json

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
    assert cli.main(["demo", "--quick", "--no-plot", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "starvation.json").exists()
