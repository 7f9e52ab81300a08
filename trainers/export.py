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
from toymodels.safe_load import tensor_dict

from .atomic import atomic_open
from .families import family_of
from .members import expand
from .reader import read_run_config
from .rundir import CHECKPOINT, load_checkpoint


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
    cfg = read_run_config(run_dir)
    members = expand(cfg)
    if not 0 <= member < len(members):
        raise ConfigError("--member", f"must be in 0..{len(members) - 1} (got {member})")
    family = family_of(cfg)
    ckpt = load_checkpoint(ckpt_path)
    sd = tensor_dict(ckpt["state_dict"], ckpt_path, CHECKPOINT)
    state = {k[len("model."):]: v for k, v in sd.items() if k.startswith("model.")}
    try:
        net = family.standalone(cfg, members, state, member)
        step = int(ckpt["global_step"])
    except ConfigError:
        raise
    except (RuntimeError, TypeError, ValueError) as err:  # a checkpoint of another model or a crafted file
        raise LoadError(ckpt_path, CHECKPOINT, " ".join(str(err).split())[:200]) from None
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
