"""Figures of notebook 08: deletion and insertion curves, the removal kinds side by side, the
results with their intervals, the randomisation cascade and the head-ablation test.

Each function takes arrays or tensors and returns a ``matplotlib.figure.Figure``; none calls
``plt.show()`` or changes global matplotlib state. Methods keep one colour across figures
(:func:`method_colours`); the random baseline is always grey and dashed. Every band and bar is
a 95 % percentile bootstrap interval over images (:func:`mean_and_interval`), the same
interval the notebook's tables print.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from helpers.figures.arrays import as_array

__all__ = ["method_colours", "mean_and_interval", "curves_figure", "removal_figure",
           "results_figure", "cascade_figure", "ablation_figure"]

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


def mean_and_interval(values: Any, confidence: float = 0.95, resamples: int = 1000,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over the first axis (images) and its percentile bootstrap interval, per column.

    Args:
        values: (B, ...) one row per image; NaN entries (undefined) are left out.
        confidence: Coverage of the interval.
        resamples: Bootstrap resamples (images drawn with replacement).
        seed: Seed of the resampling.

    Returns:
        ``(mean, low, high)``, each of shape ``values.shape[1:]``.
    """
    array = as_array(values, dtype=np.float64)
    picks = np.random.default_rng(seed).integers(0, array.shape[0], (resamples, array.shape[0]))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column stays NaN
        mean = np.nanmean(array, axis=0)
        means = np.nanmean(array[picks], axis=1)  # (resamples, ...)
        tail = (1 - confidence) / 2
        low, high = np.nanquantile(means, [tail, 1 - tail], axis=0)
    return mean, low, high


