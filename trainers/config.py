"""The run configuration: YAML files and dotted command-line overrides map onto these dataclasses
(parsed by jsonargparse, which rejects unknown keys and badly typed values).

Per-member settings -- anything that does not change tensor shapes -- may differ between the members of one fit
(see ``trainers.members.PER_MEMBER``); ``members`` lists per-member overrides and ``seeds`` multiplies them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional


@dataclass
class TaskConfig:
    """What to learn. ``name``: modular (any operation of toymodels.tasks.OPERATIONS), digits or mnist
    (classification); powerlaw (Gaussian data with power-law covariance and target), teacher (a two-layer
    teacher network) or linear_teacher (a linear map with chosen singular values, deep linear nets) for
    regression."""

    name: Literal["modular", "digits", "mnist", "powerlaw", "teacher", "linear_teacher"] = "modular"
    operation: str = "a+b"
    p: int = 113
    train_fraction: Optional[float] = 0.3  # of the table (floor), unless train_size is set
    train_size: Optional[int] = None
    label_noise: int = 0  # number of training answers replaced by a wrong class
    data_path: Optional[str] = None  # MNIST .npz (x_train, y_train, x_test, y_test)
    # regression tasks (powerlaw, teacher): P is train_size
    dim: int = 1000  # input dimension M (number of modes)
    alpha: float = 1.5  # capacity: eta_k ~ k^-alpha
    r: float = 0.4  # source: eta_k wbar_k^2 ~ k^-(1 + 2 alpha r)
    noise_std: float = 0.0  # label noise sigma
    test_size: Optional[int] = None  # held-out rows for models without an exact population loss
    teacher_width: int = 4  # teacher task: hidden units of the teacher
    teacher_act: Optional[str] = None  # teacher task: relu|tanh|quadratic|linear (None: the student's model.act)
    # linear_teacher: y = W* x + sigma eps, W* = U diag(singular_values) V^T [out_dim, dim], x ~ N(0, I_dim);
    # train_size null trains on the exact population loss
    out_dim: int = 1
    singular_values: list[float] = field(default_factory=lambda: [3.0, 2.0, 1.0])
    whiten: bool = False  # make each member's rows exactly white (X^T X / P = I): Saxe et al.'s assumption


@dataclass
class ModelConfig:
    """``name``: transformer (Nanda), mlp (one-hot pairs or images), liu_toy (embedding + MLP decoder); linear and
    random_features (regression); two_layer (f = a . act(W x) in a lazy-to-rich parameterisation: any task)."""

    name: Literal["transformer", "mlp", "liu_toy", "linear", "random_features", "two_layer", "deep_linear"] = \
        "transformer"
    init_scale: float = 1.0  # multiplies every initial parameter (Omnigrok's alpha)
    # activation (toymodels.activations; "identity" is an alias of "linear"): relu (transformer, mlp, two_layer),
    # tanh (liu_toy), linear (random_features) by default; mlp / liu_toy: relu|tanh|gelu|quadratic|linear;
    # two_layer: relu|tanh|quadratic|linear; random_features: relu|abs|tanh|erf|linear
    act: Optional[str] = None
    # transformer
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    logit_for_equals: bool = True  # an output logit for the "=" token too, as in Nanda's code
    # mlp and liu_toy decoder; deep_linear: hidden width and depth L
    width: int = 200
    depth: int = 3  # weight layers
    bias: bool = True
    # liu_toy
    d_embed: int = 1
    # random_features (width = N features): projection spectrum k^-projection_alpha (None: isotropic N(0, 1/M))
    projection_alpha: Optional[float] = None
    # the L2 penalty lambda of the regression objectives ((1/P)|y - Z v|^2 + lambda |v|^2: SCIENCE.md's lambda), per
    # member: an alias of optimizer.weight_decay, whose one name it is in every family (lambda = weight_decay / 2)
    ridge: float = 0.0
    # random_features: step with lr * M / N so the per-mode rate is the same at every width (Bordelon et al.)
    per_mode_lr: bool = False
    # two_layer: f(x) = a . act(W x) in a parameterisation with richness gamma0 (lazy <-> rich)
    parameterization: Literal["ntk", "standard", "mup"] = "mup"
    gamma0: float = 1.0  # per member; SGD's lr is multiplied by gamma0^2 (and by N for mup)
    center: bool = True  # two_layer: train f - f0 (f0: the network at its initial weights)
    # deep_linear: balanced (the product's singular values are init_scale, Saxe et al.'s small-init picture) or
    # random (N(0, init_scale^2 / fan_in)); init_align: the balanced init along the teacher's singular vectors
    init: Literal["balanced", "random"] = "balanced"
    init_align: bool = True


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


@dataclass
class RunConfig:
    name: str = "run"
    out_dir: str = "runs"
    seed: int = 0
    seeds: Optional[list[int]] = None  # one member per seed (times each entry of `members`)
    members: list[dict[str, Any]] = field(default_factory=list)  # per-member overrides, dotted keys
    streams: StreamSeeds = field(default_factory=StreamSeeds)
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    probes: ProbeConfig = field(default_factory=ProbeConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
