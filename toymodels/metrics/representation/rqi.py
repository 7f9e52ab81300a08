"""Liu et al. (2022)'s representation measures for the addition toy: RQI, the effective-theory loss, and the test
accuracy the effective theory predicts from a training set (ideal) or from a learned representation.

Embeddings are [E, p, d] (``EnsembleLiuToy.embedding``); per-member training sets are boolean masks [E, R] over
the rows of Liu's table (``operation_table("liu_add", p)``: pairs a <= b, lexicographic, R = p (p + 1) / 2). The
parallelograms are the pairs of distinct table rows with equal sums (``parallelograms.py``), as in Liu's code
(ejmichaud/grokking-squared, ``toy/train_add.py``).
"""
from __future__ import annotations

import torch
from einops import einsum

from ...errors import ConfigError
from .parallelograms import parallelograms


def _check_embeddings(embeddings: torch.Tensor, key: str) -> torch.Tensor:
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 3:
        raise ConfigError(key, f"expected embeddings [E, p, d], got {getattr(embeddings, 'shape', type(embeddings))}")
    if embeddings.shape[1] < 2 or embeddings.shape[2] < 1:
        raise ConfigError(key, f"need p >= 2 symbols and d >= 1 dimensions, got {tuple(embeddings.shape)}")
    if not embeddings.is_floating_point():
        raise ConfigError(key, f"embeddings must be floating point, got {embeddings.dtype}")
    return embeddings


def _check_train_mask(train_mask: torch.Tensor, n_members: int, p: int, key: str) -> torch.Tensor:
    R = p * (p + 1) // 2
    if not isinstance(train_mask, torch.Tensor) or tuple(train_mask.shape) != (n_members, R):
        raise ConfigError(key, f"expected a boolean train mask [E={n_members}, R={R}] over Liu's table rows, "
                               f"got {getattr(train_mask, 'shape', type(train_mask))}")
    if train_mask.dtype != torch.bool:
        raise ConfigError(key, f"train mask must be boolean, got {train_mask.dtype}")
    return train_mask


