"""configs/grokking/quick.yaml groks on the CPU: test accuracy reaches 0.9 at least 1000 steps after train
accuracy does, in at least 3 of its 4 seeds (a real run of the shipped config, about half a minute here)."""
from pathlib import Path

from trainers.cli import main
from trainers.reader import read_members

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "grokking" / "quick.yaml"


def test_quick_config_groks(tmp_path, capsys):
    code = main(["fit", "--config", str(CONFIG), "--out_dir", str(tmp_path), "--wandb.mode", "disabled",
                 "--train.progress", "none", "--train.device", "cpu"])
    assert code == 0
    rows = read_members(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(rows) == 4
    grokked = 0
    for r in rows:
        s_train, s_test = r["step_train_acc_0.9"], r["step_test_acc_0.9"]
        if s_train and s_test and int(s_test) - int(s_train) >= 1000:
            grokked += 1
    assert grokked >= 3, rows
    # the trained networks found Gromov's analytic solution (issue: compare its Fourier structure)
    from trainers.figures.gromov import compare

    run_dir = _last_run(tmp_path)
    stats, figure = compare(run_dir, tmp_path / "gromov.png")
    assert stats["analytic_accuracy"] == 1.0 and figure.exists()
    assert sum(a > 0.4 for a in stats["trained_agreement"]) >= 3  # measured 0.61-0.67 (README)
    assert max(stats["trained_median_abs_phase_residual"]) < 0.2  # measured ~0.03 rad


def _last_run(root):
    return sorted(p.parent for p in Path(root).glob("*/members.csv"))[-1]
