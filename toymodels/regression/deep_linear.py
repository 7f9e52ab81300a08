"""Deep linear networks (``toymodels.models.deep_linear``) trained by (S)GD on a linear task, every member at once:
a linear teacher with chosen singular values (``toymodels.tasks.linear_teacher``) or the power-law Gaussian task
(``toymodels.tasks.powerlaw``, scalar output).

Objective of member e, the mean over rows and output coordinates of the squared error:
    finite P (P_e rows):  (1/(B_e d_out)) sum_{rows i of its batch} |W x_i - y_i|^2      (B_e = P_e: full batch)
    population (P None):  (1/d_out) tr[(W - W*) Sigma (W - W*)^T] + sigma^2              (exact, no data)
with W = W_L ... W_1 the end-to-end map, Sigma = diag(eta) the input covariance (I for the linear teacher,
diag(k^-alpha) for the power-law task) and W* the teacher map (the power-law task: W* = wbar^T, d_out = 1).
For d_out = 1 this is the regression engines' (1/B) sum (f - y)^2. Parameters update as W_l <- W_l - lr_e grad.

Metrics (each [E] float64): train_loss = the objective on the whole training set (population: the population
loss); test_loss = the exact population loss above (label noise included: sigma^2 is its floor); excess_loss =
test_loss - sigma^2 = (1/d_out) |W - W*|_Sigma^2.

Theory link (``toymodels.theory.saxe``): for the linear teacher, the population gradient of layer l is
(2/d_out) (W_L..W_{l+1})^T (W - W*) (W_{l-1}..W_1)^T, i.e. Saxe et al.'s tau dW_l/dt = (...)^T (Sigma^31 - W) (...)^T
with t = the step count and tau = d_out / (2 lr) steps (``saxe.time_constant``). ``mode_strengths`` gives the
projections u_k = U_k^T W V_k of the end-to-end map on the teacher's singular vectors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..losses import member_mean
from ..models.deep_linear import EnsembleDeepLinear
from ..optim.base import EnsembleOptimizer
from ..tasks.batching import sample_positions
from ..tasks.linear_teacher import LinearTeacherTask
from ..tasks.powerlaw import PowerLawTask, sample_inputs, sample_noise
from ..theory import saxe
from .engine import RegeneratedDataEngine

F64 = torch.float64


@dataclass
class DeepLinearData:
    """Per-member data of a deep-linear ensemble, on the model's device.

    Always: W_star [E, d_out, d_in] (model dtype), eta [d_in] float64 (input covariance diagonal), sigma [E] float64,
    the teacher's modes U [E, d_out, r], V [E, d_in, r], s [E, r] (float64; linear teacher: r = min(d_in, d_out)
    with s = the chosen singular values then zeros, so U, V can also be a balanced init's frames; power-law task:
    U = 1 [1, M], V = I, s = wbar), checksum [E] float64.
    Finite P: X [E, P_max, d_in], Y [E, P_max, d_out] (model dtype, padding rows zero),
    valid [E, P_max] bool, n_train [E] int64; population loss: all four None."""

    W_star: torch.Tensor
    eta: torch.Tensor
    sigma: torch.Tensor
    U: torch.Tensor
    V: torch.Tensor
    s: torch.Tensor
    checksum: torch.Tensor
    X: torch.Tensor | None = None
    Y: torch.Tensor | None = None
    valid: torch.Tensor | None = None
    n_train: torch.Tensor | None = None


def _member(task, P: int | None, seed: int, noise_seed: int, teacher_seed: int, sigma: float, whiten: bool):
    """(W* [d_out, d_in], U [d_out, r], V [d_in, r], s [r], X [P, d_in] | None, Y [P, d_out] | None), float64."""
    if isinstance(task, PowerLawTask):
        W, M = task.wbar[None, :], task.M
        U, V, s = torch.ones(1, M, dtype=F64), torch.eye(M, dtype=F64), task.wbar
        if P is None:
            return W, U, V, s, None, None
        X = sample_inputs(task, P, [seed])[0]
        return W, U, V, s, X, (X @ task.wbar + sample_noise(P, [noise_seed], sigma)[0])[:, None]
    Uf, Vf = task.teacher(teacher_seed)
    W, r = task.teacher_map(Uf, Vf), min(task.dim, task.out_dim)
    s = torch.cat([task.s, torch.zeros(r - task.s.numel(), dtype=F64)])  # the chosen values, then zeros
    U, V = Uf[:, :r], Vf[:, :r]
    if P is None:
        return W, U, V, s, None, None
    X = task.inputs(P, seed, whiten)
    return W, U, V, s, X, X @ W.T + float(sigma) * task.noise(P, noise_seed)


def build_deep_linear_data(task: LinearTeacherTask | PowerLawTask, model: EnsembleDeepLinear,
                           P: Sequence[int] | None, data_seeds: Sequence[int], noise_seeds: Sequence[int],
                           teacher_seeds: Sequence[int], sigmas: Sequence[float] | None = None,
                           whiten: bool = False) -> DeepLinearData:
    """Every member's data (drawn in float64 on the CPU, one member at a time: set-up only). P None: the exact
    population loss (no rows). sigmas [E]: label-noise std per member (default: the task's)."""
    E, W0 = model.n_members, model.weights[0]
    dev, dtype = W0.device, W0.dtype
    d_in = task.M if isinstance(task, PowerLawTask) else task.dim
    d_out = 1 if isinstance(task, PowerLawTask) else task.out_dim
    if (model.in_dim, model.out_dim) != (d_in, d_out):
        raise ValueError(f"the model maps {model.in_dim} -> {model.out_dim}, the task {d_in} -> {d_out}")
    default = task.sigma if isinstance(task, PowerLawTask) else task.noise_std
    sigmas = [float(default)] * E if sigmas is None else [float(x) for x in sigmas]
    Ps = None if P is None else [int(p) for p in P]
    rows = [_member(task, None if Ps is None else Ps[e], int(data_seeds[e]), int(noise_seeds[e]),
                    int(teacher_seeds[e]), sigmas[e], whiten) for e in range(E)]
    stack = lambda i: torch.stack([m[i] for m in rows]).to(dev)  # noqa: E731
    W_star, U, V, s = stack(0), stack(1), stack(2), stack(3)
    checksum = W_star.sum((1, 2)).cpu()
    eta = task.eta if isinstance(task, PowerLawTask) else torch.ones(d_in, dtype=F64)
    data = DeepLinearData(W_star.to(dtype), eta.to(dev), torch.tensor(sigmas, dtype=F64, device=dev), U, V, s,
                          checksum)
    if Ps is None:
        data.checksum = data.checksum.to(dev)
        return data
    P_max = max(Ps)
    X, Y = torch.zeros(E, P_max, d_in, dtype=dtype), torch.zeros(E, P_max, d_out, dtype=dtype)
    for e, m in enumerate(rows):
        X[e, :Ps[e]], Y[e, :Ps[e]] = m[4].to(dtype), m[5].to(dtype)
        checksum[e] += m[4].sum() + m[5].sum()
    data.X, data.Y, data.checksum = X.to(dev), Y.to(dev), checksum.to(dev)
    data.n_train = torch.tensor(Ps, dtype=torch.int64, device=dev)
    data.valid = torch.arange(P_max, device=dev)[None, :] < data.n_train[:, None]
    return data


class DeepLinearEngine(RegeneratedDataEngine):
    def __init__(self, model: EnsembleDeepLinear, data: DeepLinearData, optimizer: EnsembleOptimizer,
                 batch_size: int | None = None, batch_seeds: torch.Tensor | None = None,
                 columns: dict[str, list] | None = None):
        if data.X is None and batch_size is not None:
            raise ValueError("the population loss has no rows to sample: full batch only (batch_size None)")
        super().__init__(model, optimizer, model.n_members, model.weights[0].device, batch_size, batch_seeds,
                         list(model.parameters()), columns)
        self.data = data
        self.mode = "population" if data.X is None else "rows"

    # ---- the objective ---------------------------------------------------------------------------------------------
    def population_loss(self, W: torch.Tensor | None = None) -> torch.Tensor:
        """(1/d_out) tr[(W - W*) Sigma (W - W*)^T] + sigma^2 [E] for end-to-end maps W [E, d_out, d_in]."""
        W = self.model.product() if W is None else W
        diff = W - self.data.W_star  # [E, d_out, d_in]
        eta = self.data.eta.to(diff.dtype)
        return (diff * diff * eta).sum((1, 2)) / diff.shape[1] + (self.data.sigma ** 2).to(diff.dtype)

    def _rows_loss(self, X: torch.Tensor, Y: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        err = self.model(X) - Y  # [E, B, d_out]
        return member_mean((err * err).mean(-1), valid)  # [E]

    def losses(self, step: int) -> torch.Tensor:
        d = self.data
        if self.mode == "population":
            return self.population_loss()
        if self.batch_size is None:
            return self._rows_loss(d.X, d.Y, d.valid)
        pos, valid = sample_positions(d.valid, d.n_train, self.batch_seeds, step, self.batch_size)  # [E, B]
        X = d.X.gather(1, pos[..., None].expand(-1, -1, d.X.shape[2]))
        Y = d.Y.gather(1, pos[..., None].expand(-1, -1, d.Y.shape[2]))
        return self._rows_loss(X, Y, valid)

    # ---- evaluation ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        d = self.data
        test = self.population_loss().to(F64)
        train = test if self.mode == "population" else self._rows_loss(d.X, d.Y, d.valid).to(F64)
        return {"train_loss": train, "test_loss": test, "excess_loss": test - d.sigma ** 2}

    @torch.no_grad()
    def mode_strengths(self) -> torch.Tensor:
        """u_k = U_k^T W V_k [E, r] float64: the end-to-end map on the teacher's singular vectors (Saxe et al.'s
        mode strengths; the teacher's are ``data.s``)."""
        W = self.model.product().to(F64)
        return torch.einsum("eok,eoi,eik->ek", self.data.U, W, self.data.V)

    def theory_curves(self, steps: torch.Tensor, u0: torch.Tensor | float) -> dict[str, torch.Tensor]:
        """Saxe et al.'s prediction at ``steps`` [T] for balanced init of strength u0 ([E] or scalar) aligned with
        the data's modes (``reset_parameters(..., frames=(data.U, data.V))``), from each member's lr (tau = d_out /
        (2 lr)): {"u": [E, r, T], "test_loss": [E, T]} float64. Exact for the flow on the population loss or on
        whitened rows without noise (with noise: replace data.U, V, s by the SVD of Y^T X / P first)."""
        d, E = self.data, self.n_members
        lr = self.optimizer.param_groups[0]["lr"].to("cpu", F64)  # [E]
        tau = saxe.time_constant(lr, self.model.out_dim)[:, None]  # [E, 1]
        s = d.s.to("cpu", F64)  # [E, r]
        u0 = torch.as_tensor(u0, dtype=F64).reshape(-1, 1).expand(E, s.shape[1])
        u = saxe.mode_ode(s, u0, steps, self.model.depth, tau)  # [E, r, T]
        W = torch.einsum("eok,ekt,eik->etoi", d.U.cpu(), u, d.V.cpu())  # [E, T, d_out, d_in]
        diff = W - d.W_star.to("cpu", F64)[:, None]
        test = (diff * diff * d.eta.cpu()).sum((2, 3)) / self.model.out_dim + (d.sigma.cpu() ** 2)[:, None]
        return {"u": u, "test_loss": test}

    def record_columns(self) -> dict[str, list]:
        return {**self.columns, "train_mode": [self.mode] * self.n_members, **self.extra_columns}


__all__ = ["DeepLinearData", "DeepLinearEngine", "build_deep_linear_data"]
