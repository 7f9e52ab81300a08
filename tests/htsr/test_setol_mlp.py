"""SETOL's MLP experiment: a tiny sweep of configs/setol/mlp_digits.yaml gives the per-layer table (checked against
the spectra of the final weights), the summary's statistics on known rows, and the figure."""
import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy.stats import spearmanr

from toymodels.metrics.spectra import analyze
from trainers.cli import main
from trainers.figures.setol import draw_setol, layer_summary, layer_table

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("setol")
    cfg = yaml.safe_load((ROOT / "configs/setol/mlp_digits.yaml").read_text())
    cfg["seeds"] = [0]
    cfg["model"]["width"] = 24
    cfg["train"].update(max_steps=15, device="cpu", eval_points=5, checkpoint_every=100)
    cfg["probes"]["points"] = 4
    cfg["sweep"]["grid"] = {"train.batch_size": [8, 32], "optimizer.lr": {"log": [0.01, 0.32, 2]}}
    (tmp / "s.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["sweep", "--config", str(tmp / "s.yaml"), "--out_dir", str(tmp / "runs")]) == 0
    return next((tmp / "runs").iterdir())


def test_layer_table_matches_the_final_weights(sweep_dir):
    rows = layer_table(sweep_dir)
    assert len(rows) == 4 * 3  # 2 batch sizes x 2 lrs x 1 seed, 3 weight matrices each
    assert {(r["train.batch_size"], round(r["optimizer.lr"], 4)) for r in rows} == {(8, 0.01), (8, 0.32),
                                                                                    (32, 0.01), (32, 0.32)}
    assert {r["step"] for r in rows} == {15}
    members = {int(m["member"]): m for m in csv.DictReader(open(sweep_dir / "members.csv"))}
    for r in rows:
        m = members[r["member"]]
        assert r["test_acc"] == pytest.approx(float(m["final_test_acc"]))
        ckpt = torch.load(sweep_dir / "chunks" / f"chunk_{int(m['chunk']):03d}" / "checkpoints" / "last.ckpt",
                          map_location="cpu", weights_only=True)
        k = int(r["layer"].split(".")[-1])
        W = ckpt["state_dict"][f"model.weights.{k}"][int(m["chunk_member"])]
        want = analyze({"W": W[None]}, mp_fit=False, randomize=False, detX=True)["W"]
        assert r["alpha"] == pytest.approx(float(want["alpha"][0]), rel=1e-6, nan_ok=True)
        assert r["alpha_hat"] == pytest.approx(float(want["alpha_weighted"][0]), rel=1e-6, nan_ok=True)
        assert r["detX_delta"] == pytest.approx(float(want["detX_delta"][0]), rel=1e-6, abs=1e-9, nan_ok=True)


def test_script_writes_table_summary_and_figure(sweep_dir, capsys):
    from scripts.setol_mlp import main as script

    # 15 steps fit nothing: with the default threshold every member is left out of the statistics
    assert script([str(sweep_dir)]) == 0
    summary = list(csv.DictReader(open(sweep_dir / "setol_summary.csv")))
    assert [(s["layer"], s["members"], s["excluded"]) for s in summary] == [
        ("weights.0", "0", "4"), ("weights.1", "0", "4"), ("weights.2", "0", "4")]
    assert script([str(sweep_dir), "--min-train-acc", "0"]) == 0
    out = capsys.readouterr().out
    assert (sweep_dir / "setol_layers.csv").exists() and (sweep_dir / "figures" / "setol_mlp.png").stat().st_size
    summary = list(csv.DictReader(open(sweep_dir / "setol_summary.csv")))
    assert [(s["layer"], s["members"]) for s in summary] == [("weights.0", "4"), ("weights.1", "4"), ("weights.2", "4")]
    assert "rho_test_acc_alpha=" in out


def test_summary_statistics_on_known_rows(tmp_path):
    alpha = np.array([1.2, 1.6, 2.05, 2.6, 3.5, 5.0])
    acc = 0.9 - 0.1 * np.abs(alpha - 2)  # best at alpha closest to 2
    dx = alpha - 2.1  # detX_delta rising with alpha, zero near 2.1
    lr, batch = np.array([0.01, 0.02, 0.04] * 2), np.array([8] * 3 + [32] * 3)
    rows = [{"layer": "L", "alpha": a, "alpha_hat": 2 * a, "test_acc": c, "detX_delta": d, "optimizer.lr": l,
             "train.batch_size": b, "train_acc": 1.0} for a, c, d, l, b in zip(alpha, acc, dx, lr, batch)]
    # a member that did not fit its training set: left out of the statistics, however good its other numbers
    rows.append({**rows[2], "alpha": 2.0, "test_acc": 0.99, "detX_delta": 0.0, "train_acc": 0.5})
    s = layer_summary(rows)[0]
    assert s["members"] == 6 and s["excluded"] == 1 and s["best_test_acc"] == pytest.approx(acc.max())
    assert s["alpha_of_best"] == 2.05 and s["alpha_closest_to_2"] == 2.05 and s["rank_of_alpha_closest_to_2"] == 1
    assert s["rho_test_acc_abs_alpha_minus_2"] == pytest.approx(-1.0)
    assert s["rho_detX_delta_alpha"] == pytest.approx(1.0)
    assert s["alpha_at_min_abs_detX_delta"] == 2.05
    assert -1 < s["rho_test_acc_alpha"] < 0  # non-monotone in alpha itself
    want = spearmanr(lr / batch, alpha).statistic
    assert s["rho_alpha_lr_over_batch"] == pytest.approx(want) and abs(want) < 1
    assert draw_setol(rows, tmp_path / "f.png").stat().st_size > 0
