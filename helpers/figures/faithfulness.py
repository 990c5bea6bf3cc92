"""Figures of notebook 08: deletion and insertion curves, the results with their intervals, the
randomisation cascade and the head-ablation test.

Each function takes arrays or tensors and returns a ``matplotlib.figure.Figure``; none calls
``plt.show()`` or changes global matplotlib state. Methods keep one colour across figures
(:func:`method_colours`); the random baseline is always grey and dashed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from helpers.figures.arrays import as_array

__all__ = ["method_colours", "curves_figure", "baseline_figure", "results_figure",
           "cascade_figure", "ablation_figure"]

_RANDOM = "random"


def method_colours(methods: Sequence[str]) -> dict[str, Any]:
    """One colour per method, grey for ``"random"``, in the order given."""
    palette = colormaps["tab10"]
    hues = [i for i in range(palette.N) if i != 7]  # tab10's 7th colour is the random map's grey
    colours, index = {}, 0
    for method in methods:
        if method == _RANDOM:
            colours[method] = "0.45"
        else:
            colours[method] = palette(hues[index % len(hues)])
            index += 1
    return colours


def _style(method: str) -> dict[str, Any]:
    return {"linestyle": "--", "linewidth": 1.6} if method == _RANDOM else {"linewidth": 1.4}


def _mean_and_error(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the first axis (images) and its standard error."""
    array = as_array(values, dtype=np.float64)
    count = array.shape[0]
    error = array.std(axis=0, ddof=1) / np.sqrt(count) if count > 1 else np.zeros(array.shape[1:])
    return array.mean(axis=0), error