def curves_figure(curves: Mapping[str, Mapping[str, Any]], title: str = "",
                  columns: int = 3, size: float = 2.3) -> Figure:
    """Mean deletion and insertion curves, one small panel per method, random in every panel.

    Args:
        curves: Mode (``"deletion"``, ``"insertion"``) -> method -> (B, steps + 1) curves.
        title: Figure title.
        columns: Panels per row.
        size: Inches per panel.

    Returns:
        One panel per method: each mode's mean curve with its 95 % bootstrap band (deletion
        solid, insertion dotted), and the random map's means in grey for reference.
    """
    if not curves or any(not per_method for per_method in curves.values()):
        raise ValueError("curves must map each mode to at least one method's curves.")
    methods = list(next(iter(curves.values())))
    colours = method_colours(methods)
    rows = -(-len(methods) // columns)
    fig = Figure(figsize=(size * columns, size * rows * 0.85 + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, sharex=True, sharey=True)).ravel()
    styles = dict(zip(curves, ("-", ":", "-.", "--"), strict=False))
    for ax, method in zip(axes, methods, strict=False):
        for mode, per_method in curves.items():
            mean, low, high = mean_and_interval(per_method[method])
            x = np.linspace(0, 1, len(mean))
            if method != _RANDOM and _RANDOM in per_method:
                ax.plot(x, mean_and_interval(per_method[_RANDOM])[0], color="0.6",
                        linestyle=styles[mode], linewidth=1.0)
            ax.plot(x, mean, color=colours[method], linestyle=styles[mode], linewidth=1.6,
                    label=mode)
            ax.fill_between(x, low, high, color=colours[method], alpha=0.15, linewidth=0)
        ax.set_title(method, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes[len(methods):]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7, loc="best")
    fig.supxlabel("fraction of patches removed (deletion) or revealed (insertion), "
                  "most important first", fontsize=8)
    fig.supylabel("probability of the explained class", fontsize=8)
    if title:
        fig.suptitle(f"{title} (grey: the random map)", fontsize=9)
    return fig


def removal_figure(aucs: Mapping[str, Mapping[str, Mapping[str, float]]], title: str = "",
                   size: tuple[float, float] = (9.0, 3.6)) -> Figure:
    """Each method's mean AUC under every kind of removal, one panel per curve.

    Args:
        aucs: Mode (``"deletion"``, ``"insertion"``) -> removal kind -> method -> mean AUC;
            at least two kinds per mode.
        title: Figure title.
        size: Figure size in inches.

    Returns:
        One panel per mode: a line per method across the removal kinds, so a change of rank
        shows as lines crossing.
    """
    if not aucs or any(len(per_kind) < 2 for per_kind in aucs.values()):
        raise ValueError("aucs must map each mode to at least two removal kinds.")
    fig = Figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(aucs)))
    for ax, (mode, per_kind) in zip(axes, aucs.items(), strict=True):
        kinds = list(per_kind)
        methods = list(per_kind[kinds[0]])
        colours = method_colours(methods)
        x = np.arange(len(kinds))
        for method in methods:
            ax.plot(x, [per_kind[k][method] for k in kinds], marker="o", markersize=4,
                    color=colours[method], label=method, **_style(method))
        ax.set_xticks(x, [f"removed = {k}" for k in kinds], fontsize=8, rotation=20)
        better = "lower" if mode == "deletion" else "higher"
        ax.set_ylabel(f"mean {mode} AUC ({better} is better)", fontsize=8)
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
                   cumulative: bool = True, size: tuple[float, float] = (7.5, 3.8)) -> Figure:
    """Rank correlation with the trained model's map as the model is randomised.

    Args:
        stages: The stages on the x axis (``"head"``, ``"block 11"``, ...).
        correlations: Method -> (stages, B) Spearman correlations (NaN where undefined).
        title: Figure title.
        cumulative: True for the cascade (x labels ``+ block 11``: everything above is
            random too), False for the independent variant (only that stage is random).
        size: Figure size in inches.

    Returns:
        The figure: the mean over images with its 95 % bootstrap band per method, on the
        whole range [-1, 1] of ρ.
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
        mean, low, high = mean_and_interval(array.T)
        ax.plot(x, mean, marker="o", markersize=3, color=colours[method], label=method,
                **_style(method))
        ax.fill_between(x, low, high, color=colours[method], alpha=0.12, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.8)
    labels = [f"+ {s}" if i and cumulative else s for i, s in enumerate(stages)]
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("re-initialised so far (from the top down)" if cumulative
                  else "the one stage re-initialised (the rest trained)")
    ax.set_ylabel("Spearman ρ with the trained map")
    ax.set_ylim(-1.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def ablation_figure(counts: Sequence[int], drops: Mapping[str, Mapping[str, Any]],
                    title: str = "", ylabel: str = "drop in the class logit",
                    size: float = 3.6) -> Figure:
    """Drop in the class score when k heads are switched off, per way of choosing them.

    Args:
        counts: The k values on the x axis.
        drops: Panel title (e.g. ``"switched off to zero"``) -> label (e.g. ``"top-ranked"``,
            ``"random heads"``) -> (len(counts), B) drops.
        title: Figure title.
        ylabel: What was measured.
        size: Inches per panel.

    Returns:
        One panel per entry of ``drops``, sharing the y axis: mean drop with its 95 %
        bootstrap interval per label.
    """
    if not counts or not drops or any(not panel for panel in drops.values()):
        raise ValueError("ablation_figure needs at least one count and one way of choosing.")
    fig = Figure(figsize=(size * len(drops) + 1.8, 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(drops), sharey=True))
    for ax, (panel, per_label) in zip(axes, drops.items(), strict=True):
        for index, (label, values) in enumerate(per_label.items()):
            array = as_array(values, dtype=np.float64)
            if array.shape[0] != len(counts):
                raise ValueError(f"drops[{panel!r}][{label!r}] must have shape "
                                 f"({len(counts)}, B); got {array.shape}.")
            mean, low, high = mean_and_interval(array.T)
            style = {"linestyle": "--", "color": "0.45"} if "random" in label else {
                "color": colormaps["tab10"](index)}
            ax.errorbar(counts, mean, yerr=np.stack([mean - low, high - mean]), marker="o",
                        markersize=4, capsize=3, label=label, **style)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(list(counts))
        ax.set_xlabel("heads switched off")
        ax.set_title(panel, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
