"""The deep-linear family: deep linear networks W_L ... W_1 (``toymodels.models.deep_linear``) trained by (S)GD on a
linear teacher with chosen singular values (task linear_teacher) or on the power-law task, on rows (task.train_size
P) or on the exact population loss (train_size null), with Saxe, McClelland & Ganguli (2014)'s mode dynamics laid
over the measured loss (``toymodels.theory.saxe``).

Per member: width N (masked), init scale (balanced: the product's singular value u0; random: the weights' std
multiplier), lr, P, sigma, seeds of the init / data / noise / teacher / batch streams. Shared: depth L, the init kind,
the task. Objective: the mean over rows and outputs of the squared error (``toymodels.regression.deep_linear``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import numpy as np
import torch

from toymodels.errors import ConfigError
from toymodels.models.deep_linear import EnsembleDeepLinear
from toymodels.optim import EnsembleSGD
from toymodels.regression.deep_linear import DeepLinearEngine, build_deep_linear_data
from toymodels.tasks.linear_teacher import LinearTeacherTask
from toymodels.tasks.powerlaw import PowerLawTask

from ..callbacks.evaluations import relative_deviation
from ..config import RunConfig
from ..members import MemberTable
from .base import Family
from .regression_checks import check_positive_lr, check_squared_loss_and_filters, l2_lambdas

F64 = torch.float64


def _sizes(cfg: RunConfig) -> tuple[int, int]:
    """(d_in, d_out) of the task."""
    t = cfg.task
    return (int(t.dim), 1) if t.name == "powerlaw" else (int(t.dim), int(t.out_dim))


def whitened(cfg: RunConfig) -> bool:
    """Are each member's rows made exactly white (the linear_teacher task's ``whiten``)?"""
    return cfg.task.name == "linear_teacher" and cfg.task.whiten


def theory_applies(cfg: RunConfig, P: list, sigmas: list[float]) -> bool:
    """Saxe et al.'s dynamics are exact for the flow from a balanced init along the teacher's modes, on the
    population loss or on whitened noiseless rows (the discrete steps differ from the flow at first order in lr)."""
    m = cfg.model
    rows_ok = all(p is None for p in P) or (whitened(cfg) and all(s == 0 for s in sigmas))
    return m.init == "balanced" and m.init_align and rows_ok and cfg.train.batch_size is None


class SaxeOverlay(L.Callback):
    """Records each teacher mode's strength u_k = U_k^T W V_k at every evaluation and lays Saxe et al.'s
    prediction over the measured test loss. Writes histories/modes_u.npy [E, T, r] and histories/modes_s.npy [E, r]
    (the teacher's), histories/theory_test_loss.npy [E, T] and histories/theory_modes_u.npy [E, T, r] (when the
    theory applies; see ``theory_applies``), histories/theory.json (what they are), and members.csv columns
    theory_max_rel_err (the largest |measured / predicted - 1| of the test loss over the evaluations) and
    stage_step_<k> (the first evaluated step with u_k >= s_k / 2)."""

    def __init__(self, run_dir: Path, engine: DeepLinearEngine, u0: list[float], theory: bool):
        self.run_dir, self.engine, self.u0, self.theory = Path(run_dir), engine, u0, theory
        self.modes: torch.Tensor | None = None  # [n_sched, E, r] float64, NaN until recorded
        self.steps: list[int] | None = None  # the schedule ``modes`` follows

    def state_dict(self) -> dict:
        return {"modes": self.modes, "steps": torch.tensor(self.steps or [], dtype=torch.int64)}

    def load_state_dict(self, state: dict):
        self.modes, self.steps = state["modes"], [int(s) for s in state["steps"].tolist()]

    def _record(self, pl_module, step: int):
        i = pl_module._index.get(step)
        if i is not None:
            self.modes[i] = self.engine.mode_strengths().cpu()

    def on_train_start(self, trainer, pl_module):
        n, (E, r) = len(pl_module.schedule), self.engine.data.s.shape
        old, old_steps = self.modes, self.steps
        self.modes, self.steps = torch.full((n, E, r), math.nan, dtype=F64), list(pl_module.schedule)
        if old is not None and old.shape[1:] == (E, r):  # resumed, perhaps with another schedule
            for i, s in enumerate(old_steps):
                if s in pl_module._index:
                    self.modes[pl_module._index[s]] = old[i]
        if pl_module.global_step == 0:
            self._record(pl_module, 0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._record(pl_module, trainer.global_step)

    def on_train_end(self, trainer, pl_module):
        done = pl_module.evaluated.cpu().numpy()
        steps = np.asarray(pl_module.schedule)[done]
        h = self.run_dir / "histories"
        h.mkdir(parents=True, exist_ok=True)
        u = self.modes.numpy()[done].transpose(1, 0, 2).copy()  # [E, T, r]
        s = self.engine.data.s.cpu().numpy()  # [E, r]
        np.save(h / "modes_u.npy", u)
        np.save(h / "modes_s.npy", s)
        cols = self.engine.extra_columns
        for k in range(s.shape[1]):
            if not (s[:, k] > 0).any():  # the teacher's zero singular values have no stage
                continue
            half = u[:, :, k] >= s[:, k:k + 1] / 2
            cols[f"stage_step_{k}"] = [int(steps[np.argmax(row)]) if row.any() and s[e, k] > 0 else None
                                       for e, row in enumerate(half)]
        note = {"modes_u": "u_k = U_k^T W V_k per member, evaluation and teacher mode [E, T, r]",
                "modes_s": "the teacher's singular values s_k [E, r]"}
        if self.theory:
            th = self.engine.theory_curves(torch.as_tensor(steps, dtype=F64), torch.tensor(self.u0, dtype=F64))
            np.save(h / "theory_test_loss.npy", th["test_loss"].numpy())
            np.save(h / "theory_modes_u.npy", th["u"].numpy().transpose(0, 2, 1).copy())
            names = pl_module.metric_names
            test = pl_module.history[names.index("test_loss")].cpu().numpy()[done].T  # [E, T]
            err = relative_deviation(test, th["test_loss"].numpy())
            cols["theory_max_rel_err"] = np.nanmax(err, axis=1).tolist()
            note.update(theory_test_loss="Saxe et al.'s prediction of the test loss (the mode ODE from u0 with "
                                         "tau = d_out / (2 lr) steps) [E, T]",
                        theory_modes_u="the predicted mode strengths [E, T, r]")
        (h / "theory.json").write_text(json.dumps(note, indent=1))


class DeepLinear(Family):
    name = "deep_linear"
    tasks = ("linear_teacher", "powerlaw")
    models = ("deep_linear",)

    def validate(self, cfg: RunConfig, members: MemberTable):
        t, m = cfg.task, cfg.model
        if not (isinstance(m.depth, int) and m.depth >= 2):
            raise ConfigError("model.depth", f"a deep linear network has L >= 2 weight layers (got {m.depth})")
        if m.init == "random" and m.init_align:
            raise ConfigError("model.init_align", "aligns the balanced init; set it false for init random")
        d_in, d_out = _sizes(cfg)
        if not d_in >= 1:
            raise ConfigError("task.dim", f"must be >= 1 (got {t.dim})")
        if t.name == "linear_teacher":
            if not t.out_dim >= 1:
                raise ConfigError("task.out_dim", f"must be >= 1 (got {t.out_dim})")
            s = list(t.singular_values)
            if not s or len(s) > min(d_in, d_out) or not all(x >= 0 and math.isfinite(x) for x in s):
                raise ConfigError("task.singular_values", f"1 to min(dim, out_dim) = {min(d_in, d_out)} finite "
                                                          f"values >= 0 (got {s})")
        else:
            if not t.alpha > 1:
                raise ConfigError("task.alpha", f"must be > 1 (got {t.alpha})")
            if not t.r > 0:
                raise ConfigError("task.r", f"must be > 0 (got {t.r})")
        for P in members.column("task.train_size"):
            if P is not None and not P >= 1:
                raise ConfigError("task.train_size", f"P must be >= 1, or null for the population loss (got {P})")
            if P is None and cfg.train.batch_size is not None:
                raise ConfigError("train.batch_size", "the population loss has no rows to sample: leave it null "
                                                      "or set task.train_size")
        for s in members.column("task.noise_std"):
            if not s >= 0:
                raise ConfigError("task.noise_std", f"sigma must be >= 0 (got {s})")
        if cfg.optimizer.name != "sgd":
            raise ConfigError("optimizer.name", f"deep linear networks train by gradient descent: use sgd (got "
                                                f"{cfg.optimizer.name})")
        check_positive_lr(members)
        l2_lambdas(members)
        check_squared_loss_and_filters(cfg)
        for probe in ("representation", "spectra", "lazy_rich"):
            if getattr(cfg.probes, probe):
                raise ConfigError(f"probes.{probe}", "is not measured for deep linear networks; their mode "
                                                     "strengths are recorded at every evaluation")

    def estimate_bytes(self, cfg: RunConfig, members: MemberTable) -> int:
        """Weights with gradient and momentum [E, N, N] per layer, rows X, Y [E, P, d_in + d_out], the step's
        activations [E, B, N] per layer (kept for backward), the float64 set-up of one member's rows."""
        E, (d_in, d_out) = len(members), _sizes(cfg)
        N = max(int(w) for w in members.column("model.width"))
        P = max(int(p or 0) for p in members.column("task.train_size"))
        b = 8 if cfg.train.precision == "64" else 4
        L_ = int(cfg.model.depth)
        weights = 3 * E * (d_in * N + (L_ - 2) * N * N + N * d_out) * b
        rows = E * P * (d_in + d_out) * b
        B = cfg.train.batch_size or P
        acts = 2 * E * B * (L_ * N + d_out) * b
        return weights + rows + acts + P * (d_in + d_out) * 8 * 2

    def build_engine(self, cfg: RunConfig, members: MemberTable, device: torch.device) -> DeepLinearEngine:
        t, m, E = cfg.task, cfg.model, len(members)
        dtype = F64 if cfg.train.precision == "64" else torch.float32
        d_in, d_out = _sizes(cfg)
        if t.name == "powerlaw":
            task = PowerLawTask(d_in, float(t.alpha), float(t.r), 0.0)  # sigma is per member
        else:
            task = LinearTeacherTask(d_in, d_out, tuple(float(s) for s in t.singular_values), 0.0)
        N = [int(w) for w in members.column("model.width")]
        model = EnsembleDeepLinear(E, d_in, d_out, int(m.depth), N, m.init).to(device=device, dtype=dtype)
        P = members.column("task.train_size")
        P = None if all(p is None for p in P) else [int(p) for p in P]
        sigmas = [float(s) for s in members.column("task.noise_std")]
        data = build_deep_linear_data(task, model, P, members.stream_seeds("data"), members.stream_seeds("noise"),
                                      members.stream_seeds("teacher"), sigmas, whiten=whitened(cfg))
        u0 = [float(s) for s in members.column("model.init_scale")]
        frames = (data.U, data.V) if m.init == "balanced" and m.init_align else None
        model.reset_parameters(members.stream_seeds("init"), u0, frames)
        lr = [float(x) for x in members.column("optimizer.lr")]
        wd = [2 * lam for lam in l2_lambdas(members)]  # the L2 penalty: optimizer.weight_decay (alias model.ridge)
        optimizer = EnsembleSGD([{"params": list(model.parameters()), "name": "default"}], E, lr=lr, weight_decay=wd,
                                momentum=members.column("optimizer.momentum"), nesterov=cfg.optimizer.nesterov,
                                warmup_steps=members.column("optimizer.warmup_steps"))
        columns = {"d_in": [d_in] * E, "d_out": [d_out] * E, "depth": [int(m.depth)] * E, "N": N,
                   "P": P if P is not None else [None] * E, "lr": lr, "init": [m.init] * E, "u0": u0,
                   "noise_std": sigmas}
        return DeepLinearEngine(model, data, optimizer, cfg.train.batch_size,
                                torch.tensor(members.stream_seeds("batch"), dtype=torch.int64), columns)

    def callbacks(self, cfg: RunConfig, engine: DeepLinearEngine, run_dir: Path) -> list:
        c = engine.columns
        return [SaxeOverlay(run_dir, engine, c["u0"], theory_applies(cfg, c["P"], c["noise_std"]))]
