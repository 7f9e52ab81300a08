"""A random-feature sweep over width x training rows x lr x seed through ``toylab sweep``: N, P, lr and seed are
per member, so the grid shares fits (chunked here by sweep.max_members); the root members.csv and grid.csv, the
chunks' histories with the theory overlay, and the scaling figures drawn from the sweep directory.

Needs the regression-aware sweep (results without accuracy phases, the regression memory model): see the patch
proposed with this feature (trainers/sweeps/{plan,results,run,dashboard}.py)."""
import csv

import numpy as np
import yaml

from scripts.scaling_laws import main as scaling_laws
from tests.scaling.helpers import ROOT
from trainers.cli import main



def test_sweep_writes_members_and_draws(tmp_path, capsys):
    cfg = yaml.safe_load(open(ROOT / "configs/scaling/cpu_sweep.yaml"))
    cfg["train"]["max_steps"] = 60
    cfg["sweep"]["grid"]["seed"] = [0, 1]
    cfg["sweep"]["grid"]["model.width"] = [8, 16]
    cfg["sweep"]["max_members"] = 10
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = main(["sweep", "--config", str(path), "--out_dir", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    run = next((tmp_path / "runs").iterdir())
    rows = list(csv.DictReader(open(run / "members.csv")))
    assert len(rows) == 2 * 3 * 2 * 2  # width x P x lr x seed
    for col in ["chunk", "chunk_member", "N", "P", "lr", "seed", "final_test_loss", "best_test_loss",
                "limit_test_loss", "theory_kind"]:
        assert col in rows[0], col
    assert len({r["chunk"] for r in rows}) == 3  # 24 members in chunks of at most 10, one group of shapes
    assert {(r["N"], r["P"], r["lr"]) for r in rows} == {(n, p, lr) for n in ("8", "16") for p in ("64", "128", "256")
                                                        for lr in ("0.1", "0.2")}
    r = rows[7]
    h = run / "chunks" / f"chunk_{int(r['chunk']):03d}" / "histories"
    assert np.load(h / "test_loss.npy")[int(r["chunk_member"]), -1] == float(r["final_test_loss"])
    assert np.isfinite(np.load(h / "theory_test_loss.npy")).all()
    grid = list(csv.DictReader(open(run / "grid.csv")))
    assert len(grid) == 24 and "mean_final_test_loss" in grid[0]
    capsys.readouterr()
    assert scaling_laws([str(run), "--boot", "10"]) == 0
    assert (run / "figures" / "scaling_frontier.svg").exists() and (run / "figures" / "scaling_data.png").exists()
