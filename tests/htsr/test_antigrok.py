"""Anti-grokking: the collapse report on histories with a known collapse, and the figure and script on a tiny
fit of configs/antigrok/digits_cpu.yaml."""
from pathlib import Path

import numpy as np
import pytest

from trainers.cli import main
from trainers.figures.antigrok import collapse_report, draw_antigrok

ROOT = Path(__file__).resolve().parents[2]


def _histories(run: Path):
    h = run / "histories"
    h.mkdir(parents=True)
    steps = np.array([0, 10, 100, 1000, 10000, 100000])
    np.save(h / "steps.npy", steps)
    # member 0 groks (test 0.9 at 1000) and collapses at 100000; member 1 never generalises; member 2 stays up
    np.save(h / "train_acc.npy", np.array([[0.1, 0.5, 1, 1, 1, 1], [0.1, 0.5, 1, 1, 1, 1], [0.1, 0.6, 1, 1, 1, 1.]]))
    np.save(h / "test_acc.npy", np.array([[0.1, 0.2, 0.3, 0.9, 0.6, 0.1], [0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
                                          [0.1, 0.3, 0.8, 0.9, 0.9, 0.9]]))
    ss = np.array([0, 100, 3000, 30000, 100000])
    np.save(h / "spectra_steps.npy", ss)
    np.save(h / "spectra_weights.0__alpha.npy", np.array([[5, 4, 2.5, 1.8, 1.5], [5, 4, 3, 3, 3], [5, 4, 3, 2.2, 2.1]]))
    np.save(h / "spectra_weights.0__num_traps.npy", np.array([[0, 0, 0, 1, 3], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0.]]))
    return run


def test_collapse_report_on_known_histories(tmp_path):
    rep = collapse_report(_histories(tmp_path / "run"))
    a, b, c = rep
    assert (a["best_test_acc"], a["best_step"], a["collapse_step"]) == (0.9, 1000, 100000)
    assert a["weights.0:first_alpha_below_2"] == 30000 and a["weights.0:first_trap"] == 30000
    assert a["weights.0:alpha_ref"] == 1.5 and a["weights.0:traps_ref"] == 3  # the probe at the collapse step
    assert a["weights.0:alpha_at_best"] == 4  # last probe at or before step 1000 is step 100
    assert b["collapse_step"] is None  # never generalised: no collapse by definition
    assert c["collapse_step"] is None and c["weights.0:first_alpha_below_2"] is None and c["weights.0:first_trap"] is None
    assert c["weights.0:alpha_ref"] == 2.1  # no collapse: the last probe


def test_figure_and_script_on_a_tiny_fit(tmp_path, capsys):
    pytest.importorskip("sklearn")
    code = main(["fit", "--config", str(ROOT / "configs/antigrok/digits_cpu.yaml"), "--out_dir", str(tmp_path),
                 "--train.max_steps", "30", "--model.width", "16", "--train.device", "cpu",
                 "--train.eval_points", "8", "--probes.points", "5"])
    assert code == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    h = run / "histories"
    traps = np.load(h / "spectra_weights.1__num_traps.npy")
    assert traps.shape == (2, len(np.load(h / "spectra_steps.npy")))  # spectra_full: traps of every member
    out = draw_antigrok(run, tmp_path / "f.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    from scripts.antigrok import main as script

    assert script([str(run), "--out", str(tmp_path / "g.png")]) == 0
    text = capsys.readouterr().out
    assert "weight_decay=0.01" in text and (run / "antigrok_report.csv").exists() and (tmp_path / "g.png").exists()
