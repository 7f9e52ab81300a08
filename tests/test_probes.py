"""Representation measures recorded over training by the probe callback, and continued across a resume."""
import signal
from pathlib import Path

import numpy as np
import torch

from tests.test_resume import SignalAt
from trainers.fitting import run_fit
from trainers.members import expand
from trainers.typed import config_from_dict
from trainers.rundir import new_run_dir, write_config

LIU = {
    "name": "liu", "seeds": [0, 1],
    "task": {"operation": "liu_add", "p": 10, "train_size": 45},
    "model": {"name": "liu_toy", "width": 32, "depth": 3},
    "loss": {"name": "mse", "template_dim": 30},
    "optimizer": {"lr": 1e-3, "groups": {"decoder": {"lr": 1e-3}}},
    "train": {"max_steps": 120, "eval_every": 10, "progress": "none", "device": "cpu", "precision": "64",
              "checkpoint_every": 20},
    "probes": {"representation": True, "schedule": "linear", "every": 20},
    "wandb": {"mode": "disabled"},
}
NANDA = {
    "name": "nanda", "seeds": [0, 1, 2],
    "task": {"operation": "a+b", "p": 13, "train_fraction": 0.5},
    "model": {"name": "transformer", "d_model": 16, "n_heads": 2, "d_head": 8, "d_mlp": 32},
    "optimizer": {"lr": 3e-3, "weight_decay": 1.0, "betas": [0.9, 0.98]},
    "train": {"max_steps": 40, "eval_every": 10, "progress": "none", "device": "cpu"},
    "probes": {"representation": True, "schedule": "log", "points": 6},
    "wandb": {"mode": "disabled"},
}


def fit(tmp_path, cfg, name, callbacks=None, resume=False, run=None):
    cfg = config_from_dict({**cfg, "out_dir": str(tmp_path / name)})
    if run is None:
        run = new_run_dir(cfg.out_dir, cfg.name)
        write_config(run, cfg)
    run_fit(cfg, expand(cfg), run, resume=resume, callbacks=callbacks)
    return run


def load(run: Path) -> dict:
    return {p.stem: np.load(p) for p in (run / "histories").glob("repr_*.npy")}


def test_liu_measures_recorded(tmp_path):
    h = load(fit(tmp_path, LIU, "a"))
    assert h["repr_steps"].tolist() == list(range(0, 121, 20))
    for k in ("repr_rqi", "repr_l_eff_train", "repr_l_eff_all", "repr_predicted_test_acc", "repr_weight_norm",
              "repr_effective_rank", "repr_cka_init"):
        assert h[k].shape == (2, 7), k
    assert ((h["repr_rqi"] >= 0) & (h["repr_rqi"] <= 1)).all()
    assert np.allclose(h["repr_cka_init"][:, 0], 1.0)  # against itself at initialisation
    assert h["repr_cka_members"].shape == (7, 2, 2)
    assert "repr_softmax_collapse" not in h  # MSE outputs are not logits


def test_transformer_fourier_measures(tmp_path):
    h = load(fit(tmp_path, NANDA, "n"))
    T = len(h["repr_steps"])
    assert h["repr_fourier_embed"].shape == (3, T, 13 // 2 + 1)
    for k in ("repr_gini_embed", "repr_gini_unembed", "repr_restricted_loss", "repr_excluded_loss",
              "repr_key_frequencies", "repr_softmax_collapse"):
        assert h[k].shape == (3, T) and np.isfinite(h[k]).all(), k


def test_probe_history_survives_resume(tmp_path):
    full = load(fit(tmp_path, LIU, "full"))
    run = fit(tmp_path, LIU, "cut", callbacks=[SignalAt(50, signal.SIGINT)])
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 50
    fit(tmp_path, LIU, "cut", resume=True, run=run)
    resumed = load(run)
    assert resumed.keys() == full.keys()
    for k in full:
        np.testing.assert_array_equal(resumed[k], full[k], err_msg=k)


def test_spectra_recorded_for_every_layer_and_member(tmp_path):
    cfg = {**NANDA, "model": {**NANDA["model"], "d_model": 32, "d_mlp": 64},
           "probes": {"spectra": True, "schedule": "linear", "every": 20}}
    run = fit(tmp_path, cfg, "s")
    h = {p.stem: np.load(p) for p in (run / "histories").glob("spectra_*.npy")}
    assert h["spectra_steps"].tolist() == [0, 20, 40]
    for layer in ("embed.W_E", "attn.W_Q", "mlp.W_in", "mlp.W_out", "unembed.W_U"):
        a = h[f"spectra_{layer}__alpha"]
        assert a.shape == (3, 3) and np.isfinite(a).all() and (a > 1).all(), layer
        assert (h[f"spectra_{layer}__num_pl_spikes"] >= 1).all()


def test_figure_scripts_draw_from_the_run_directory(tmp_path, capsys):
    from scripts.representation import main as representation
    from scripts.spectra import main as spectra

    cfg = {**NANDA, "model": {**NANDA["model"], "d_model": 32, "d_mlp": 64},
           "probes": {"spectra": True, "representation": True, "schedule": "linear", "every": 20},
           "train": {**NANDA["train"], "snapshot_members": [1], "snapshot_points": 3}}
    run = fit(tmp_path, cfg, "f")
    assert representation([str(run), "--members", "0,1", "--report", "--pca", "1"]) == 0
    assert spectra([str(run), "--members", "0,2", "--esd", "1"]) == 0
    out = capsys.readouterr().out
    pngs = [line for line in out.splitlines() if line.endswith(".png")]
    assert any("embedding_pca_member1" in p for p in pngs) and any("esd_member1_blocks-0-mlp-W_in" in p for p in pngs)
    assert all(Path(p).stat().st_size > 0 for p in pngs) and "test_acc >= 0.9" in out
    assert spectra([str(run), "--esd", "0"]) == 2  # member 0 was not snapshotted: one-line error


def test_spectra_script_refuses_a_run_without_spectra_before_drawing(tmp_path, capsys):
    import shutil

    from scripts.spectra import main as spectra

    run = tmp_path / "fit"
    shutil.copytree(Path(__file__).resolve().parent / "fixtures" / "legacy" / "fit", run)
    assert spectra([str(run), "--esd", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no spectra histories" in err[0]
    assert not (run / "figures").exists()
