"""Bahri et al.'s scaling regimes: the variance-limited exponent is 1 in theory and in a tiny experiment, the
N = infinity limit is the kernel fit, and the figure script runs on a tiny sweep."""
import numpy as np
import pytest
import torch

from toymodels.tasks.powerlaw import PowerLawTask, population_loss, sample_dataset, sample_projection
from toymodels.theory.random_features import rf_theory, sigma_F2
from toymodels.theory.ridge import ridge_theory
from toymodels.theory.scaling import fit_power_law
from toymodels.theory.simulate import ridge_weights
from trainers.figures.bahri import bootstrap_fit, kernel_limit

F64 = torch.float64
TASK = PowerLawTask(320, 1.5, 1 / 6)  # a = 1.5, b = 1.5


def test_theory_variance_limited_exponents_are_one():
    eta, wbar = TASK.eta, TASK.wbar
    P = torch.tensor([256.0, 512, 1024, 2048], dtype=F64)
    dP = rf_theory(eta, wbar, torch.tensor(8.0, dtype=F64), P, 0.0).E_g - sigma_F2(eta, wbar, torch.tensor(8.0))
    N = torch.tensor([128.0, 256, 512, 1024], dtype=F64)
    dN = rf_theory(eta, wbar, N, torch.tensor(8.0, dtype=F64), 0.0).E_g - ridge_theory(eta, wbar, 8.0, 0.0).E_g
    assert abs(fit_power_law(P, dP)["exponent"] - 1) < 0.1
    assert abs(fit_power_law(N, dN)["exponent"] - 1) < 0.1


def test_tiny_experiment_variance_limited_in_P():
    """N = 4 features of a 32-dim task, P = 64..512 rows, 48 seeds: L(P) - L(P = inf) ~ P^-1."""
    task = PowerLawTask(32, 1.5, 1 / 6)
    seeds, N = list(range(48)), 4
    F = sample_projection(task.M, N, seeds)  # [S, M, N]
    A = task.eta.sqrt()[:, None] * F  # [S, M, N]
    b = (task.eta.sqrt() * task.wbar).expand(len(seeds), -1)[..., None]  # [S, M, 1]
    proj = ((A @ torch.linalg.lstsq(A, b).solution - b) ** 2).sum((1, 2))  # [S] the P = inf loss
    Ps = np.array([64, 128, 256, 512])
    Y = []
    for P in Ps:
        X, y = sample_dataset(task, int(P), seeds)
        w = ridge_weights(X, y, torch.zeros(1), F)[:, 0]  # [S, M] least squares (P > N)
        Y.append((population_loss(w, task.eta, task.wbar) - proj).numpy())
    fit = bootstrap_fit(Ps, np.stack(Y, 1), (64, 512), n_boot=200)
    assert abs(fit["exponent"] - 1) < 0.15 and fit["lo"] < fit["exponent"] < fit["hi"]


def test_wide_random_features_approach_the_kernel_limit():
    task, seeds, P = PowerLawTask(24, 1.5, 1 / 6), [0, 1, 2], 8
    X, y = sample_dataset(task, P, seeds)
    kern = kernel_limit(task, P, seeds)  # [S]
    gaps = []
    for N in (256, 4096):
        w = ridge_weights(X, y, torch.zeros(1), sample_projection(task.M, N, seeds))[:, 0]
        gaps.append(np.abs(population_loss(w, task.eta, task.wbar).numpy() - kern).mean())
    assert gaps[1] < 0.3 * gaps[0] and gaps[1] < 0.05 * kern.mean()  # fluctuations ~ N^-1/2


def test_bootstrap_fit_counts_nonpositive_resamples():
    x = np.array([1.0, 2, 4, 8])
    Y = np.stack([x ** -1.0 * (1 + s) for s in (1.0, -0.9, 0.5)])  # the second seed is tiny but positive
    Y[1, -1] = -0.1  # one seed negative at the last point; the mean stays positive
    f = bootstrap_fit(x, Y, (1, 8), n_boot=50)
    assert f["rejected"] > 0 and len(f["boots"]) == 50


@pytest.mark.slow
def test_regimes_script_on_a_tiny_sweep(tmp_path):
    import subprocess
    import sys
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("""name: bahri_tiny
task: {name: powerlaw, dim: 160, alpha: 1.5, r: 0.16666666666666666, noise_std: 0.0, train_size: 4}
model: {name: random_features, width: 4, per_mode_lr: true}
optimizer: {name: sgd, lr: 0.1}
train: {max_steps: 1, eval_schedule: log, eval_points: 2, precision: "64", device: cpu, threads: 1,
        checkpoint_every: 1000, progress: none}
wandb: {mode: disabled}
sweep:
  grid: {model.width: [4, 8, 16, 32, 64, 128], task.train_size: [4, 16, 64, 256, 1024],
         seed: [0, 1, 2, 3, 4, 5, 6, 7]}
""")
    subprocess.run([sys.executable, "-m", "trainers.cli", "sweep", "--config", str(cfg), f"--out_dir={tmp_path}"],
                   check=True, capture_output=True)
    run = next(p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("bahri_tiny"))
    png = tmp_path / "b.png"
    res = subprocess.run([sys.executable, "scripts/bahri_regimes.py", str(run), "--out", str(png)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert png.is_file() and "variance-limited in P (N = 4)" in out and "duality" in out
