"""Train a PINN: Adam with learning-rate decay, then optional L-BFGS; a history per loss term.

The loss is a weighted sum of named terms (``{"residual": ..., "boundary": ...}``), each a mean
of squared residuals at sampled points. You give a function that computes the terms; the trainer
adds them with their weights, steps the optimiser, shows a progress bar and a live loss plot, and
every ``validate_every`` steps calls your validator (e.g. the error against an exact solution).

Threads: PyTorch runs each operation on several CPU threads. For a tiny network (1D problems,
a few hundred points) the operations are too short to share, and one thread is as fast as two.
For the chip flow (1,000 points a step) two threads made training 1.5 times faster than one on a
2-core machine with nothing else running (25 against 17 iterations/s), but two trainings at once,
two threads each, ran at 9 iterations/s each against 16-21 with one thread each: threads that
outnumber the cores wait for each other. :func:`set_cpu_threads` therefore uses every core this
process may use, unless ``OMP_NUM_THREADS`` says otherwise (``make test`` sets 1 for its two
workers); pass 1 for tiny problems, or when you train in two notebooks at once.
``benchmarks/pinn_chip.py`` measures it on your machine.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from common import plots

LossFn = Callable[[], dict[str, torch.Tensor]]
Validator = Callable[[], dict[str, float]]


def set_cpu_threads(num_threads: int | None = None, verbose: bool = True) -> int:
    """Set PyTorch's CPU threads (default: ``$OMP_NUM_THREADS``, else every usable core)."""
    if num_threads is None:
        from_env = os.environ.get("OMP_NUM_THREADS", "").strip()
        num_threads = int(from_env) if from_env.isdigit() else len(os.sched_getaffinity(0))
    torch.set_num_threads(max(int(num_threads), 1))
    if verbose:
        print(f"PyTorch uses {torch.get_num_threads()} CPU thread(s) for this notebook")
    return torch.get_num_threads()


@dataclass
class History:
    """What happened during training: loss terms and validation metrics by step, and the times."""

    steps: list[int] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)
    val_steps: list[int] = field(default_factory=list)
    validation: dict[str, list[float]] = field(default_factory=dict)
    adam_steps: int = 0
    lbfgs_steps: int = 0
    seconds: float = 0.0

    def last(self, name: str) -> float:
        """Return the last recorded value of a loss term or validation metric."""
        values = self.losses.get(name) or self.validation.get(name)
        if not values:
            raise KeyError(f"{name!r} was never recorded: have {self.names()}")
        return values[-1]

    def names(self) -> list[str]:
        """Return the names of every recorded loss term and metric."""
        return list(self.losses) + list(self.validation)

    def steps_per_s(self) -> float:
        """Return the optimiser steps (Adam steps plus L-BFGS iterations) per second."""
        return (self.adam_steps + self.lbfgs_steps) / max(self.seconds, 1e-9)


def weighted_total(
    terms: dict[str, torch.Tensor], weights: dict[str, float] | None
) -> torch.Tensor:
    """Return the sum of the loss terms, each times its weight (1 when not given)."""
    weights = weights or {}
    unknown = set(weights) - set(terms)
    if unknown:
        raise KeyError(f"weights for unknown loss terms {sorted(unknown)}; terms are {list(terms)}")
    return sum(weights.get(name, 1.0) * value for name, value in terms.items())  # type: ignore[return-value]


