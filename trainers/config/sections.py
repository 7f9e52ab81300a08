"""The sections of a run configuration that every model and task shares: loss, optimiser, gradient filters, random
streams, training, probes, wandb and sweep (the model's and task's own settings: ``trainers.config.families``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional


@dataclass
class LossConfig:
    name: Literal["cross_entropy", "stablemax", "mse"] = "cross_entropy"
    float64: bool = False  # compute the loss in float64 (Nanda's cross_entropy_high_precision)
    template_dim: Optional[int] = None  # mse: random Gaussian templates of this dimension (Liu: 30); None: one-hot


@dataclass
class GroupConfig:
    """Overrides for one parameter group (e.g. liu_toy's "embedding" and "decoder")."""

    lr: Optional[float] = None
    weight_decay: Optional[float] = None


@dataclass
class OptimizerConfig:
    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    momentum: float = 0.0
    nesterov: bool = False
    warmup_steps: int = 0  # LambdaLR(min(s / W, 1)) as in Nanda's recipe
    groups: dict[str, GroupConfig] = field(default_factory=dict)


@dataclass
class FilterConfig:
    """Gradient filters and constraints (any optimiser)."""

    grokfast: Literal["none", "ema", "ma"] = "none"
    grokfast_alpha: float = 0.98  # ema decay
    grokfast_lamb: float = 2.0  # amplification (Lee et al.: 2 for ema, 5 for ma)
    grokfast_window: int = 100  # ma window
    grokfast_warmup: bool = True  # ma: filter only once the window is full
    perpgrad: bool = False  # Prieto's perpendicular gradient
    constant_norm: bool = False  # Omnigrok: hold each member's total weight norm at its initial value


@dataclass
class StreamSeeds:
    """Seeds of the separate random streams; unset ones default to the member's seed."""

    split: Optional[int] = None
    init: Optional[int] = None
    batch: Optional[int] = None
    noise: Optional[int] = None
    templates: Optional[int] = None
    data: Optional[int] = None  # regression inputs
    projection: Optional[int] = None  # random-feature projection
    teacher: Optional[int] = None  # teacher task: the teacher network's weights


@dataclass
class TrainConfig:
    max_steps: int = 10000
    batch_size: Optional[int] = None  # None: full batch
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: Optional[int] = None  # CPU threads for torch (None: torch's default); tiny models run best on 1
    precision: Literal["32", "64", "bf16"] = "32"  # parameter dtype; bf16: float32 parameters, bfloat16 autocast
    compile: bool = False  # torch.compile the training step (fullgraph; pays a compile time per fit)
    cuda_graphs: bool = False  # on CUDA: compile with CUDA graphs (mode "reduce-overhead"); ignored on the CPU
    tf32: bool = True  # TF32 matmuls on GPU (not for closed-form comparisons)
    eval_schedule: Literal["linear", "log"] = "linear"
    eval_every: int = 100  # linear schedule
    eval_points: int = 200  # log schedule
    eval_chunk_rows: Optional[int] = None  # rows per evaluation chunk (memory)
    thresholds: list[float] = field(default_factory=lambda: [0.9, 0.95, 0.99])  # accuracy: first step >=
    loss_thresholds: list[float] = field(default_factory=lambda: [1.0, 0.1, 0.01])  # loss: first step <
    stop_test_loss: Optional[float] = None  # end the fit once every member's test loss is below this
    checkpoint_every: int = 1000  # steps between periodic checkpoints (kill -9 loses at most this many)
    snapshot_members: list[int] = field(default_factory=list)  # members whose weights are saved, log-spaced
    snapshot_points: int = 20
    progress: Literal["rich", "tqdm", "none"] = "rich"


@dataclass
class ProbeConfig:
    """Measurements of the weights and representations over training, on their own (log-spaced) schedule:
    ``representation`` (RQI, Fourier measures, restricted/excluded loss, collapse, rank, CKA), ``spectra``
    (HTSR metrics of every weight matrix of every member) and ``lazy_rich`` (two_layer: weight movement, feature
    kernel and NTK alignment with the target, NTK change; over ``rows`` probe rows)."""

    representation: bool = False
    spectra: bool = False
    lazy_rich: bool = False
    schedule: Literal["linear", "log"] = "log"
    every: int = 1000  # linear schedule
    points: int = 30  # log schedule
    rows: int = 1024  # table rows used for effective rank and CKA
    rqi_delta: float = 0.01
    spectra_full: bool = False  # also the Marchenko-Pastur fit and the randomised ESD (costlier)


@dataclass
class WandbConfig:
    mode: Literal["offline", "online", "disabled"] = "offline"
    project: str = "toylab"
    entity: Optional[str] = None
    group: Optional[str] = None
    verbose: bool = False  # wandb's own messages (quiet by default: warnings and errors still show)


@dataclass
class PhaseConfig:
    """The phase of each member. ``rule`` grokking: Liu et al.'s rule, first steps reaching ``threshold`` accuracy,
    gap G, budget B (None: max_steps). ``rule`` lazy_rich (two_layer with probes.lazy_rich): "rich" when the final
    relative weight movement |W - W0|/|W0| >= ``movement`` (and, if ``alignment_gain`` is set, the NTK-target
    alignment rose by at least that much), else "lazy"; "diverged" members apart."""

    rule: Literal["grokking", "lazy_rich"] = "grokking"
    threshold: float = 0.9
    gap: int = 1000
    budget: Optional[int] = None
    movement: float = 0.1
    alignment_gain: Optional[float] = None


@dataclass
class SweepConfig:
    """A grid over any settings: ``grid`` maps dotted keys to a list of values, {log: [lo, hi, n]} or
    {lin: [lo, hi, n]}. Members = grid points x ``seeds`` (default: the run's seeds, else its seed)."""

    grid: dict[str, Any] = field(default_factory=dict)
    seeds: Optional[list[int]] = None
    max_members: Optional[int] = None  # members per fit; default: as many as fit in memory
    backend: Literal["inprocess", "ray"] = "inprocess"
    address: Optional[str] = None  # Ray cluster address; None starts a local Ray instance
    wandb_per_point: bool = False  # one wandb run per grid point (group = sweep name) besides the sweep's run
    phase: PhaseConfig = field(default_factory=PhaseConfig)
