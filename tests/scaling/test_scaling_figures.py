"""scripts/scaling_laws.py from a run directory alone: L(t) per width, L(N), the frontier (PNG + SVG), the exponent
table, the M >= 10 N_max check, one-line errors."""
import csv

from scripts.scaling_laws import main
from tests.scaling.helpers import ROOT


def test_draws_every_figure_and_the_table(small_run, tmp_path, capsys):
    assert main([str(small_run), "--out", str(tmp_path), "--boot", "20"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["quantity", "fitted"]
    names = [line.split("  ")[0].strip() for line in out[1:] if not line.startswith(("/", "warning"))]
    assert names == ["time (N=32)", "N (P, t -> inf)", "compute L*(C)", "N*(C) slope", "t*(C) slope"]
    paths = [p for p in out if p.startswith("/")]
    for stem in ("scaling_time", "scaling_model", "scaling_frontier"):
        for ext in ("png", "svg"):
            assert str(tmp_path / f"{stem}.{ext}") in paths and (tmp_path / f"{stem}.{ext}").stat().st_size > 1000
    rows = list(csv.DictReader(open(tmp_path / "scaling_exponents.csv")))
    model = next(r for r in rows if r["quantity"].startswith("N ("))
    assert float(model["predicted"]) == 1.0 and float(model["lo"]) <= float(model["fitted"]) <= float(model["hi"])
    assert model["window"].startswith("8 .. 32")
    assert not any(line.startswith("warning") for line in out)  # M = 320 = 10 N_max


def test_warns_when_M_is_below_ten_N_max(tmp_path, capsys):
    from trainers.cli import main as toylab

    assert toylab(["fit", "--config", str(ROOT / "configs/scaling/cpu_small.yaml"), "--out_dir", str(tmp_path / "r"),
                   "--task.dim", "200", "--train.max_steps", "20", "--seeds", "[0, 1]"]) == 0
    run = next((tmp_path / "r").iterdir())
    capsys.readouterr()
    assert main([str(run), "--out", str(tmp_path / "f"), "--boot", "5", "--no-frontier"]) == 0
    assert "warning: M = 200 < 10 N_max = 320" in capsys.readouterr().out


def test_not_a_regression_run(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scaling_laws: error: RUN_DIR:")
