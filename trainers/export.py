"""``toylab export RUN_DIR --member I``: member I of a run as a standalone PyTorch model.

The file holds {"kind", "config", "state_dict", "member", "settings", "step"}; the state dict uses the standalone
names of ``toymodels.models.single`` (TransformerLens-style for Nanda's transformer: embed.W_E, blocks.0.attn.W_Q,
...). ``toymodels.models.single.load(path)`` rebuilds the nn.Module.
"""
from __future__ import annotations

from pathlib import Path

import torch

from toymodels.errors import ConfigError

from .families import family_of
from .members import expand
from .reader import read_run_config
from .rundir import load_checkpoint


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
    state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    net = family.standalone(cfg, members, state, member)
    path = Path(out) if out else run_dir / "export" / f"member_{member}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"kind": cfg.model.name, "config": net.cfg, "state_dict": net.state_dict(), "member": member,
                "settings": members.record()[member], "step": int(ckpt["global_step"])}, path)
    return path
