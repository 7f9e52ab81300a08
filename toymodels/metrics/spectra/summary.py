"""Views of ``analyze``'s output: per-(layer, member) rows, WeightWatcher's summary, a plain-text table."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

#: The layer averages WeightWatcher's ``get_summary`` reports.
SUMMARY_METRICS = ("log_norm", "alpha", "alpha_weighted", "log_alpha_norm", "log_spectral_norm", "stable_rank",
                   "mp_softrank")
#: Columns of the readable table (those present).
TABLE_COLUMNS = ("layer_id", "name", "member", "N", "M", "alpha", "sigma", "num_pl_spikes", "D", "xmin",
                 "alpha_weighted", "log_norm", "log_spectral_norm", "stable_rank", "mp_softrank", "num_spikes",
                 "rand_distance", "num_traps", "detX_num", "ERG_gap")


def _py(v: torch.Tensor):
    if v.dtype == torch.bool:
        return bool(v)
    if v.is_floating_point():
        return float(v)
    return int(v)


def to_rows(result: Mapping[str, Mapping[str, torch.Tensor]]) -> list[dict]:
    """One dict per (layer, member): layer_id (position in ``result``), name, member, then every column."""
    rows = []
    for layer_id, (name, cols) in enumerate(result.items()):
        host = {k: v.detach().cpu() for k, v in cols.items()}
        E = next(iter(host.values())).shape[0] if host else 0
        for e in range(E):
            row = {"layer_id": layer_id, "name": name, "member": e}
            row.update({k: _py(v[e]) for k, v in host.items()})
            rows.append(row)
    return rows


def summary(result: Mapping[str, Mapping[str, torch.Tensor]],
            metrics: Sequence[str] = SUMMARY_METRICS) -> dict[str, torch.Tensor]:
    """Per-member means over layers (NaN-skipping, as pandas' mean in WeightWatcher's ``get_summary``).

    Every layer must have the same number of members E. Returns {metric: Tensor[E]} for the metrics present.
    """
    out = {}
    for m in metrics:
        cols = [cols[m].to(torch.float64) for cols in result.values() if m in cols]
        if not cols:
            continue
        if len({c.shape[0] for c in cols}) != 1:
            raise ValueError("summary needs the same number of members in every layer")
        out[m] = torch.stack(cols).nanmean(dim=0)
    return out


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return str(v)


def format_table(rows: Sequence[Mapping], columns: Sequence[str] = TABLE_COLUMNS) -> str:
    """Fixed-width text table of the given columns (those present in the rows)."""
    if not rows:
        return "(no layers analysed)"
    cols = [c for c in columns if c in rows[0]]
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths)))]
    for row in cells:
        lines.append("  ".join(v.rjust(w) if i > 1 else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)
