"""Theory next to every measured test loss of a regression fit.

At the start of training (unless restored from a checkpoint) it evaluates the expected test loss of every member at
every scheduled step (``toymodels.regression.theory.theory_curves``: the finite-N, P GD curve of
``toymodels.theory.gd_curves``, one curve per distinct (N, P, lr, sigma), shared by the seeds) and the t -> infinity
theory (``theory_limits``). After each evaluation it marks those values as logged beside the measurement and logs the
members' median relative deviation. Its table lives in checkpoints (state_dict), so a resumed fit neither recomputes
nor changes it.

Writes histories/theory_test_loss.npy [E, logged step] (the columns of histories/steps.npy, NaN where there is no
theory), histories/theory.json (each member's kind: exact "gd", or an approximation, or "none: why"), and
members.csv columns theory_kind, theory_limit_test_loss, theory_projection_test_loss (P, t -> infinity),
theory_final_rel_dev, theory_max_rel_dev (deviation of the
member's own curve from the expectation: seed noise included).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from toymodels.regression.theory import theory_curves, theory_limits, theory_projection

from .evaluations import EvaluationFollower, max_and_final, relative_deviation


class TheoryOverlay(EvaluationFollower):
    def __init__(self, run_dir: Path, engine):
        self.run_dir, self.engine = Path(run_dir), engine
        self.table: torch.Tensor | None = None  # [n_sched, E] float64
        self.kinds: list[str] | None = None
        self.limits: torch.Tensor | None = None  # [E]
        self.schedule: list[int] | None = None
        self.logged: torch.Tensor | None = None  # [n_sched] bool

    def state_dict(self) -> dict:
        return {"table": self.table, "kinds": self.kinds, "limits": self.limits, "schedule": self.schedule,
                "logged": self.logged}

    def load_state_dict(self, state: dict):
        for k, v in state.items():
            setattr(self, k, v)

    def on_train_start(self, trainer, pl_module):
        if self.table is None or self.schedule != list(pl_module.schedule):  # a longer resumed run: recompute
            e = self.engine
            curves, self.kinds = theory_curves(e.task.eta, e.task.wbar, e.spec, pl_module.schedule)
            self.table = curves.T.contiguous()
            self.limits = theory_limits(e.task.eta, e.task.wbar, e.spec)
            self.schedule = list(pl_module.schedule)
            self.logged = pl_module.evaluated.cpu().clone()

    def _sync(self, pl_module):
        new = self.new_evaluations(pl_module)
        if len(new) == 0:
            return
        test = pl_module.history[pl_module.metric_names.index("test_loss"), new[-1]].cpu()
        dev = (test / self.table[new[-1]] - 1).abs()
        if bool(torch.isfinite(dev).any()) and pl_module._trainer is not None:
            pl_module.log("theory_rel_dev_median", float(dev[torch.isfinite(dev)].median()), on_step=True,
                          on_epoch=False)

    def on_train_end(self, trainer, pl_module):
        self._sync(pl_module)
        done = pl_module.evaluated.cpu().numpy()
        hist = self.run_dir / "histories"
        hist.mkdir(parents=True, exist_ok=True)
        theory = self.table.numpy()[done].T.copy()  # [E, n_logged]
        np.save(hist / "theory_test_loss.npy", theory)
        (hist / "theory.json").write_text(json.dumps(
            {"theory_test_loss": "expected test loss (E_g + sigma^2) of each member's setting along GD",
             "kinds": self.kinds}, indent=1))
        test = pl_module.history[pl_module.metric_names.index("test_loss")].cpu().numpy()[done].T
        steps = np.asarray(pl_module.schedule)[done]
        dev = relative_deviation(test, theory)[:, steps >= 1]
        cols = self.engine.extra_columns
        cols["theory_kind"] = list(self.kinds)
        cols["theory_limit_test_loss"] = self.limits.tolist()
        cols["theory_projection_test_loss"] = theory_projection(self.engine.task.eta, self.engine.task.wbar,
                                                                self.engine.spec).tolist()
        cols["theory_max_rel_dev"], cols["theory_final_rel_dev"] = max_and_final(dev, len(self.kinds))
