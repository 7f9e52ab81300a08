"""A real (small) modular-addition sweep shows Power's and Nanda's trend: the steps to generalise fall as the training
fraction and the weight decay rise. The README's main-job model (configs/phase/quick.yaml: Gromov's quadratic MLP on
a + b mod 31) on the 2 x 3 corner of its grid where every member generalises within its 2000 steps; spearman_report's
rank correlations must be <= -0.8 for both keys, as the issue asks of the p = 97 diagrams (measured there in the
README)."""
import re
from pathlib import Path

import yaml

from trainers.cli import main
from trainers.sweeps.report import spearman_report
from trainers.sweeps.results import read_grid

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "phase" / "quick.yaml"


def test_steps_to_generalise_fall_with_fraction_and_weight_decay(tmp_path, capsys):
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["train"].update(max_steps=2000)
    cfg["sweep"]["grid"] = {"task.train_fraction": [0.5, 0.6], "optimizer.weight_decay": [0.3, 1.0, 3.0]}
    path = tmp_path / "trend.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    code = main(["sweep", "--config", str(path), "--out_dir", str(tmp_path / "runs"), "--wandb.mode", "disabled",
                 "--train.device", "cpu"])
    assert code == 0
    run_dir = capsys.readouterr().out.strip().splitlines()[-1]
    grid = read_grid(run_dir)
    assert all(g["steps_to_generalise"] is not None for g in grid), grid  # all six generalise
    rhos = {}
    for line in spearman_report(Path(run_dir)):
        m = re.match(r"spearman\(steps_to_generalise, (\S+) \| other keys fixed\) over the generalised region: "
                     r"([+-]\d\.\d+)", line)
        if m:
            rhos[m.group(1)] = float(m.group(2))
    assert set(rhos) == {"task.train_fraction", "optimizer.weight_decay"}, rhos
    assert rhos["task.train_fraction"] <= -0.8 and rhos["optimizer.weight_decay"] <= -0.8, rhos
