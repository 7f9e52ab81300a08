"""``toylab export RUN_DIR --member I``: member I of a run as a standalone PyTorch model.

The file holds {"kind", "config", "state_dict", "member", "settings", "step"} (``--out X.safetensors``: the state
dict as safetensors, the rest as JSON strings in its metadata -- a format that cannot hold code, for sharing);
the state dict uses the standalone
names of ``toymodels.models.single`` (TransformerLens-style for Nanda's transformer: embed.W_E, blocks.0.attn.W_Q,
...). ``toymodels.models.single.load(path)`` rebuilds the nn.Module.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from toymodels.errors import ConfigError, LoadError
from toymodels.models import single
from toymodels.safe_load import tensor_dict

from .atomic import atomic_open
from .build import build_model, build_table
from .config import RunConfig
from .members import _from_dict, expand
from .rundir import CHECKPOINT, load_checkpoint, read_config_dict


def standalone(cfg: RunConfig, model, e: int) -> torch.nn.Module:
    m = cfg.model
    if m.name == "transformer":
        net = single.Transformer(model.d_vocab, model.d_vocab_out, m.d_model, m.n_heads, m.d_head, m.d_mlp,
                                 model.act)
    else:
        mlp = model.decoder if m.name == "liu_toy" else model
        w = int(mlp.widths[e])
        sizes = [mlp.in_dim] + [w] * (mlp.depth - 1) + [mlp.n_out]
        if m.name == "liu_toy":
            net = single.LiuToy(model.n_symbols, model.d_embed, sizes, mlp.act)
        else:
            net = single.MLP(sizes, mlp.act, mlp.bias, n_symbols=mlp.in_dim // 2 if mlp.input_kind == "pairs" else 0)
    net = net.to(next(model.parameters()).dtype)
    net.load_state_dict(model.member_state(e), strict=True)
    return net


def _safetensors_bytes(blob: dict) -> bytes:
    try:
        from safetensors.torch import save
    except ImportError:
        raise ConfigError("--out", "writing .safetensors needs the safetensors package (pip install safetensors)") \
            from None
    meta = {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in blob.items() if k != "state_dict"}
    return save({k: v.contiguous() for k, v in blob["state_dict"].items()}, metadata=meta)


def export_member(run_dir: Path, member: int, out: str | None = None) -> Path:
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError("RUN_DIR", f"{run_dir} is not a toylab run directory (no config.yaml)")
    ckpt_path = run_dir / "checkpoints" / "last.ckpt"
    if not ckpt_path.is_file():
        raise ConfigError("RUN_DIR", f"{run_dir} has no checkpoint yet (checkpoints/last.ckpt)")
    cfg = _from_dict(RunConfig, read_config_dict(run_dir))
    members = expand(cfg)
    if not 0 <= member < len(members):
        raise ConfigError("--member", f"must be in 0..{len(members) - 1} (got {member})")
    ckpt = load_checkpoint(ckpt_path)
    model = build_model(cfg, members, build_table(cfg))
    if cfg.train.precision == "64":
        model = model.double()
    sd = tensor_dict(ckpt["state_dict"], ckpt_path, CHECKPOINT)
    state = {k[len("model."):]: v for k, v in sd.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=False)
        step = int(ckpt["global_step"])
    except (RuntimeError, TypeError, ValueError) as err:  # a checkpoint of another model or a crafted file
        raise LoadError(ckpt_path, CHECKPOINT, " ".join(str(err).split())[:200]) from None
    net = standalone(cfg, model, member)
    path = Path(out) if out else run_dir / "export" / f"member_{member}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"kind": cfg.model.name, "config": net.cfg, "state_dict": net.state_dict(), "member": member,
            "settings": members.record()[member], "step": step}
    with atomic_open(path, "wb") as f:  # an unwritable --out is an OSError naming the path
        if path.suffix == ".safetensors":
            f.write(_safetensors_bytes(blob))
        else:
            torch.save(blob, f)
    return path