def curves_figure(curves: Mapping[str, Mapping[str, Any]], title: str = "",
                  size: tuple[float, float] = (9.0, 3.4)) -> Figure:
    """Mean deletion and insertion curves of every method, with a band of ± one standard error.

    Args:
        curves: Mode (``"deletion"``, ``"insertion"``) -> method -> (B, steps + 1) curves.
        title: Figure title.
        size: Figure size in inches.

    Returns:
        One panel per mode: class probability against the fraction of patches removed
        (deletion) or revealed (insertion).
    """
    if not curves or any(not per_method for per_method in curves.values()):
        raise ValueError("curves must map each mode to at least one method's curves.")
    methods = list(next(iter(curves.values())))
    colours = method_colours(methods)
    fig = Figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(curves), sharey=True))
    for ax, (mode, per_method) in zip(axes, curves.items(), strict=True):
        for method, values in per_method.items():
            mean, error = _mean_and_error(values)
            x = np.linspace(0, 1, len(mean))
            ax.plot(x, mean, color=colours[method], label=method, **_style(method))
            ax.fill_between(x, mean - error, mean + error, color=colours[method], alpha=0.12)
        verb = "removed" if mode == "deletion" else "revealed"
        ax.set_xlabel(f"fraction of patches {verb} (most important first)")
        ax.set_title(mode, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("probability of the explained class")
    axes[-1].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def baseline_figure(aucs: Mapping[str, Mapping[str, Mapping[str, float]]], title: str = "",
                    size: tuple[float, float] = (8.0, 3.6)) -> Figure:
    """Each method's mean AUC under one removal baseline against another, per curve.

    Args:
        aucs: Mode (``"deletion"``, ``"insertion"``) -> baseline name -> method -> mean AUC;
            exactly two baselines per mode (x axis first, y axis second).
        title: Figure title.
        size: Figure size in inches.

    Returns:
        One panel per mode: a dot per method, and the diagonal where both baselines agree.
    """
    if not aucs:
        raise ValueError("aucs must map at least one mode to two baselines.")
    fig = Figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(aucs)))
    for ax, (mode, per_baseline) in zip(axes, aucs.items(), strict=True):
        if len(per_baseline) != 2:
            raise ValueError(f"aucs[{mode!r}] must hold exactly two baselines; got "
                             f"{list(per_baseline)}.")
        (first, x), (second, y) = per_baseline.items()
        colours = method_colours(list(x))
        for method in x:
            ax.plot(x[method], y[method], "o", color=colours[method], label=method)
        values = [*x.values(), *y.values()]
        low, high = min(values) - 0.03, max(values) + 0.03
        ax.plot([low, high], [low, high], color="0.6", linewidth=0.8)
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect("equal")
        ax.set_xlabel(f"{mode} AUC, removed = {first}", fontsize=9)
        ax.set_ylabel(f"{mode} AUC, removed = {second}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def results_figure(rows: Sequence[Mapping[str, Any]], metrics: Sequence[tuple[str, str]],
                   title: str = "", size: tuple[float, float] | None = None) -> Figure:
    """Each method's score on each metric with its interval: one panel per metric.

    Args:
        rows: One mapping per method with ``"method"`` and, for each metric key ``k``, a
            ``(mean, low, high)`` tuple under ``k`` (or None where not measured).
        metrics: ``(key, axis label)`` per panel, e.g. ``("deletion", "deletion AUC (lower
            is better)")``.
        title: Figure title.
        size: Figure size in inches (default: 3 inches per panel).

    Returns:
        The figure: a dot at the mean and a bar over the interval, methods top to bottom.
    """
    if not rows or not metrics:
        raise ValueError("results_figure needs at least one row and one metric.")
    methods = [row["method"] for row in rows]
    colours = method_colours(methods)
    fig = Figure(figsize=size or (3.0 * len(metrics) + 1.6, 0.32 * len(rows) + 1.2),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
    ys = np.arange(len(rows))[::-1]
    for ax, (key, label) in zip(axes, metrics, strict=True):
        for y, row in zip(ys, rows, strict=True):
            value = row.get(key)
            if value is None:
                continue
            mean, low, high = value
            ax.plot([low, high], [y, y], color=colours[row["method"]], linewidth=2)
            ax.plot(mean, y, "o", color=colours[row["method"]], markersize=5)
        random_row = next((row for row in rows if row["method"] == _RANDOM), None)
        if random_row is not None and random_row.get(key) is not None:
            ax.axvline(random_row[key][0], color="0.45", linestyle="--", linewidth=1)
        ax.set_xlabel(label, fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(ys, methods, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def cascade_figure(stages: Sequence[str], correlations: Mapping[str, Any], title: str = "",
                   size: tuple[float, float] = (7.5, 3.6)) -> Figure:
    """Rank correlation with the trained model's map as the model is randomised from the top.

    Args:
        stages: The cascade stages on the x axis (``"head"``, ``"block 11"``, ...).
        correlations: Method -> (stages, B) Spearman correlations.
        title: Figure title.
        size: Figure size in inches.

    Returns:
        The figure: the mean over images with a band of ± one standard error per method.
    """
    if not stages or not correlations:
        raise ValueError("cascade_figure needs at least one stage and one method.")
    colours = method_colours(list(correlations))
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(stages))
    for method, values in correlations.items():
        array = as_array(values, dtype=np.float64)
        if array.shape[0] != len(stages):
            raise ValueError(f"correlations[{method!r}] must have shape ({len(stages)}, B); "
                             f"got {array.shape}.")
        mean, error = _mean_and_error(array.T)
        ax.plot(x, mean, marker="o", markersize=3, color=colours[method], label=method,
                **_style(method))
        ax.fill_between(x, mean - error, mean + error, color=colours[method], alpha=0.12)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [f"+ {s}" if i else s for i, s in enumerate(stages)], rotation=45,
                  ha="right", fontsize=8)
    ax.set_xlabel("re-initialised so far (from the top down)")
    ax.set_ylabel("Spearman ρ with the trained map")
    ax.set_ylim(-0.3, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def ablation_figure(counts: Sequence[int], drops: Mapping[str, Any], title: str = "",
                    size: tuple[float, float] = (5.5, 3.4)) -> Figure:
    """Drop in the class probability when k heads are switched off, per way of choosing them.

    Args:
        counts: The k values on the x axis.
        drops: Label (e.g. ``"top-ranked heads"``, ``"random heads"``) -> (len(counts), B)
            probability drops.
        title: Figure title.
        size: Figure size in inches.

    Returns:
        The figure: mean drop with ± one standard error per label.
    """
    if not counts or not drops:
        raise ValueError("ablation_figure needs at least one count and one way of choosing.")
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    for index, (label, values) in enumerate(drops.items()):
        array = as_array(values, dtype=np.float64)
        if array.shape[0] != len(counts):
            raise ValueError(f"drops[{label!r}] must have shape ({len(counts)}, B); got "
                             f"{array.shape}.")
        mean, error = _mean_and_error(array.T)
        style = {"linestyle": "--", "color": "0.45"} if "random" in label else {
            "color": colormaps["tab10"](index)}
        ax.errorbar(counts, mean, yerr=error, marker="o", markersize=4, capsize=3, label=label,
                    **style)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("heads switched off")
    ax.set_ylabel("drop in class probability")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