class _Recorder:
    """Collects the history, feeds the live plot and the progress bar."""

    def __init__(
        self,
        history: History,
        validate: Validator | None,
        validate_every: int,
        live: plots.LivePlot | None,
        bar: tqdm,
    ) -> None:
        self.history = history
        self.validate = validate
        self.validate_every = validate_every
        self.live = live
        self.bar = bar

    def __call__(
        self, step: int, terms: dict[str, torch.Tensor], total: torch.Tensor, count: int = 1
    ) -> None:
        self.history.steps.append(step)
        values = {name: float(value.detach()) for name, value in terms.items()}
        values["total"] = float(total.detach())
        for name, value in values.items():
            self.history.losses.setdefault(name, []).append(value)
        metrics: dict[str, float] = {}
        due = step // self.validate_every != (step - count) // self.validate_every
        if self.validate is not None and (due or step == 0):
            metrics = self.validate()
            self.history.val_steps.append(step)
            for name, value in metrics.items():
                self.history.validation.setdefault(name, []).append(float(value))
        # The live plot needs every curve at every point: with a validator, plot at its steps.
        plot_now = bool(metrics) if self.validate is not None else step % self.validate_every == 0
        if self.live is not None and plot_now:
            self.live.update(step, loss=values["total"], **metrics)
        self.bar.update(count)
        if step % 50 == 0:
            shown = {"loss": f"{values['total']:.2e}"} | {k: f"{v:.2e}" for k, v in metrics.items()}
            self.bar.set_postfix(shown, refresh=False)


def train(
    parameters: Iterable[torch.nn.Parameter],
    loss_fn: LossFn,
    num_adam_steps: int,
    lr: float = 1e-3,
    lr_decay: float = 1.0,
    num_lbfgs_steps: int = 0,
    weights: dict[str, float] | None = None,
    validate: Validator | None = None,
    validate_every: int = 500,
    live_plot: bool = True,
    title: str | None = None,
    history: History | None = None,
    lbfgs_loss_fn: LossFn | None = None,
) -> History:
    """Minimise the weighted sum of ``loss_fn()``'s terms: Adam, then L-BFGS; return the history.

    ``lr_decay`` is the factor by which the learning rate falls over the Adam steps (exponential
    decay; 0.01 ends at lr / 100). L-BFGS (strong-Wolfe line search) then polishes the minimum:
    it needs a deterministic loss: if ``loss_fn`` draws new points at every call, pass a
    ``lbfgs_loss_fn`` on fixed points for that phase. Pass ``history`` to continue one.
    """
    parameters = [p for p in parameters if p.requires_grad]
    history = history or History()
    start_step = (history.steps[-1] + 1) if history.steps else 0
    # Redrawing a figure costs a few tenths of a second: every 5 s keeps training in front.
    live = plots.LivePlot(title=title, xlabel="step", min_interval_s=5.0) if live_plot else None
    bar = tqdm(total=num_adam_steps + num_lbfgs_steps, desc="training", unit="step", leave=False)
    record = _Recorder(history, validate, validate_every, live, bar)
    started = time.perf_counter()
    step = start_step
    if num_adam_steps > 0:
        optimizer = torch.optim.Adam(parameters, lr=lr)
        gamma = lr_decay ** (1.0 / num_adam_steps)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
        for _ in range(num_adam_steps):
            optimizer.zero_grad(set_to_none=True)
            terms = loss_fn()
            total = weighted_total(terms, weights)
            total.backward()
            optimizer.step()
            scheduler.step()
            record(step, terms, total)
            step += 1
        history.adam_steps += num_adam_steps
        if validate is not None and num_lbfgs_steps > 0 and history.val_steps[-1:] != [step - 1]:
            _validate_now(history, validate, step - 1, live)
    if num_lbfgs_steps > 0:
        step, done = _run_lbfgs(
            parameters, lbfgs_loss_fn or loss_fn, weights, num_lbfgs_steps, record, step
        )
        history.lbfgs_steps += done
    bar.close()
    if validate is not None and (not history.val_steps or history.val_steps[-1] != step - 1):
        _validate_now(history, validate, step - 1, live)
    history.seconds += time.perf_counter() - started
    if live is not None:
        live.close()
    return history


def _validate_now(
    history: History, validate: Validator, step: int, live: plots.LivePlot | None
) -> None:
    """Validate outside the regular schedule (at the switch to L-BFGS, at the end)."""
    metrics = validate()
    for name, value in metrics.items():
        history.validation.setdefault(name, []).append(float(value))
    history.val_steps.append(step)
    if live is not None and history.losses:
        live.update(step, loss=history.losses["total"][-1], **metrics)


