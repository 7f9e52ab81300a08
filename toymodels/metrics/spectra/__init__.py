"""Weight-spectrum metrics (heavy-tailed self-regularisation, HTSR; SETOL), batched over members.

WeightWatcher 0.7.7-compatible: the same column names and, on the same matrices, the same alpha, xmin, D,
num_pl_spikes, MP fit and detX (tests/spectra compares them), computed for a whole stack [E, N, M] of members
at once, on CPU or GPU, in float64. See SCIENCE.md section 3 for the definitions.

- ``analyze``: {layer: matrices} -> {layer: {metric: Tensor[E]}}, one batched pass per matrix shape.
- ``esd``: eigenvalues of W^T W (``eigenvalues``, ``esd_stack``, ``as_stack``, ``conv2d_slices``,
  ``strip_zero_padding``).
- ``powerlaw_fit``: ``fit_power_law``, WeightWatcher's WWFit (all xmin candidates at once, small-sample branch
  included).
- ``mp_fit``: ``fit_mp``, the Marchenko-Pastur bulk fit (KDE + brute-force grid + Nelder-Mead, as WeightWatcher).
- ``randomized``: shuffled-W ESDs: rand_distance, correlation traps.
- ``detx``: ``detx_metrics``, SETOL's ERG / detX condition with sums of logs.
- ``norms``: log_norm, alpha_weighted, stable_rank, ranks, entropy.
- ``summary``: rows per (layer, member), WeightWatcher's summary means, a text table.
"""
from .analyze import COLUMNS, analyze, analyze_stack
from .detx import detx_metrics
from .esd import as_stack, conv2d_slices, eigenvalues, esd_stack, pooled, strip_zero_padding
from .mp_fit import fit_mp, kde_linear
from .norms import esd_stats, norm_metrics
from .powerlaw_fit import EVALS_THRESH, fit_power_law
from .randomized import jensen_shannon_distance, randomized_esd, randomized_metrics, shuffle_stack
from .summary import SUMMARY_METRICS, format_table, summary, to_rows

__all__ = [
    "COLUMNS", "analyze", "analyze_stack",
    "detx_metrics",
    "as_stack", "conv2d_slices", "eigenvalues", "esd_stack", "pooled", "strip_zero_padding",
    "fit_mp", "kde_linear",
    "esd_stats", "norm_metrics",
    "EVALS_THRESH", "fit_power_law",
    "jensen_shannon_distance", "randomized_esd", "randomized_metrics", "shuffle_stack",
    "SUMMARY_METRICS", "format_table", "summary", "to_rows",
]
