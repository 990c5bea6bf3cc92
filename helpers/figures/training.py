"""Figures of notebook 09: training curves of several fine-tuning methods, and a schedule.

Each function takes plain numbers (the ``records`` a run keeps: dicts with ``step``,
``seconds``, ``loss`` and ``accuracy``) and returns a ``matplotlib.figure.Figure``; none calls
``plt.show()`` or changes global matplotlib state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

__all__ = ["accuracy_time_figure", "schedule_figure"]


def _points(records: Sequence[Mapping[str, Any]], key: str, x: str) -> tuple[list, list]:
    pairs = [(r[x], r[key]) for r in records if r.get(key) is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def accuracy_time_figure(runs: Mapping[str, Sequence[Mapping[str, Any]]],
                         offsets: Mapping[str, float] | None = None, title: str = "",
                         size: tuple[float, float] = (10.0, 3.6)) -> Figure:
    """Validation accuracy against training minutes, and training loss against steps.

    Args:
        runs: Method -> its records (``{"step", "seconds", "loss", "accuracy"}``, in order).
        offsets: Method -> seconds spent before its first step (e.g. the frozen feature pass
            that a probe or LP-FT needs), added to its time axis so every curve shows the
            method's whole cost.
        title: Figure title.
        size: Figure size in inches.

    Returns:
        Two panels: accuracy (one marker per evaluation) against minutes; mean training loss
        since the previous evaluation against the step.
    """
    if not runs:
        raise ValueError("runs must hold at least one method's records.")
    offsets = offsets or {}
    palette = colormaps["tab10"]
    fig = Figure(figsize=size, layout="constrained")
    left, right = fig.subplots(1, 2)
    for index, (method, records) in enumerate(runs.items()):
        colour = palette(index % palette.N)
        seconds, accuracy = _points(records, "accuracy", "seconds")
        minutes = (np.asarray(seconds, dtype=float) + offsets.get(method, 0.0)) / 60
        if len(minutes):
            left.plot(minutes, np.asarray(accuracy) * 100, "o-", color=colour, label=method,
                      markersize=4)
        steps, loss = _points(records, "loss", "step")
        if len(steps):
            right.plot(steps, loss, "-", color=colour, label=method)
    left.set_xlabel("minutes (training, plus any frozen feature pass)")
    left.set_ylabel("validation accuracy (%)")
    left.grid(alpha=0.3)
    left.legend(fontsize=7, loc="lower right")
    right.set_xlabel("optimizer step")
    right.set_ylabel("training loss (label-smoothed)")
    right.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def schedule_figure(factors: Sequence[float], warmup_steps: int, title: str = "",
                    size: tuple[float, float] = (6.0, 2.6)) -> Figure:
    """A learning-rate schedule: the factor of the peak rate at every step.

    Args:
        factors: One factor per step.
        warmup_steps: Where the warm-up ends (a dotted line).
        title: Figure title.
        size: Figure size in inches.
    """
    values = np.asarray(factors, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("factors must be a non-empty sequence of numbers.")
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    ax.plot(np.arange(len(values)), values, color="tab:blue")
    if warmup_steps:
        ax.axvline(warmup_steps - 0.5, color="0.5", linestyle=":", label="end of warm-up")
        ax.legend(fontsize=7)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("share of the peak rate")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
