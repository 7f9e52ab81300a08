"""Train-test gap of every member over training, with GCV estimates (regression fits).

At each evaluation it records, per member, gap = test_loss - train_loss and -- for full-batch GD -- the GCV-style
estimate of the test loss from training data alone, E_tr(t) / (1 - df_t/P)^2 (``toymodels.regression.gcv``). That
estimate is an APPROXIMATION along GD time (GCV is not consistent for early-stopped GD; Patil, Wu, Tibshirani 2024)
and is reported with its measured error. At the end it adds the consistent case, GCV of each member's ridge solution
at its fixed lambda (the t -> infinity limit of its GD), against that solution's exact test loss.

Writes histories/gap.npy and histories/gcv_test_loss.npy ([E, logged step], the columns of histories/steps.npy),
histories/gap.json (what each array is) and members.csv columns final_gap, limit_gap, gcv_time_max_rel_err,
gcv_time_final_rel_err, gcv_limit_test_loss, gcv_limit_rel_err. Its histories live in checkpoints (state_dict).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from toymodels.regression.gcv import gcv_limit, gcv_over_time

from .evaluations import EvaluationFollower, max_and_final, relative_deviation

NOTE = {"gap": "test_loss - train_loss, per member",
        "gcv_test_loss": "APPROXIMATION: GCV along GD time, E_tr(t) / (1 - df_t/P)^2 with df_t the trace of the GD "
                         "smoother; not consistent for early-stopped GD (Patil, Wu, Tibshirani 2024); its measured "
                         "error is in members.csv (gcv_time_*_rel_err); NaN for SGD"}


class TrainTestGap(EvaluationFollower):
    def __init__(self, run_dir: Path, engine):
        self.run_dir, self.engine = Path(run_dir), engine
        self.gap: torch.Tensor | None = None  # [n_sched, E]
        self.gcv: torch.Tensor | None = None  # [n_sched, E]
        self.logged: torch.Tensor | None = None  # [n_sched] bool
        self._spectra: torch.Tensor | None = None

    def state_dict(self) -> dict:
        return {"gap": self.gap, "gcv": self.gcv, "logged": self.logged}

    def load_state_dict(self, state: dict):
        self.gap, self.gcv, self.logged = state["gap"], state["gcv"], state["logged"]

    def on_train_start(self, trainer, pl_module):
        n, E = len(pl_module.schedule), self.engine.n_members
        if self.gap is None or self.gap.shape != (n, E):
            self.gap = torch.full((n, E), math.nan, dtype=torch.float64)
            self.gcv = torch.full((n, E), math.nan, dtype=torch.float64)
            self.logged = torch.zeros(n, dtype=torch.bool)
        if self.engine.batch_size is None:
            self._spectra = self.engine.limit()["spectra"]  # [E, r] on the engine's device

    def _sync(self, pl_module):
        """Fill the entries of every evaluation done since the last call (step 0 is evaluated after on_train_start)."""
        new = self.new_evaluations(pl_module)
        if len(new) == 0:
            return
        names = pl_module.metric_names
        train = pl_module.history[names.index("train_loss"), new]  # [k, E]
        test = pl_module.history[names.index("test_loss"), new]
        self.gap[new] = (test - train).cpu()
        if self._spectra is not None:
            steps = torch.tensor([pl_module.schedule[i] for i in new.tolist()], device=train.device)
            e = self.engine
            est = gcv_over_time(train.T, steps, self._spectra, e.spec.lr.to(train.device), e.ridge,
                                e.data.n_train)  # [E, k]
            self.gcv[new] = est.T.cpu()

    def on_train_end(self, trainer, pl_module):
        self._sync(pl_module)
        done = pl_module.evaluated.cpu().numpy()
        hist = self.run_dir / "histories"
        hist.mkdir(parents=True, exist_ok=True)
        gap, gcv = self.gap.numpy()[done].T.copy(), self.gcv.numpy()[done].T.copy()  # [E, n_logged]
        np.save(hist / "gap.npy", gap)
        np.save(hist / "gcv_test_loss.npy", gcv)
        (hist / "gap.json").write_text(json.dumps(NOTE, indent=1))
        names = pl_module.metric_names
        test = pl_module.history[names.index("test_loss")].cpu().numpy()[done].T  # [E, n_logged]
        steps = np.asarray(pl_module.schedule)[done]
        err = relative_deviation(gcv, test)[:, steps >= 1]
        e = self.engine
        lim = e.limit()
        g_lim = gcv_limit(lim["train_loss"], lim["spectra"], e.ridge, e.data.n_train, e.data.widths).cpu().numpy()
        cols = e.extra_columns
        _, cols["final_gap"] = max_and_final(gap, e.n_members)
        cols["limit_gap"] = (lim["test_loss"] - lim["train_loss"]).cpu().tolist()
        cols["gcv_time_max_rel_err"], cols["gcv_time_final_rel_err"] = max_and_final(err, e.n_members)
        cols["gcv_limit_test_loss"] = g_lim.tolist()
        cols["gcv_limit_rel_err"] = relative_deviation(g_lim, lim["test_loss"].cpu().numpy()).tolist()