def standardize(embeddings: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit standard deviation per dimension over the p symbols, per member: [E, p, d] -> [E, p, d].

    The standard deviation is PyTorch's default (Bessel-corrected, n - 1), as Liu's code (``reprs.std(0)``). A
    dimension that is constant over the symbols (std 0) becomes 0 instead of NaN: it carries no parallelogram
    information, and Liu's code would turn every distance into NaN (counting no parallelogram).
    """
    x = _check_embeddings(embeddings, "representation.embeddings")
    centred = x - x.mean(dim=1, keepdim=True)  # [E, p, d]
    std = x.std(dim=1, keepdim=True)  # [E, 1, d]
    return torch.where(std > 0, centred / torch.where(std > 0, std, 1.0), 0.0)


def parallelogram_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """mean_d ((E_a + E_b) - (E_c + E_d))_d^2 for every parallelogram: [E, p, d] -> [E, P] (no standardisation)."""
    x = _check_embeddings(embeddings, "representation.embeddings")
    q = parallelograms(x.shape[1], x.device).quads  # [P, 4]
    diff = x[:, q[:, 0]] + x[:, q[:, 1]] - x[:, q[:, 2]] - x[:, q[:, 3]]  # [E, P, d]
    return diff.square().mean(dim=-1)


def rqi(embeddings: torch.Tensor, delta: float = 0.01) -> torch.Tensor:
    """Representation quality index: the share of all parallelograms that hold in the standardised embedding.

    embeddings [E, p, d] -> [E] in [0, 1]. A parallelogram (a, b, c, d), a + b = c + d, holds when
    mean_d ((S_a + S_b) - (S_c + S_d))_d^2 < delta, S the standardised embedding (``standardize``).
    """
    if not delta > 0:
        raise ConfigError("representation.rqi.delta", f"must be > 0 (got {delta})")
    dist = parallelogram_distances(standardize(embeddings))  # [E, P]
    return (dist < delta).to(embeddings.dtype).mean(dim=-1)


def effective_loss(embeddings: torch.Tensor, train_mask: torch.Tensor | None = None,
                   center: bool = True) -> torch.Tensor:
    """Liu's effective-theory loss l_eff = sum_P |E_a + E_b - E_c - E_d|^2 / sum_k |E_k|^2: [E, p, d] -> [E].

    Which parallelograms P: with ``train_mask`` [E, R] (bool over Liu's table rows), P0(D), the parallelograms
    both of whose rows are in member e's training set (the paper's definition); with ``train_mask=None``, all
    parallelograms of the table (what Liu's code's effective-dynamics matrix ``A`` uses).

    The numerator is translation invariant; the denominator is not, so by default (``center=True``) the
    embeddings are centred over the symbols first (Liu's code evaluates it on the standardised, hence centred,
    embedding). l_eff is then invariant to translating and scaling the embedding. Raw embeddings with
    ``center=False``. An embedding that is identically zero (after centring) gives NaN.
    """
    x = _check_embeddings(embeddings, "representation.embeddings")
    E, p, _ = x.shape
    if center:
        x = x - x.mean(dim=1, keepdim=True)
    q = parallelograms(p, x.device).quads
    sq = (x[:, q[:, 0]] + x[:, q[:, 1]] - x[:, q[:, 2]] - x[:, q[:, 3]]).square().sum(dim=-1)  # [E, P]
    if train_mask is not None:
        train_mask = _check_train_mask(train_mask, E, p, "representation.train_mask")
        rows = parallelograms(p, x.device).rows
        in_d = train_mask[:, rows[:, 0]] & train_mask[:, rows[:, 1]]  # [E, P]: parallelogram in P0(D)
        sq = torch.where(in_d, sq, 0.0)
    return sq.sum(dim=-1) / x.square().sum(dim=(1, 2))


def _closing_rows(holds: torch.Tensor, train_mask: torch.Tensor, p: int) -> torch.Tensor:
    """Rows r that close a holding parallelogram {r, s} with a training row s: [E, P], [E, R] -> [E, R] bool.
    (Liu's ``calculate_Dbar``: one step, a test row is reached only through a training row.)"""
    rows = parallelograms(p, holds.device).rows
    r1, r2 = rows[:, 0], rows[:, 1]
    E, R = train_mask.shape
    via_r2 = (holds & train_mask[:, r2]).to(torch.int64)  # r1 closes the parallelogram with training row r2
    via_r1 = (holds & train_mask[:, r1]).to(torch.int64)
    hits = torch.zeros(E, R, dtype=torch.int64, device=holds.device)
    hits.scatter_add_(1, r1.expand(E, -1), via_r2)
    hits.scatter_add_(1, r2.expand(E, -1), via_r1)
    return hits > 0


def _test_share(reached: torch.Tensor, train_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    test = ~train_mask
    n_test = test.sum(dim=-1)
    hit = (reached & test).sum(dim=-1)
    return torch.where(n_test > 0, hit.to(dtype) / n_test.clamp(min=1).to(dtype), torch.nan)


def predicted_test_accuracy(embeddings: torch.Tensor, train_mask: torch.Tensor,
                            delta: float = 0.01) -> torch.Tensor:
    """Liu's test accuracy predicted from the learned representation: [E, p, d], [E, R] -> [E] (NaN if a member
    has no test row).

    Exact rule (as ``train_add.py``'s ``acc_pred_test``): P(R) = the parallelograms of the whole table that hold
    in the standardised embedding within ``delta`` (the RQI criterion, mean_d diff^2 < delta). A test row
    (a, b) is predictable when some *training* row (c, d) forms a parallelogram with it that is in P(R) (then the
    decoder sees E_a + E_b = E_c + E_d and must answer as for (c, d) = a + b). Accuracy = predictable test
    rows / test rows. Parallelograms linking two test rows, or chains of them, do not count (one step, as there).
    """
    x = standardize(embeddings)
    E, p, _ = x.shape
    train_mask = _check_train_mask(train_mask, E, p, "representation.train_mask")
    if not delta > 0:
        raise ConfigError("representation.rqi.delta", f"must be > 0 (got {delta})")
    holds = parallelogram_distances(x) < delta  # [E, P]
    return _test_share(_closing_rows(holds, train_mask, p), train_mask, x.dtype)


def ideal_test_accuracy(train_mask: torch.Tensor, p: int, tol: float = 1e-8) -> torch.Tensor:
    """Liu's ideal test accuracy (\\overline{Acc}) from the training set alone: [E, R] -> [E] float64.

    P(D): the parallelograms P0(D) of the training set plus every parallelogram they induce, i.e. whose linear
    equation e_a + e_b - e_c - e_d lies in the span of P0(D)'s equations (Liu's code: adding it does not change
    the null-space dimension of A^T A, eigenvalues < 1e-8). Here: the squared norm of its component in the null
    space of A_D^T A_D (eigenvalues < ``tol``) is < ``tol``. Then a test row counts when it closes a
    parallelogram of P(D) with a training row (as in ``predicted_test_accuracy``).
    """
    if not isinstance(train_mask, torch.Tensor) or train_mask.dim() != 2:
        raise ConfigError("representation.train_mask", "expected a boolean train mask [E, R]")
    E = train_mask.shape[0]
    train_mask = _check_train_mask(train_mask, E, p, "representation.train_mask")
    pg = parallelograms(p, train_mask.device)
    A = pg.coefficients  # [P, p] float64
    in_d = train_mask[:, pg.rows[:, 0]] & train_mask[:, pg.rows[:, 1]]  # [E, P]
    A_d = torch.where(in_d[..., None], A, 0.0)  # [E, P, p]
    gram = einsum(A_d, A_d, "e P i, e P j -> e i j")
    evals, evecs = torch.linalg.eigh(gram)  # [E, p], [E, p, p]
    null = evals < tol  # [E, p]: null-space directions
    comp = einsum(A, evecs, "P i, e i k -> e P k").square()  # [E, P, p]: components along each eigenvector
    induced = torch.where(null[:, None, :], comp, 0.0).sum(dim=-1) < tol  # [E, P]
    return _test_share(_closing_rows(induced, train_mask, p), train_mask, torch.float64)
