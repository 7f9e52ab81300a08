"""Members without test rows (train_fraction 1) or without train rows have no such metrics: NaN, not the 0 an
empty mean or an accuracy over no rows would give. NaN never crosses a threshold (both ``>=`` and ``<`` are
False), so no "test loss < t" event is recorded at step 0, and members.csv leaves those cells empty."""
from __future__ import annotations

import torch


def no_rows_nan(values: dict[str, torch.Tensor], ev: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``values`` {metric: [E]} with ``{split}_loss`` / ``{split}_acc`` set to NaN for members whose
    ``ev[f"{split}_mask"]`` [E, R] holds no row (batched ``torch.where``, no host sync)."""
    out = dict(values)
    for split in ("train", "test"):
        has = ev[f"{split}_mask"].any(dim=1)  # [E]
        for m in (f"{split}_loss", f"{split}_acc"):
            if m in out:
                out[m] = torch.where(has, out[m].to(torch.float64), torch.nan)
    return out