def _run_lbfgs(
    parameters: list[torch.nn.Parameter],
    loss_fn: LossFn,
    weights: dict[str, float] | None,
    num_steps: int,
    record: _Recorder,
    step: int,
    chunk: int = 20,
) -> tuple[int, int]:
    """Run ``num_steps`` L-BFGS iterations in chunks of ``chunk``, recording after each chunk.

    PyTorch's L-BFGS drops curvature pairs with y.s below 1e-10, so on a loss of 1e-8 it quietly
    turns into gradient descent. The loss it sees is therefore divided by its value at the start
    (the history records the unscaled terms). It stops early when a chunk changes nothing.
    """
    optimizer = torch.optim.LBFGS(
        parameters,
        lr=1.0,
        max_iter=chunk,
        max_eval=3 * chunk,
        history_size=50,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )
    last: dict[str, torch.Tensor] = {}
    scale = 1.0 / max(float(weighted_total(loss_fn(), weights).detach()), 1e-30)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        terms = loss_fn()
        total = weighted_total(terms, weights)
        (total * scale).backward()
        last["terms"], last["total"] = terms, total  # type: ignore[assignment]
        return (total * scale).detach()

    done = 0
    previous = math.inf
    while done < num_steps:
        optimizer.param_groups[0]["max_iter"] = min(chunk, num_steps - done)
        before = optimizer.state[parameters[0]].get("n_iter", 0) if optimizer.state else 0
        optimizer.step(closure)
        after = optimizer.state[parameters[0]]["n_iter"]
        loss_now = float(last["total"].detach())
        if not math.isfinite(loss_now):
            raise FloatingPointError(
                f"L-BFGS diverged near step {step} (loss {loss_now}): lower the Adam learning "
                "rate or train longer with Adam before switching."
            )
        iterations = max(after - before, 1)
        record(step + iterations - 1, last["terms"], last["total"], count=iterations)
        step += iterations
        done += iterations
        if loss_now >= previous:
            print(f"L-BFGS stopped after {done} iterations: the loss no longer decreases.")
            record.bar.update(num_steps - done)
            break
        previous = loss_now
    return step, done


def relative_l2(predicted: torch.Tensor | object, exact: torch.Tensor | object) -> float:
    """Return ||predicted - exact|| / ||exact|| over all points (numpy arrays or tensors)."""
    predicted_t, exact_t = (
        value.detach().to(torch.float64).cpu()
        if isinstance(value, torch.Tensor)
        else torch.tensor(np.array(value, dtype=np.float64))
        for value in (predicted, exact)
    )
    if predicted_t.shape != exact_t.shape:
        raise ValueError(f"shapes differ: {tuple(predicted_t.shape)} vs {tuple(exact_t.shape)}")
    return float(torch.linalg.norm(predicted_t - exact_t) / torch.linalg.norm(exact_t))


@plots.styled
def plot_history(history: History, title: str | None = None) -> Figure:
    """Plot every loss term (left) and every validation metric (right) against the step."""
    panels = 2 if history.validation else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 3.8), squeeze=False)
    for name, values in history.losses.items():
        style = {"color": "black", "lw": 1.5} if name == "total" else {"lw": 1, "alpha": 0.8}
        axes[0, 0].semilogy(history.steps, values, label=name, **style)
    axes[0, 0].set(xlabel="step", ylabel="loss term (weighted sum: total)", title="Loss terms")
    if history.adam_steps and history.lbfgs_steps:
        axes[0, 0].axvline(history.steps[0] + history.adam_steps, color="grey", ls=":", lw=1)
    axes[0, 0].legend(fontsize=8)
    if history.validation:
        for name, values in history.validation.items():
            axes[0, 1].semilogy(history.val_steps[: len(values)], values, "o-", ms=3, label=name)
        axes[0, 1].set(xlabel="step", ylabel="validation metric", title="Against the reference")
        axes[0, 1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
