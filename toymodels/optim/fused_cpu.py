"""Adam / AdamW on the CPU through torch's fused kernel, one call per member.

``torch._fused_adamw_`` / ``torch._fused_adam_`` (the kernel of ``torch.optim.AdamW(fused=True)``) update a list of
tensors reading and writing p, m and v once each, where the batched update of ``adam.py`` makes about ten
elementwise passes over [E, ...] tensors that do not fit in cache. The kernel takes one set of scalar hyperparameters
per call, and members have their own (weight decay, lr, betas, eps), so each member gets its own call on its slices
p[e], m[e], v[e] of every parameter of the group (contiguous views) with its own step count; a frozen member's call
is skipped inside the kernel (``found_inf`` = 1, GradScaler's flag: nothing is read or written, so its parameters
and state keep their bits). The loop over members is on purpose: E calls of one fused pass each cost less than the
batched passes (``scripts/bench_optimizer.py`` compares both on the main job's and the transformer's parameters),
and the update is the same -- torch.optim.AdamW's, to the last bit in float64 (tests/test_fused_adam.py).

Used in eager CPU steps only: under torch.compile inductor fuses the batched update itself, and on CUDA the batched
update is one kernel per pass over all members anyway.
"""
from __future__ import annotations

from typing import Sequence

import torch

DTYPES = (torch.float32, torch.float64)
# A call costs ~10 us before it touches memory, so members with few parameters (many tiny deep linear nets) keep the
# batched update: per member and group >= 4096 elements, where the two cross (scripts/bench_optimizer.py).
MIN_MEMBER_ELEMENTS = 4096


def usable(params: Sequence[torch.Tensor]) -> bool:
    """Whether the fused member calls apply: an eager step, CPU tensors of a float dtype the kernel takes, the
    parameters and their gradients contiguous (the kernel walks raw memory: a strided gradient would be misread),
    and enough elements per member to pay for a call each."""
    if torch.compiler.is_compiling() or sum(p.numel() for p in params) < MIN_MEMBER_ELEMENTS * params[0].shape[0]:
        return False
    return all(p.device.type == "cpu" and p.dtype in DTYPES and p.is_contiguous() and p.grad.dtype == p.dtype
               and p.grad.is_contiguous() for p in params)


def member_steps(params: Sequence[Sequence[torch.Tensor]], grads: Sequence[Sequence[torch.Tensor]],
                 exp_avgs: Sequence[Sequence[torch.Tensor]], exp_avg_sqs: Sequence[Sequence[torch.Tensor]],
                 steps: Sequence[Sequence[torch.Tensor]], lr: Sequence[torch.Tensor],
                 hypers: Sequence[tuple[float, float, float, float]], skip: Sequence[torch.Tensor] | None,
                 decoupled: bool):
    """One Adam(W) update of every member. params, grads, exp_avgs, exp_avg_sqs, steps: per member e, the list of
    its views of the group's tensors ([...] each; steps: 0-dim float32, the member's step count after this update);
    lr: per member a 0-dim tensor; hypers: per member (beta1, beta2, eps, weight_decay); skip: per member a 0-dim
    float32 tensor, 1.0 for a member that must not move (None: every member moves)."""
    kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
    for e, (beta1, beta2, eps, weight_decay) in enumerate(hypers):
        kernel(params[e], grads[e], exp_avgs[e], exp_avg_sqs[e], [], steps[e], lr=lr[e], beta1=beta1, beta2=beta2,
               weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=False,
               found_inf=None if skip is None else skip[e])


def by_member(tensors: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
    """[E, ...] tensors -> per member e, the list of their e-th slices (views)."""
    return [list(views) for views in zip(*(t.unbind(0) for t in tensors))]
