"""Adam / AdamW on the CPU through torch's fused kernel, one call per member.

``torch._fused_adamw_`` / ``torch._fused_adam_`` (the kernel of ``torch.optim.AdamW(fused=True)``) update a list of
tensors reading and writing p, m and v once each, where the batched update of ``adam.py`` makes about ten
elementwise passes over [E, ...] tensors that do not fit in cache. The kernel takes one set of scalar hyperparameters
per call, and members have their own (lr, betas, eps, weight decay), so each member gets its own call on its slices
p[e], m[e], v[e] (contiguous views) of every parameter whose group has the same hyperparameters, with its own step
count; a frozen member's call is skipped inside the kernel (``found_inf`` = 1, GradScaler's flag: nothing is read or
written, so its parameters and state keep their bits). The loop over members is on purpose: E calls of one fused
pass each cost less than the batched passes once a member has a few thousand parameters
(``scripts/bench_optimizer.py``), and the update is the same -- torch.optim.AdamW's, to the last bit in float64
(tests/test_fused_adam.py).

Used in eager CPU steps only: under torch.compile inductor fuses the batched update itself, and on CUDA the batched
update is one kernel per pass over all members anyway.
"""
from __future__ import annotations

from typing import Sequence

import torch

DTYPES = (torch.float32, torch.float64)
# A call costs ~10 us before it touches memory, so members with few parameters (many tiny deep linear nets) keep the
# batched update: per member and call >= 4096 elements, where the two cross (scripts/bench_optimizer.py).
MIN_MEMBER_ELEMENTS = 4096
HOST_HYPERS = ("lr", "beta1", "beta2", "eps", "weight_decay", "warmup_steps")  # per member, as Python floats


def usable(params: Sequence[torch.Tensor]) -> bool:
    """Whether the fused member calls apply: an eager step, CPU tensors of a float dtype the kernel takes, the
    parameters and their gradients contiguous (the kernel walks raw memory: a strided gradient would be misread),
    and enough elements per member to pay for a call each."""
    if torch.compiler.is_compiling() or sum(p.numel() for p in params) < MIN_MEMBER_ELEMENTS * params[0].shape[0]:
        return False
    return all(p.device.type == "cpu" and p.dtype in DTYPES and p.is_contiguous() and p.grad.dtype == p.dtype
               and p.grad.is_contiguous() for p in params)


class _Slices:
    """One parameter's per-member views: of p, of its state m and v, and of a float32 copy of its step counts."""

    def __init__(self, p: torch.Tensor, m: torch.Tensor, v: torch.Tensor):
        self.p, self.m, self.v, self.ptr = p, m, v, p.data_ptr()
        self.steps = torch.zeros(p.shape[0], dtype=torch.float32)  # [E]: the kernel reads a float step count
        self.views = (p.unbind(0), m.unbind(0), v.unbind(0), self.steps.unbind(0))


class MemberCalls:
    """The fused update of an ``EnsembleAdamW``: its groups joined by equal per-member hyperparameters, one kernel
    call per member and join. Views and hyperparameters are read once and kept while the tensors stay the same."""

    def __init__(self, opt):
        self.opt = opt
        self.reset()

    def reset(self):
        """Forget every view and re-read the hyperparameters (after load_state_dict replaced the tensors)."""
        self.slices: dict = {}  # p -> _Slices
        self.lists: dict = {}  # tuple of _Slices -> per member: lists of p, m, v and step views
        self.hosts: dict = {}  # id(group) -> ((tensor, version) per hyperparameter, per-member tuples of floats)
        for group in self.opt.param_groups:
            self._read(group)

    def _read(self, group: dict):
        # here rather than in every step: reading a tensor on the host inside a step would synchronise a device
        key = tuple((group[k], group[k]._version) for k in HOST_HYPERS)
        self.hosts[id(group)] = (key, tuple(zip(*(group[k].tolist() for k in HOST_HYPERS))))

    def hypers(self, group: dict) -> tuple[tuple[float, ...], ...]:
        """Per member (lr, beta1, beta2, eps, weight_decay, warmup_steps) of the group."""
        key, hypers = self.hosts.get(id(group), (None, None))
        if key is None or any(t is not group[k] or v != t._version for (t, v), k in zip(key, HOST_HYPERS)):
            self._read(group)  # a hyperparameter tensor was replaced or changed in place since it was read
            key, hypers = self.hosts[id(group)]
        return hypers

    def step(self) -> list[tuple[dict, list[torch.Tensor]]]:
        """Update every join of groups the kernel can take; returns the (group, parameters with gradients) pairs
        left for the batched update."""
        cpu, left = [], []
        for group in self.opt.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:  # a device's groups: the batched update, nothing read on the host
                (cpu if params[0].device.type == "cpu" else left).append((group, params))
        n = [p.numel() // p.shape[0] for _, ps in cpu for p in ps]  # elements per member
        if sum(n) < MIN_MEMBER_ELEMENTS:  # no join could take the kernel: skip joining groups (O(E) per group)
            return left + cpu
        joins: dict = {}
        for group, params in cpu:
            joins.setdefault(self.hypers(group), []).append((group, params))
        active, skip = self.opt.active, None
        for hypers, pairs in joins.items():
            params = [p for _, ps in pairs for p in ps]
            if not usable(params):
                left += pairs
                continue
            if skip is None and active is not None:  # per member a 0-dim float32: 1.0 for a frozen member
                skip = (~active).to(torch.float32).unbind(0)
            self._update(params, pairs[0][0], hypers, skip)
        return left

    def _slices(self, p: torch.Tensor) -> _Slices:
        self.opt._init_state(p)
        state = self.opt.state[p]
        s = self.slices.get(p)
        if s is None or s.m is not state["exp_avg"] or s.v is not state["exp_avg_sq"] or s.ptr != p.data_ptr():
            s = self.slices[p] = _Slices(p, state["exp_avg"], state["exp_avg_sq"])
            self.lists.clear()  # the per-member lists built from the old views go with them
        return s

    def _update(self, params: list[torch.Tensor], group: dict, hypers, skip):
        opt = self.opt
        slices = tuple(self._slices(p) for p in params)
        inc = 1 if opt.active is None else opt.active.to(torch.int64)  # [E]: frozen members do not count
        for s in slices:
            s.steps.copy_(opt.state[s.p]["step"].add_(inc))  # the member's count after this update
        lists = self.lists.get(slices)
        if lists is None:  # per member e: [p[e] for p], [m[e] for p], [v[e] for p], [steps[e] for p]
            lists = self.lists[slices] = [[list(x) for x in zip(*(s.views[i] for s in slices))] for i in range(4)]
        P, M, V, S = lists
        grads = [list(x) for x in zip(*(p.grad.unbind(0) for p in params))]
        if all(h[5] == 0 for h in hypers):  # no warmup: the lr is each member's constant
            lr = [h[0] for h in hypers]
        else:
            lr = opt._lr(group, opt.state[params[0]]["step"]).unbind(0)  # [E] float64 -> per member 0-dim
        kernel = torch._fused_adamw_ if opt.decoupled else torch._fused_adam_
        for e, (_, beta1, beta2, eps, weight_decay, _) in enumerate(hypers):
            kernel(P[e], grads[e], M[e], V[e], [], S[e], lr=lr[e], beta1=beta1, beta2=beta2,
                   weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=False,
                   found_inf=None if skip is None else skip[e])
