"""Training engines: the contract (``base.EnsembleEngine``) and the classification engine. The regression engines
(linear models and random features, two-layer nets, deep linear nets) live in ``toymodels.regression``; each
subclasses ``EnsembleEngine``."""
from .base import EnsembleEngine
from .classification import ClassificationEngine, member_accuracy

__all__ = ["ClassificationEngine", "EnsembleEngine", "member_accuracy"]
