"""Progress on stderr (stdout carries only results, the run directory last).

A fit shows Rich's or tqdm's bar on stderr when stderr is a terminal, and otherwise one plain line every ~10 s
(``PlainProgress``). A sweep run in this process adds a line every ~10 s over all its fits (``SweepProgress``): steps
done over the sweep's total, fits done, members per phase so far, and an ETA from the step rate measured in this
session."""
from __future__ import annotations

import sys
import time
from collections import Counter

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar

EVERY_S = 10.0  # seconds between plain progress lines


def fmt_time(seconds: float) -> str:
    m, s = divmod(int(max(seconds, 0)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _say(line: str):
    print(line, file=sys.stderr, flush=True)


class _StepsTotal:
    """Progress bars count steps to ``max_steps`` (the step loop has no epochs of fixed length)."""

    @property
    def total_train_batches(self):
        return self.trainer.max_steps


class StepRichBar(_StepsTotal, RichProgressBar):
    def __init__(self):
        super().__init__(console_kwargs={"stderr": True})

    def _get_train_description(self, current_epoch: int) -> str:
        return "steps"


class StepTQDMBar(_StepsTotal, TQDMProgressBar):  # tqdm writes to stderr
    pass


class PlainProgress(L.Callback):
    """One line every ``every_s`` seconds: step / max_steps, steps per second, ETA, the members' mean metrics."""

    def __init__(self, every_s: float = EVERY_S, label: str = "fit"):
        self.every_s, self.label = every_s, label
        self._t0 = self._last = 0.0
        self._step0 = 0

    def on_train_start(self, trainer, pl_module):
        self._t0 = self._last = time.time()
        self._step0 = trainer.global_step
        self._first_done = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now = time.time()
        if not self._first_done:  # the rate counts from the first step's end: a compiled step's compilation,
            self._first_done = True  # which the first step pays, is not a step rate
            self._t0, self._step0 = now, trainer.global_step
            return
        if now - self._last < self.every_s:
            return
        self._last = now
        step, total = trainer.global_step, trainer.max_steps
        rate = (step - self._step0) / max(now - self._t0, 1e-9)
        metrics = ", ".join(f"{k} {float(v):.3g}" for k, v in trainer.progress_bar_metrics.items()
                            if k.endswith("_mean") or k == "generalised")
        _say(f"[{self.label}] step {step}/{total} ({100 * step / max(total, 1):.0f}%) | {rate:.0f} steps/s | "
             f"ETA {fmt_time((total - step) / max(rate, 1e-9))}" + (f" | {metrics}" if metrics else ""))


def fit_progress(mode: str, compiling: bool = False) -> list[L.Callback]:
    """The progress callbacks of one fit: ``mode`` rich / tqdm (a bar when stderr is a terminal, else plain lines)
    or none; ``compiling``: say first that the first step compiles."""
    if mode == "none":
        return []
    if compiling:
        _say("[fit] the first step compiles the training step (torch.compile); inductor caches the code, so a later "
             "run of the same shapes starts faster")
    if not sys.stderr.isatty():
        return [PlainProgress()]
    return [StepRichBar() if mode == "rich" else StepTQDMBar()]


class SweepProgress:
    """Steps over all of a sweep's fits. ``callback()`` follows one in-process fit; ``chunk_done(rows)`` counts a
    finished fit and its members' phases. Lines every ``every_s`` seconds and at each finished fit."""

    def __init__(self, total_steps: int, done_steps: int, total_fits: int, done_fits: int,
                 phases: tuple[str, ...], parallel: bool = False, every_s: float = EVERY_S):
        self.total_steps, self.done_steps = total_steps, done_steps
        self.total_fits, self.done_fits = total_fits, done_fits
        self.phases, self.parallel, self.every_s = phases, parallel, every_s
        self.t0 = self._last = time.time()
        self._session_steps = 0  # steps run in this session (the rate's numerator)
        self._current = 0  # steps of the fit now running
        self.counts: Counter = Counter()

    def _line(self) -> str:
        done = self.done_steps + self._current
        elapsed = time.time() - self.t0
        rate = (self._session_steps + self._current) / max(elapsed, 1e-9)
        eta = (self.total_steps - done) / rate if rate > 0 else float("nan")
        eta_s = fmt_time(eta) if eta == eta else "?"
        phases = ", ".join(f"{p} {self.counts.get(p, 0)}" for p in self.phases) if self.counts else "no phases yet"
        return (f"[sweep] chunks {self.done_fits}/{self.total_fits} | steps {done}/{self.total_steps} "
                f"({100 * done / max(self.total_steps, 1):.0f}%) | {rate:.0f} steps/s | elapsed {fmt_time(elapsed)}, "
                f"ETA {'<= ' if self.parallel else ''}{eta_s} | {phases}")

    def step(self, steps_in_fit: int):
        self._current = steps_in_fit
        if time.time() - self._last >= self.every_s:
            self._last = time.time()
            _say(self._line())

    def chunk_done(self, rows: list[dict], fit_steps: int):
        self._session_steps += fit_steps
        self.done_steps += fit_steps
        self._current = 0
        self.done_fits += 1
        self.counts = Counter(r.get("phase") for r in rows if r.get("phase") is not None)
        self._last = time.time()
        _say(self._line())

    def callback(self) -> L.Callback:
        return _FollowFit(self)


class _FollowFit(L.Callback):
    def __init__(self, sweep: SweepProgress):
        self.sweep, self._start = sweep, 0

    def on_train_start(self, trainer, pl_module):
        self._start = trainer.global_step  # a resumed fit: its earlier steps are already counted as not done

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.sweep.step(trainer.global_step - self._start)
