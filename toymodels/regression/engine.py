"""One ensemble of regression / random-feature models trained by gradient descent, in plain PyTorch.

The interface is ``toymodels.engine.EnsembleEngine``'s (the Lightning module and scripts drive either):
``train_step`` (each member's batch, per-member losses, one backward of their sum, divergence guard, optimiser),
``evaluate`` (-> {"metrics": {name: [E]}}), ``state_dict`` / ``load_state_dict``, ``record_columns``.

Objective of member e (the normalisation the theory's GD curves assume, ``toymodels.theory.gd_curves``):
    (1/B_e) sum_{rows i of its batch} (v . z_i - y_i)^2 + lambda_e |v|^2,   v <- v - lr_e * gradient,
with B_e = P_e for full-batch GD (each member divided by its own P, never by P_max) and the member's own
minibatch of B rows for SGD (``toymodels.tasks.batching.sample_batch``: per-member epochs, counter-based, nothing to
restore but the step). The gradient carries the factor 2: 2 lr s_+ < 2 is GD's stability limit.

Metrics (each [E]): train_loss = (1/P_e)|y - Z v|^2 on the whole training set (no ridge term); test_loss = the
exact population loss E_g + sigma^2 with E_g = (F v - wbar)^T Sigma (F v - wbar) for linear features (no test
sampling), else the mean squared error on the member's held-out rows; excess_loss = test_loss - sigma^2.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..losses import member_mean
from ..models.random_features import EnsembleRandomFeatures
from ..optim.base import EnsembleOptimizer
from ..optim.guard import load_diverged, mark_diverged, member_finite
from ..tasks.batching import sample_batch
from ..tasks.splits import MemberSplit
from .data import RegressionData
from .limit import closed_form_limit, projection_loss

F64 = torch.float64


def guarded_update(engine, loss: torch.Tensor, backward: Callable[[torch.Tensor], None] | None = None,
                   optimizer_step: Callable[[], None] | None = None, *, step: int) -> torch.Tensor:
    """Backward of the per-member loss [E] (summed: members never share a scale), freeze the members whose loss,
    gradients or parameters are not finite (``engine.diverged`` [E]), then the optimiser step; returns loss.detach().
    ``engine`` has ``optimizer``, ``params`` and ``diverged`` (RegressionEngine, TwoLayerEngine)."""
    engine.optimizer.zero_grad(set_to_none=False)
    (backward or (lambda t: t.backward()))(loss.sum())
    with torch.no_grad():
        ok = member_finite([loss] + [p.grad for p in engine.params] + engine.params)
        mark_diverged(engine.diverged, engine.diverged_step, ok, step)  # step: the training step (0-based)
        engine.optimizer.set_active(~engine.diverged)
    (optimizer_step or engine.optimizer.step)()
    return loss.detach()


class SquaredLoss(nn.Module):
    """The regression head: per-row squared error (no parameters, nothing to checkpoint)."""

    kind = "regression"

    def row_loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [E, B] -> [E, B]
        return (pred - y) ** 2


class RegeneratedDataState:
    """The checkpoint part of an engine whose training data are regenerated from seeds (RegressionEngine,
    TwoLayerEngine): beyond model and optimiser, the diverged flags [E], the minibatch seeds (the step is
    Lightning's) and a fingerprint of the data (rebuilt from seeds, never stored), checked on load."""

    def state_dict(self) -> dict:
        return {"diverged": self.diverged, "diverged_step": self.diverged_step, "batch_seeds": self.batch_seeds, "checksum": self.data.checksum}

    def load_state_dict(self, state: dict):
        if not torch.equal(state["batch_seeds"].cpu(), self.batch_seeds.cpu()):
            raise ValueError("the checkpoint's minibatch seeds differ from this run's members")
        if not torch.allclose(state["checksum"].cpu(), self.data.checksum.cpu(), rtol=1e-9, atol=1e-9):
            raise ValueError("the regenerated training data differ from the checkpoint's (seeds or code changed)")
        load_diverged(self, state)


class RegressionEngine(RegeneratedDataState):
    metric_names = ("train_loss", "test_loss", "excess_loss")

    def __init__(self, model: EnsembleRandomFeatures, data: RegressionData, optimizer: EnsembleOptimizer,
                 ridge: torch.Tensor, batch_size: int | None = None, batch_seeds: torch.Tensor | None = None,
                 columns: dict[str, list] | None = None):
        self.model, self.data, self.optimizer, self.head = model, data, optimizer, SquaredLoss()
        E, dev = model.n_members, model.v.device
        self.ridge = torch.as_tensor(ridge, dtype=F64).to(dev)  # [E] lambda
        self.batch_size = batch_size
        self.batch_seeds = (batch_seeds if batch_seeds is not None else torch.arange(E)).to(dev)
        self.diverged = torch.zeros(E, dtype=torch.bool, device=dev)
        self.diverged_step = torch.full((E,), -1, dtype=torch.int64, device=dev)  # first frozen step, -1: never
        self.params = [model.v]
        P_max = data.y.shape[1]
        idx = torch.arange(P_max, device=dev).expand(E, P_max)  # each member indexes its own rows
        self.split = MemberSplit(data.valid, torch.zeros_like(data.valid), idx, data.valid, data.n_train)
        self.columns = dict(columns or {})  # settings for members.csv (N, P, lr, ...)
        self.extra_columns: dict[str, list] = {}  # outcomes added by callbacks (gap, theory)
        self._limit: dict[str, torch.Tensor] | None = None

    @property
    def n_members(self) -> int:
        return self.model.n_members

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z [E, B, N_max], y [E, B], valid [E, B]) of training step ``step``; full batch: every member's rows."""
        d = self.data
        if self.batch_size is None:
            return d.Z, d.y, d.valid
        idx, valid = sample_batch(self.split, self.batch_seeds, step, self.batch_size)  # [E, B]
        z = d.Z.gather(1, idx[..., None].expand(-1, -1, d.Z.shape[2]))
        return z, d.y.gather(1, idx), valid

    def losses(self, step: int) -> torch.Tensor:
        """Per-member objective [E] on the step's batch: mean squared error over its own rows + lambda |v|^2."""
        z, y, valid = self.batch(step)
        data_loss = member_mean(self.head.row_loss(self.model.readout(z), y), valid)
        return data_loss + self.ridge.to(data_loss.dtype) * (self.model.v ** 2).sum(-1)

    def train_step(self, step: int, backward: Callable[[torch.Tensor], None] | None = None,
                   optimizer_step: Callable[[], None] | None = None) -> torch.Tensor:
        """One update of every active member; returns the per-member objective [E] before the update."""
        return guarded_update(self, self.losses(step), backward, optimizer_step, step=step)

    # ---- losses of any readout v [E, N_max] (the trained one, or the closed-form limit) ----------------------------
    def train_loss_of(self, v: torch.Tensor) -> torch.Tensor:
        d = self.data
        return member_mean(self.head.row_loss(self.model.readout(d.Z, v.to(d.Z.dtype)), d.y), d.valid)

    def test_loss_of(self, v: torch.Tensor) -> torch.Tensor:
        """Test loss against a noisy label [E]: exact population loss (linear features) or held-out MSE."""
        d = self.data
        if d.Z_test is not None:
            return self.head.row_loss(self.model.readout(d.Z_test, v.to(d.Z_test.dtype)), d.y_test).mean(1)
        w = self.model.input_weights(v.to(self.model.v.dtype)).to(F64)  # [E, M]
        diff = w - d.wbar
        return (diff * diff * d.eta).sum(-1) + d.sigma ** 2

    @torch.no_grad()
    def evaluate(self) -> dict[str, dict[str, torch.Tensor]]:
        v = self.model.v
        test = self.test_loss_of(v).to(F64)
        return {"metrics": {"train_loss": self.train_loss_of(v).to(F64), "test_loss": test,
                            "excess_loss": test - self.data.sigma ** 2}}

    # ---- t -> infinity ---------------------------------------------------------------------------------------------
    def limit(self) -> dict[str, torch.Tensor]:
        """The t -> infinity limit of every member's GD from zero: ridge at its lambda (lambda = 0: the min-norm
        interpolator / least squares), in closed form on its own data. {"v" [E, N_max], "train_loss",
        "test_loss" [E], "spectra" [E, r]: eigenvalues of Z^T Z / P, "projection_test_loss" [E]: the P, t -> infinity
        loss of linear features} (cached; deterministic: nothing to checkpoint)."""
        if self._limit is None:
            v, s = closed_form_limit(self.data, self.ridge)
            self._limit = {"v": v, "train_loss": self.train_loss_of(v).to(F64),
                           "test_loss": self.test_loss_of(v).to(F64), "spectra": s,
                           "projection_test_loss": projection_loss(self.model, self.data.eta, self.data.wbar,
                                                                   self.data.sigma)}
        return self._limit

    @property
    def record_columns(self) -> dict[str, list]:
        """members.csv columns: the settings (N, P, lr, ...), the t -> infinity limit, and callbacks' outcomes."""
        lim = self.limit()
        out = dict(self.columns)
        out["limit_train_loss"] = lim["train_loss"].cpu().tolist()
        out["limit_test_loss"] = lim["test_loss"].cpu().tolist()
        out["projection_test_loss"] = lim["projection_test_loss"].cpu().tolist()
        out.update(self.extra_columns)
        return out
