"""The run configuration: YAML files and dotted command-line overrides map onto these dataclasses.

``RunConfig`` holds one section per part of a run. Its ``model`` and ``task`` are typed per name: one class per
``model.name`` (``TransformerConfig``, ``MLPConfig``, ...) and per ``task.name`` (``ModularTaskConfig``, ...), each
holding only the settings that model or task uses (``trainers.config.families``, one module per model family). A
setting the chosen name does not use is an error naming the key and the name. ``trainers.typed`` turns plain data
into these classes (pydantic), and the command line parses against a schema generated from them
(``trainers.config.flat``).

Per-member settings -- anything that does not change tensor shapes -- may differ between the members of one fit
(see ``trainers.members.PER_MEMBER``); ``members`` lists per-member overrides and ``seeds`` multiplies them.
"""
from .base import ModelSettings, TaskSettings, settings_of
from .choices import CHOICES, MODELS, TASKS, ModelConfig, TaskConfig, applicable_type, class_of, not_applicable
from .families.classification import (DigitsTaskConfig, LiuToyConfig, MLPConfig, MnistTaskConfig, ModularTaskConfig,
                                      TransformerConfig)
from .families.deep_linear import DeepLinearConfig, LinearTeacherTaskConfig
from .families.random_features import LinearConfig, PowerLawTaskConfig, RandomFeaturesConfig
from .families.two_layer import TeacherTaskConfig, TwoLayerConfig
from .run import RunConfig
from .sections import (FilterConfig, GroupConfig, LossConfig, OptimizerConfig, PhaseConfig, ProbeConfig, StreamSeeds,
                       SweepConfig, TrainConfig, WandbConfig)

__all__ = ["CHOICES", "MODELS", "TASKS", "DeepLinearConfig", "DigitsTaskConfig", "FilterConfig", "GroupConfig",
           "LinearConfig", "LinearTeacherTaskConfig", "LiuToyConfig", "LossConfig", "MLPConfig", "MnistTaskConfig",
           "ModelConfig", "ModelSettings", "ModularTaskConfig", "OptimizerConfig", "PhaseConfig", "PowerLawTaskConfig",
           "ProbeConfig", "RandomFeaturesConfig", "RunConfig", "StreamSeeds", "SweepConfig", "TaskConfig",
           "TaskSettings", "TeacherTaskConfig", "TrainConfig", "TransformerConfig", "TwoLayerConfig", "WandbConfig",
           "applicable_type", "class_of", "not_applicable", "settings_of"]
