"""One ensemble of regression / random-feature models trained by gradient descent, in plain PyTorch.

The engine contract is ``toymodels.engines.EnsembleEngine``'s: this file gives the objective (``losses``), the
metrics (``evaluate`` -> {name: [E]}), the members.csv columns and the t -> infinity limit.

Objective of member e (the normalisation the theory's GD curves assume, ``toymodels.theory.gd_curves``):
    (1/B_e) sum_{rows i of its batch} (v . z_i - y_i)^2 + lambda_e |v|^2,   v <- v - lr_e * gradient,
with B_e = P_e for full-batch GD (each member divided by its own P, never by P_max) and the member's own
minibatch of B rows for SGD (``toymodels.tasks.batching.sample_positions``: per-member epochs, counter-based, nothing to
restore but the step). The gradient carries the factor 2: 2 lr s_+ < 2 is GD's stability limit.

Metrics (each [E]): train_loss = (1/P_e)|y - Z v|^2 on the whole training set (no ridge term); test_loss = the
exact population loss E_g + sigma^2 with E_g = (F v - wbar)^T Sigma (F v - wbar) for linear features (no test
sampling), else the mean squared error on the member's held-out rows; excess_loss = test_loss - sigma^2.
"""
from __future__ import annotations

import torch
from torch import nn

from ..engines.base import EnsembleEngine
from ..losses import member_mean
from ..models.random_features import EnsembleRandomFeatures
from ..optim.base import EnsembleOptimizer
from ..tasks.batching import sample_positions
from ..tasks.powerlaw import PowerLawTask
from .data import RegressionData
from .limit import closed_form_limit, projection_loss
from .theory import MemberSpec

F64 = torch.float64


class SquaredLoss(nn.Module):
    """The regression head: per-row squared error (no parameters, nothing to checkpoint)."""

    kind = "regression"

    def row_loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [E, B] -> [E, B]
        return (pred - y) ** 2


class RegeneratedDataEngine(EnsembleEngine):
    """An engine whose training data are regenerated from seeds (RegressionEngine, TwoLayerEngine, deep linear
    networks): its checkpoint holds a fingerprint of the data (``data.checksum`` [E], rebuilt from seeds, never
    stored), checked on load."""

    data: object  # has ``checksum`` [E] float64
    # every regression engine reports the training objective's data term, the test loss against noisy labels, and
    # the test loss less the noise floor sigma^2
    metric_names = ("train_loss", "test_loss", "excess_loss")

    def extra_state(self) -> dict:
        return {"checksum": self.data.checksum}

    def load_extra_state(self, state: dict):
        if not torch.allclose(state["checksum"].cpu(), self.data.checksum.cpu(), rtol=1e-9, atol=1e-9):
            raise ValueError("the regenerated training data differ from the checkpoint's (seeds or code changed)")


class RegressionEngine(RegeneratedDataEngine):
    def __init__(self, model: EnsembleRandomFeatures, data: RegressionData, optimizer: EnsembleOptimizer,
                 ridge: torch.Tensor, batch_size: int | None = None, batch_seeds: torch.Tensor | None = None,
                 columns: dict[str, list] | None = None):
        super().__init__(model, optimizer, model.n_members, model.v.device, batch_size, batch_seeds, [model.v],
                         columns)
        self.data, self.loss = data, SquaredLoss()
        self.ridge = torch.as_tensor(ridge, dtype=F64).to(model.v.device)  # [E] lambda
        self.task: PowerLawTask | None = None  # the task and members' theory settings (theory callbacks)
        self.spec: MemberSpec | None = None
        self._limit: dict[str, torch.Tensor] | None = None

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z [E, B, N_max], y [E, B], valid [E, B]) of training step ``step``; full batch: every member's rows."""
        d = self.data
        if self.batch_size is None:
            return d.Z, d.y, d.valid
        idx, valid = sample_positions(d.valid, d.n_train, self.batch_seeds, step, self.batch_size)  # [E, B]
        z = d.Z.gather(1, idx[..., None].expand(-1, -1, d.Z.shape[2]))
        return z, d.y.gather(1, idx), valid

    def losses(self, step: int) -> torch.Tensor:
        """Per-member objective [E] on the step's batch: mean squared error over its own rows + lambda |v|^2."""
        z, y, valid = self.batch(step)
        data_loss = member_mean(self.loss.row_loss(self.model.readout(z), y), valid)
        return data_loss + self.ridge.to(data_loss.dtype) * (self.model.v ** 2).sum(-1)

    # ---- losses of any readout v [E, N_max] (the trained one, or the closed-form limit) ----------------------------
    def train_loss_of(self, v: torch.Tensor) -> torch.Tensor:
        d = self.data
        return member_mean(self.loss.row_loss(self.model.readout(d.Z, v.to(d.Z.dtype)), d.y), d.valid)

    def test_loss_of(self, v: torch.Tensor) -> torch.Tensor:
        """Test loss against a noisy label [E]: exact population loss (linear features) or held-out MSE."""
        d = self.data
        if d.Z_test is not None:
            return self.loss.row_loss(self.model.readout(d.Z_test, v.to(d.Z_test.dtype)), d.y_test).mean(1)
        w = self.model.input_weights(v.to(self.model.v.dtype)).to(F64)  # [E, M]
        diff = w - d.wbar
        return (diff * diff * d.eta).sum(-1) + d.sigma ** 2

    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        v = self.model.v
        test = self.test_loss_of(v).to(F64)
        return {"train_loss": self.train_loss_of(v).to(F64), "test_loss": test,
                "excess_loss": test - self.data.sigma ** 2}

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

    def record_columns(self) -> dict[str, list]:
        """members.csv columns: the settings (N, P, lr, ...), the t -> infinity limit, and callbacks' outcomes."""
        lim = self.limit()
        out = dict(self.columns)
        out["limit_train_loss"] = lim["train_loss"].cpu().tolist()
        out["limit_test_loss"] = lim["test_loss"].cpu().tolist()
        out["projection_test_loss"] = lim["projection_test_loss"].cpu().tolist()
        out.update(self.extra_columns)
        return out
