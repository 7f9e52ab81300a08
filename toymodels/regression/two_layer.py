"""Two-layer networks (``toymodels.models.two_layer``) trained by (S)GD on a regression task -- power-law Gaussian
data (``toymodels.tasks.powerlaw``) or a two-layer teacher (``toymodels.tasks.teacher``) -- every member at once.

Same interface as ``RegressionEngine`` (``train_step``, ``evaluate`` -> {"metrics": {name: [E]}}, ``state_dict``,
``record_columns``), same objective normalisation: member e minimises (1/B_e) sum_{its rows} (f(x) - f0(x) - y)^2
(B_e = P_e for full batch, each member divided by its own P), with f0 the network at its initial weights (the
centring; precomputed on the fixed training and held-out rows).

Member e's rows are the ones the random-feature engine gives a member with the same seeds: inputs from stream "data"
of its data seed, label noise from "noise", held-out rows from "heldout" / "heldout_noise" (``data.heldout``);
teacher weights from stream "teacher".

Two training modes, both exact full-batch or minibatch GD on the same loss:
  "rows"  the network on the rows (any activation; minibatch SGD; float32 or float64);
  "gram"  linear activation, full batch, float64: f(x) = x . beta with beta = c m W a, so the training loss is
          beta^T S beta - 2 beta . c_xy + (1/P)|y|^2 with S = X^T X / P, c_xy = X^T y / P computed once; a step
          costs O(M^2 + M N) instead of O(P M N) (same gradients up to rounding; tests/two_layer checks it).
Test loss: exact population loss (beta - wbar)^T Sigma (beta - wbar) + sigma^2 when both the network and the target
are linear (power-law task; linear teacher), else the mean squared error on the member's held-out rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Sequence

import torch

from ..losses import member_mean
from ..models.two_layer import EnsembleTwoLayer
from ..optim.base import EnsembleOptimizer
from ..rng import generator
from ..tasks.batching import sample_batch
from ..tasks.powerlaw import PowerLawTask, sample_inputs, sample_noise
from ..tasks.splits import MemberSplit
from ..tasks.teacher import TeacherTask
from .data import heldout
from .engine import RegeneratedDataState, SquaredLoss, guarded_update

F64 = torch.float64


@dataclass
class NetworkData:
    """Per-member training data of a two-layer regression ensemble (padding rows invalid and zero).

    rows mode: X [E, P_max, M], y [E, P_max], f0 [E, P_max]; gram mode: S [E, M, M], c [E, M], yy [E], beta0 [E, M]
    (X, y, f0 None). Always: valid [E, P_max] bool, n_train [E] int64, probe_x [E, R, M], probe_y [E, R] (each
    member's first R training rows, for the lazy-rich measures), sigma [E], checksum [E] float64. Held-out rows
    X_test [E, T, M], y_test, f0_test [E, T] unless the population loss is exact: then eta [M] (the input
    covariance's diagonal) and wbar [E, M] (each member's linear target)."""

    valid: torch.Tensor
    n_train: torch.Tensor
    probe_x: torch.Tensor
    probe_y: torch.Tensor
    sigma: torch.Tensor
    checksum: torch.Tensor
    X: torch.Tensor | None = None
    y: torch.Tensor | None = None
    f0: torch.Tensor | None = None
    S: torch.Tensor | None = None
    c: torch.Tensor | None = None
    yy: torch.Tensor | None = None
    beta0: torch.Tensor | None = None
    X_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    f0_test: torch.Tensor | None = None
    eta: torch.Tensor | None = None
    wbar: torch.Tensor | None = None

    table = SimpleNamespace(n_classes=1)  # the Lightning layer asks for it when loss.name is "mse"


def _member_rows(task, P: int, T: int, seed: int, noise_seed: int, teacher_seed: int, sigma: float):
    """(X [P, M], y [P], X_test [T, M] or None, y_test [T] or None, linear target [M] or None), float64 CPU."""
    if isinstance(task, PowerLawTask):
        X = sample_inputs(task, P, [seed])[0]
        y = X @ task.wbar + sample_noise(P, [noise_seed], sigma)[0]
        Xt, yt = heldout(task, T, seed, noise_seed, sigma) if T else (None, None)
        return X, y, Xt, yt, task.wbar
    Wt, at = task.teacher(teacher_seed)
    X = task.inputs(P, seed)
    y = task.clean_labels(X, Wt, at) + sample_noise(P, [noise_seed], sigma)[0]
    Xt = yt = None
    if T:
        Xt = task.inputs(T, seed, "heldout")
        eps = torch.randn(T, generator=generator(noise_seed, "heldout_noise"), dtype=F64)
        yt = task.clean_labels(Xt, Wt, at) + float(sigma) * eps
    return X, y, Xt, yt, task.linear_weights(Wt, at)


def task_covariance(task) -> torch.Tensor:
    """Diagonal of the input covariance [M] float64."""
    return task.eta if isinstance(task, PowerLawTask) else torch.ones(task.D, dtype=F64)


def build_network_data(task: PowerLawTask | TeacherTask, model: EnsembleTwoLayer, P: Sequence[int],
                       data_seeds: Sequence[int], noise_seeds: Sequence[int], teacher_seeds: Sequence[int],
                       sigmas: Sequence[float], test_size: int | None, gram: bool, probe_rows: int = 256) -> NetworkData:
    """Every member's data on the model's device and dtype (drawn in float64 on the CPU, one member at a time; set-up
    only). ``gram``: keep the sufficient statistics instead of the rows (linear activation, full batch)."""
    E, dev, dtype = model.n_members, model.W.device, model.W.dtype
    P = [int(p) for p in P]
    P_max, M = max(P), model.in_dim
    R = min(int(probe_rows), min(P))
    linear_net = model.act_name == "linear"
    exact = linear_net and (isinstance(task, PowerLawTask) or task.act == "linear")
    T = 0 if exact else int(test_size or 0)
    if not exact and T < 1:
        raise ValueError("a nonlinear network or target needs held-out rows (test_size >= 1)")
    z = lambda *s: torch.zeros(*s, dtype=dtype, device=dev)  # noqa: E731
    out = dict(X=None if gram else z(E, P_max, M), y=None if gram else z(E, P_max),
               S=z(E, M, M) if gram else None, c=z(E, M) if gram else None, yy=z(E) if gram else None,
               X_test=z(E, T, M) if T else None, y_test=z(E, T) if T else None,
               wbar=z(E, M).to(F64) if exact else None)
    probe_x, probe_y, checksum = z(E, R, M), z(E, R), torch.zeros(E, dtype=F64)
    keys = [(int(data_seeds[e]), int(noise_seeds[e]), int(teacher_seeds[e]), float(sigmas[e]), P[e]) for e in range(E)]
    cache: dict[tuple, tuple] = {}
    for e in sorted(range(E), key=lambda i: keys[i]):  # members sharing seeds and sizes share rows (and statistics)
        key = keys[e]
        if key not in cache:  # one member's rows in memory at a time
            cache.clear()
            X, y, Xt, yt, w = _member_rows(task, P[e], T, *key[:4])
            stats = (X.T @ X / P[e], X.T @ y / P[e], (y @ y) / P[e]) if gram else None
            cache[key] = (X, y, Xt, yt, w, stats)
        X, y, Xt, yt, w, stats = cache[key]
        if gram:
            out["S"][e], out["c"][e], out["yy"][e] = (s.to(device=dev, dtype=dtype) for s in stats)
        else:
            out["X"][e, :P[e]], out["y"][e, :P[e]] = X.to(device=dev, dtype=dtype), y.to(device=dev, dtype=dtype)
        if T:
            out["X_test"][e], out["y_test"][e] = Xt.to(device=dev, dtype=dtype), yt.to(device=dev, dtype=dtype)
        if exact:
            out["wbar"][e] = w.to(dev)
        probe_x[e], probe_y[e] = X[:R].to(device=dev, dtype=dtype), y[:R].to(device=dev, dtype=dtype)
        checksum[e] = X.sum() + y.sum()
    valid = torch.arange(P_max, device=dev)[None, :] < torch.tensor(P, device=dev)[:, None]
    data = NetworkData(valid, torch.tensor(P, dtype=torch.int64, device=dev), probe_x, probe_y,
                       torch.as_tensor([float(s) for s in sigmas], dtype=F64, device=dev), checksum.to(dev), **out)
    if exact:
        data.eta = task_covariance(task).to(dev)
    with torch.no_grad():  # the centring: f0 on every fixed row, once
        if gram:
            data.beta0 = model.effective_weights(model.W0, model.a0)[..., 0]  # [E, M]
        else:
            data.f0 = model.initial_output(data.X)[..., 0]
        if T:
            data.f0_test = model.initial_output(data.X_test)[..., 0]
    return data


class TwoLayerEngine(RegeneratedDataState):
    metric_names = ("train_loss", "test_loss", "excess_loss")

    def __init__(self, model: EnsembleTwoLayer, data: NetworkData, optimizer: EnsembleOptimizer,
                 batch_size: int | None = None, batch_seeds: torch.Tensor | None = None,
                 columns: dict[str, list] | None = None):
        self.model, self.data, self.optimizer, self.head = model, data, optimizer, SquaredLoss()
        E, dev = model.n_members, model.W.device
        self.mode = "gram" if data.S is not None else "rows"
        if self.mode == "gram" and batch_size is not None:
            raise ValueError("the gram mode is full-batch GD only")
        self.batch_size = batch_size
        self.batch_seeds = (batch_seeds if batch_seeds is not None else torch.arange(E)).to(dev)
        self.diverged = torch.zeros(E, dtype=torch.bool, device=dev)
        self.diverged_step = torch.full((E,), -1, dtype=torch.int64, device=dev)  # first frozen step, -1: never
        self.params = [model.W, model.a]
        P_max = data.valid.shape[1]
        idx = torch.arange(P_max, device=dev).expand(E, P_max)
        self.split = MemberSplit(data.valid, torch.zeros_like(data.valid), idx, data.valid, data.n_train)
        self.columns = dict(columns or {})
        self.extra_columns: dict[str, list] = {}  # outcomes added by callbacks (lazy-rich measures)

    @property
    def n_members(self) -> int:
        return self.model.n_members

    # ---- the objective ---------------------------------------------------------------------------------------------
    def _rows_loss(self, X: torch.Tensor, y: torch.Tensor, f0: torch.Tensor, valid: torch.Tensor | None):
        pred = self.model.raw(X)[..., 0] - f0 if self.model.center else self.model.raw(X)[..., 0]  # [E, B]
        return member_mean(self.head.row_loss(pred, y), valid)

    def _gram_loss(self) -> torch.Tensor:
        d = self.data
        beta = self.model.effective_weights()[..., 0]  # [E, M]
        if self.model.center:
            beta = beta - d.beta0
        Sb = torch.bmm(d.S, beta[..., None])[..., 0]
        return (beta * Sb).sum(-1) - 2 * (beta * d.c).sum(-1) + d.yy

    def losses(self, step: int) -> torch.Tensor:
        """Per-member training loss [E] on the step's batch (full batch: every member's own rows)."""
        if self.mode == "gram":
            return self._gram_loss()
        d = self.data
        if self.batch_size is None:
            return self._rows_loss(d.X, d.y, d.f0, d.valid)
        idx, valid = sample_batch(self.split, self.batch_seeds, step, self.batch_size)  # [E, B]
        X = d.X.gather(1, idx[..., None].expand(-1, -1, d.X.shape[2]))
        return self._rows_loss(X, d.y.gather(1, idx), d.f0.gather(1, idx), valid)

    def train_step(self, step: int, backward: Callable[[torch.Tensor], None] | None = None,
                   optimizer_step: Callable[[], None] | None = None) -> torch.Tensor:
        """One update of every active member; returns the per-member loss [E] before the update."""
        return guarded_update(self, self.losses(step), backward, optimizer_step, step=step)

    # ---- evaluation -----------------------------------------------------------------------------------------------
    def beta(self) -> torch.Tensor:
        """The (centred) input-space weights of linear networks [E, M]."""
        beta = self.model.effective_weights()[..., 0]
        if self.model.center:
            beta = beta - self.model.effective_weights(self.model.W0, self.model.a0)[..., 0]
        return beta

    @torch.no_grad()
    def evaluate(self) -> dict[str, dict[str, torch.Tensor]]:
        d = self.data
        train = self._gram_loss() if self.mode == "gram" else self._rows_loss(d.X, d.y, d.f0, d.valid)
        if d.wbar is not None:
            diff = self.beta().to(F64) - d.wbar
            test = (diff * diff * d.eta).sum(-1) + d.sigma ** 2
        else:
            test = self._rows_loss(d.X_test, d.y_test, d.f0_test, None)
        test = test.to(F64)
        return {"metrics": {"train_loss": train.to(F64), "test_loss": test, "excess_loss": test - d.sigma ** 2}}

    def probe_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x [E, R, M], y [E, R]): each member's first R training rows, for the lazy-rich measures."""
        return self.data.probe_x, self.data.probe_y

    @property
    def record_columns(self) -> dict[str, list]:
        return {**self.columns, "train_mode": [self.mode] * self.n_members, **self.extra_columns}
