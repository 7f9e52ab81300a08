"""Ensemble optimisers with per-member [E] hyperparameters, gradient filters and weight-norm constraints."""
from .adam import EnsembleAdam, EnsembleAdamW
from .constraints import ConstantNorm
from .filters import GradFilter, GrokfastEMA, GrokfastMA, PerpGrad
from .guard import member_finite
from .sgd import EnsembleSGD

__all__ = ["EnsembleAdam", "EnsembleAdamW", "EnsembleSGD", "ConstantNorm", "GradFilter", "GrokfastEMA",
           "GrokfastMA", "PerpGrad", "member_finite"]
