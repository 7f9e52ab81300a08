"""``toylab spectra FILE [--json|--csv]``: WeightWatcher-style weight-spectrum metrics of a saved model.

FILE is one of
- a PyTorch file (.pt / .pth / .bin): a state dict, or a dict holding one under "state_dict" (e.g. what
  ``toylab export`` writes);
- a Lightning checkpoint (.ckpt): its "state_dict";
- a safetensors file (.safetensors; needs the ``safetensors`` package);
- a toylab run directory: its ``checkpoints/last.ckpt``, whose "model.*" parameters carry a leading member
  axis E (an ensemble; ``--ensemble`` treats a single file the same way);
- a toylab weight snapshot (RUN_DIR/snapshots/step_*.pt, ``{member: state dict}``): the snapshotted members as an
  ensemble, rows labelled with their member numbers in the run.

Which tensors are matrices (floating point only; 1-D tensors such as biases and norms are skipped):
- plain models: 2-D [out, in] -> one matrix; 4-D Conv2d [out, in, kh, kw] -> kh*kw slices pooled into one ESD
  (scaled by sqrt(1/2) as WeightWatcher does, see ``conv2d_slices``); 3-D [d0, d1, d2]: attention heads
  [H, a, b] when d0 <= d2 (merged as for ensembles below), else Conv1d [out, in, k] -> k slices pooled; higher
  ranks -> flattened to [prod(leading axes), last axis].
- ensembles (per member, after the leading E): 2-D -> one matrix per member; 3-D [H, a, b] (attention heads, e.g.
  TransformerLens' W_Q [H, d_model, d_head] and W_O [H, d_head, d_model]) -> the heads concatenated along their
  smaller axis (the head dimension): W_Q -> [d_model, H*d_head], W_O -> [H*d_head, d_model], i.e. the full
  projection matrix of the layer (a single 128 x 32 head block has too few eigenvalues to fit); 4-D -> Conv2d
  slices; higher -> flattened as above. All-zero rows and columns (the padding of narrower members) are
  stripped per member unless ``--keep-padding``.

Every torch file (.pt, .pth, .bin, .ckpt, a run's last.ckpt) is read by ``toymodels.safe_load`` with
``weights_only=True``: a file holding pickled code is refused before any of it runs.

Output: one row per (layer, member) with layer_id, name, member, N, M and the metric columns of
``toymodels.metrics.spectra.analyze`` (WeightWatcher's names), as a table, ``--json`` (a list of objects; NaN
-> null) or ``--csv``. Errors: one line on stderr, exit status 2.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path

import torch

from toymodels.errors import ConfigError
from toymodels.safe_load import load as safe_load
from toymodels.safe_load import load_safetensors

PROG = "toylab spectra"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Weight-spectrum (HTSR / SETOL) metrics of a model, WeightWatcher-style.")
    p.add_argument("file", metavar="FILE", help="state dict (.pt/.pth/.bin), Lightning .ckpt, .safetensors, or a "
                                                "toylab run directory")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print a JSON list of rows")
    fmt.add_argument("--csv", action="store_true", help="print CSV")
    p.add_argument("--normalize", choices=("ww", "setol"), default="ww",
                   help="eigenvalues of W^T W (ww, default) or W^T W / N (setol)")
    p.add_argument("--method", choices=("eigh", "svd"), default="eigh", help="float64 eigensolver")
    p.add_argument("--no-fit", action="store_true", help="skip the power-law fit")
    p.add_argument("--no-mp-fit", action="store_true", help="skip the Marchenko-Pastur fit")
    p.add_argument("--no-randomize", action="store_true", help="skip the shuffled-W metrics")
    p.add_argument("--no-detx", action="store_true", help="skip detX / ERG")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    p.add_argument("--min-evals", type=int, default=8, help="skip matrices with fewer eigenvalues (default 8)")
    ens = p.add_mutually_exclusive_group()
    ens.add_argument("--ensemble", dest="ensemble", action="store_true", default=None,
                     help="the file's tensors have a leading member axis E (default for run directories)")
    ens.add_argument("--no-ensemble", dest="ensemble", action="store_false", help="treat tensors as one model")
    p.add_argument("--keep-padding", action="store_true", help="do not strip all-zero rows/columns (ensembles)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    return p


# ----------------------------------------------------------------------------------------------- loading


EXPECTED = "a state dict, Lightning checkpoint or toylab snapshot"


def _state_dict(obj, path: Path) -> Mapping[str, torch.Tensor]:
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, Mapping):
        inner = obj.get("state_dict")
        if isinstance(inner, Mapping):
            return inner
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    raise ConfigError("FILE", f"{path} holds no state dict (a mapping of parameter names to tensors)")


def _snapshot(obj) -> tuple[dict[str, torch.Tensor], list[int]] | None:
    """A toylab snapshot {member: state dict} -> (the members' tensors stacked on a leading axis, member numbers)."""
    if not (isinstance(obj, Mapping) and obj and all(isinstance(k, int) and isinstance(v, Mapping)
                                                      for k, v in obj.items())):
        return None
    members = sorted(obj)
    names = list(obj[members[0]])
    if any(list(obj[m]) != names for m in members):
        raise ConfigError("FILE", "the snapshot's members hold different parameters")
    return {n: torch.stack([obj[m][n] for m in members]) for n in names}, members


def load_state_dict(path: Path) -> tuple[Mapping[str, torch.Tensor], bool, list[int] | None]:
    """-> (state dict, its tensors carry a member axis, the member numbers of a snapshot's rows or None)."""
    if not path.exists():
        raise ConfigError("FILE", f"{path} does not exist")
    if path.is_dir():
        ckpt = path / "checkpoints" / "last.ckpt"
        if not ckpt.is_file():
            raise ConfigError("FILE", f"{path} is not a toylab run directory (no checkpoints/last.ckpt)")
        return _state_dict(safe_load(ckpt, "a toylab checkpoint"), ckpt), True, None
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return load_safetensors(path, "a safetensors state dict")[0], False, None
    if suffix == ".ckpt":
        return _state_dict(safe_load(path, "a Lightning checkpoint"), path), False, None
    if suffix in (".pt", ".pth", ".bin"):
        obj = safe_load(path, EXPECTED)
        snap = _snapshot(obj)
        if snap is not None:
            return snap[0], True, snap[1]
        return _state_dict(obj, path), False, None
    raise ConfigError("FILE", f"unsupported file type {suffix or '(none)'!r}: use .pt, .pth, .bin, .ckpt, "
                              ".safetensors or a run directory")


# ------------------------------------------------------------------------------------------ matrices


def _merge_heads(t: torch.Tensor) -> torch.Tensor:
    """[E, H, a, b] -> [E, a, H*b] if b <= a (heads along the last axis) else [E, H*a, b]."""
    E, H, a, b = t.shape
    if b <= a:
        return t.permute(0, 2, 1, 3).reshape(E, a, H * b)
    return t.reshape(E, H * a, b)


def _plain_matrix(t: torch.Tensor):
    from toymodels.metrics.spectra import conv2d_slices

    if t.dim() == 2:
        return t
    if t.dim() == 3:
        if t.shape[0] <= t.shape[2]:  # attention heads [H, a, b] (H small): the full projection
            return _merge_heads(t[None])[0]
        return t.permute(2, 0, 1)[None]  # Conv1d [out, in, k] (k small): k slices [out, in]
    if t.dim() == 4:
        return conv2d_slices(t)
    return t.reshape(-1, t.shape[-1])


def _ensemble_matrix(t: torch.Tensor, strip: bool):
    from toymodels.metrics.spectra import conv2d_slices, strip_zero_padding

    if t.dim() == 3:
        m = t
    elif t.dim() == 4:
        m = _merge_heads(t)
    elif t.dim() == 5:
        return conv2d_slices(t)
    else:
        m = t.reshape(t.shape[0], -1, t.shape[-1])
    if not strip:
        return m
    members = [strip_zero_padding(m[e]) for e in range(m.shape[0])]
    if all(x.shape == members[0].shape for x in members):
        return m if members[0].shape == m.shape[1:] else torch.stack(members)
    return members


def collect_matrices(sd: Mapping[str, torch.Tensor], ensemble: bool, strip: bool = True) -> dict:
    """{parameter name: matrices for ``analyze``} (see the module docstring for the rules)."""
    if ensemble and any(k.startswith("model.") for k in sd):
        sd = {k[len("model."):]: v for k, v in sd.items() if k.startswith("model.")}
    out = {}
    for name, t in sd.items():
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            continue
        if ensemble:
            if t.dim() >= 3 and min(t.shape) > 0:
                out[name] = _ensemble_matrix(t.detach(), strip)
        elif t.dim() >= 2 and min(t.shape) > 0:
            out[name] = _plain_matrix(t.detach())
    return out


# ------------------------------------------------------------------------------------------ output


def _clean(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _csv(rows: list[dict]) -> str:
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def run(args: argparse.Namespace) -> str:
    from toymodels.metrics.spectra import analyze, format_table, to_rows

    path = Path(args.file)
    sd, stacked, member_ids = load_state_dict(path)
    ensemble = stacked if args.ensemble is None else args.ensemble
    mats = collect_matrices(sd, ensemble, strip=not args.keep_padding)
    if not mats:
        raise ConfigError("FILE", f"no weight matrices (floating tensors with >= {3 if ensemble else 2} axes) in "
                                  f"{path}")
    if args.device != "cpu":
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device", "CUDA is not available")
        dev = torch.device(args.device)
        mats = {k: ([x.to(dev) for x in v] if isinstance(v, list) else v.to(dev)) for k, v in mats.items()}
    if args.min_evals < 1:
        raise ConfigError("--min-evals", "must be >= 1")
    result = analyze(mats, normalize=args.normalize, method=args.method, fit=not args.no_fit,
                     mp_fit=not args.no_mp_fit, randomize=not args.no_randomize, detX=not args.no_detx,
                     seed=args.seed, min_evals=args.min_evals)
    rows = to_rows(result)
    if member_ids is not None and ensemble:  # a snapshot's rows carry the members' numbers in the run
        rows = [{**r, "member": member_ids[r["member"]]} for r in rows]
    skipped = [k for k in mats if k not in result]
    if args.json:
        return json.dumps([{k: _clean(v) for k, v in r.items()} for r in rows], indent=1)
    if args.csv:
        return _csv(rows).rstrip("\n")
    E = len({r["member"] for r in rows})
    head = f"{path}: {len(result)} layers" + (f", {E} members" if ensemble else "")
    lines = [head, format_table(rows)]
    if skipped:
        lines.append(f"skipped (fewer than {args.min_evals} eigenvalues): {', '.join(skipped)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Entry point of ``toylab spectra`` (argv without the subcommand). Returns the exit status."""
    try:
        args = _parser().parse_args(list(argv))
        print(run(args))
        return 0
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return 2
    except Exception as err:  # bad input of any kind: one line, no traceback
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2
