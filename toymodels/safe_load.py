"""The one place that reads torch files: ``torch.load(..., weights_only=True)``, so loading never runs code.

toylab's own files (Lightning checkpoints, weight snapshots, ``toylab export`` models) hold only tensors and
plain data (dict, list, int, float, str, bool, None), so no extra safe globals are registered. A file that
holds anything else -- a pickled object whose unpickling would call a function, as a crafted file does -- is
refused before any of its code runs. Every failure (pickled code, a text file, an empty, truncated or corrupt
file, missing keys) is one ``LoadError`` whose one-line message names the file and what was expected.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from .errors import LoadError


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(512)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in head


def _reason(path: Path, err: Exception) -> str:
    """A short, one-line account of why torch could not load ``path``."""
    text = " ".join(str(err).split())
    glob = re.search(r"GLOBAL ([\w.]+)", text)
    if glob:
        return (f"it holds a pickled object ({glob.group(1)}) that would run code when loaded; refused "
                f"(only tensors and plain data are loaded)")
    if path.stat().st_size == 0:
        return "the file is empty"
    if _looks_like_text(path):
        return "it is a text file, not a PyTorch file"
    if "central directory" in text or "PytorchStreamReader" in text or isinstance(err, EOFError):
        return "the file is truncated or corrupt"
    operand = re.search(r"Unsupported operand \d+", text)
    if operand:
        return f"not a PyTorch file of tensors and plain data ({operand.group(0)}); refused"
    return f"not a readable PyTorch file ({type(err).__name__}: {text[:120]})"


def load(path, expected: str, map_location="cpu"):
    """``torch.load(path, map_location=map_location, weights_only=True)``; any failure -> ``LoadError`` naming
    ``path`` and ``expected`` (what the caller wanted, e.g. "a toylab checkpoint")."""
    path = Path(path)
    if not path.is_file():
        raise LoadError(path, expected, "no such file" if not path.exists() else "not a file")
    with warnings.catch_warnings():  # torch's warnings (pickle protocol, legacy format) are noise before an error
        warnings.simplefilter("ignore")
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # noqa: BLE001 -- every failure becomes one LoadError
            raise LoadError(path, expected, _reason(path, err)) from None


def require(obj, path, expected: str, keys: Sequence[str] = ()) -> Mapping:
    """``obj`` as a mapping holding ``keys``, else ``LoadError``."""
    if not isinstance(obj, Mapping):
        raise LoadError(path, expected, f"it holds a {type(obj).__name__}, not a dict")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise LoadError(path, expected, f"missing {', '.join(map(repr, missing))}")
    return obj


def tensor_dict(obj, path, expected: str) -> dict[str, torch.Tensor]:
    """``obj`` as a state dict {str: tensor}, else ``LoadError``."""
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                               for k, v in obj.items()):
        raise LoadError(path, expected, "its state dict is not a mapping of names to tensors")
    return dict(obj)


def load_safetensors(path, expected: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, string metadata) of a .safetensors file (a format that holds no code at all); failures ->
    ``LoadError``. Needs the ``safetensors`` package."""
    path = Path(path)
    if not path.is_file():
        raise LoadError(path, expected, "no such file" if not path.exists() else "not a file")
    try:
        from safetensors import safe_open
    except ImportError:
        raise LoadError(path, expected, "reading .safetensors needs the safetensors package, which is not "
                                        "installed (pip install safetensors)") from None
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as err:  # noqa: BLE001 -- header / size errors of a broken file
        text = " ".join(str(err).split())[:160] or type(err).__name__
        raise LoadError(path, expected, f"not a readable safetensors file ({text})") from None
