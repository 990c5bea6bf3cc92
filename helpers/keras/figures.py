"""Figures for training a small ViT: patch grids, learning curves, predictions, attention.

Each function takes NumPy arrays (or plain lists) and returns a
``matplotlib.figure.Figure``; none calls ``plt.show()`` or changes global matplotlib state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from helpers.figures.maps import draw_map

__all__ = ["patches_figure", "history_figure", "prediction_grid", "attention_rows"]

#: (history key, axis title) of the three panels of :func:`history_figure`.
CURVES = (("cross-entropy", "loss (cross-entropy)"), ("accuracy", "accuracy"),
          ("top-5-accuracy", "top-5 accuracy"))


def _as_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(images, dtype=np.float64), 0, 255).round().astype(np.uint8)


def patches_figure(image: np.ndarray, patches: np.ndarray, patch_size: int,
                   size: float = 4.0) -> Figure:
    """An image beside its patches, laid out on their grid with a gap between them.

    Args:
        image: (H, W, 3) image, values 0-255.
        patches: (N, patch_size * patch_size * 3) flattened patches of ``image``, row by row.
        patch_size: Patch side in pixels.
        size: Inches per panel.

    Returns:
        The figure.
    """
    patches = np.asarray(patches)
    grid = int(round(np.sqrt(len(patches)))) if patches.ndim == 2 else 0
    if patches.ndim != 2 or grid * grid != len(patches) or \
            patches.shape[1] != patch_size * patch_size * 3:
        raise ValueError(f"patches must be (N, {patch_size * patch_size * 3}) with N a square "
                         f"number; got shape {patches.shape}.")
    fig = Figure(figsize=(2 * size + 0.3, size), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.imshow(_as_uint8(image))
    left.set_title(f"input {image.shape[0]}x{image.shape[1]}")
    step = patch_size + 1
    canvas = np.full((grid * step - 1, grid * step - 1, 3), 255, dtype=np.uint8)
    tiles = _as_uint8(patches).reshape(len(patches), patch_size, patch_size, 3)
    for index, tile in enumerate(tiles):
        row, col = divmod(index, grid)
        canvas[row * step:row * step + patch_size, col * step:col * step + patch_size] = tile
    right.imshow(canvas)
    right.set_title(f"{len(patches)} patches of {patch_size}x{patch_size}x3 = "
                    f"{patches.shape[1]} values")
    for ax in (left, right):
        ax.set_axis_off()
    return fig


def history_figure(histories: Mapping[str, Mapping[str, Sequence[float]]],
                   title: str = "") -> Figure:
    """Loss, accuracy and top-5 accuracy per epoch for several runs, on one figure.

    Each run gets one colour; training curves are dashed, validation curves solid.

    Args:
        histories: Run name -> Keras history dict with ``cross-entropy``, ``accuracy``,
            ``top-5-accuracy`` and their ``val_`` versions, one value per epoch.
        title: Figure title.

    Returns:
        The figure (three panels).
    """
    if not histories:
        raise ValueError("history_figure needs at least one history.")
    for name, history in histories.items():
        missing = [k for key, _ in CURVES for k in (key, f"val_{key}") if k not in history]
        if missing:
            raise ValueError(f"history {name!r} lacks {missing}; it has {sorted(history)}.")
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, len(CURVES))
    for color, (name, history) in zip(("tab:red", "tab:blue", "tab:green", "tab:purple"),
                                      histories.items(), strict=False):
        for ax, (key, label) in zip(axes, CURVES, strict=True):
            epochs = np.arange(1, len(history[key]) + 1)
            ax.plot(epochs, history[key], "--", color=color, alpha=0.7, label=f"{name} · train")
            ax.plot(epochs, history[f"val_{key}"], "-o", color=color, markersize=3,
                    label=f"{name} · validation")
            ax.set(title=label, xlabel="epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def prediction_grid(images: np.ndarray, labels: Sequence[int], predictions: Sequence[int],
                    classes: Sequence[str], ncols: int = 6, size: float = 1.7) -> Figure:
    """Images titled "predicted / true": green when right, red when wrong.

    Args:
        images: (B, H, W, 3) images, values 0-255.
        labels: B true class indices.
        predictions: B predicted class indices.
        classes: Class names by index.
        ncols: Columns.
        size: Inches per image.

    Returns:
        The figure.
    """
    images = np.asarray(images)
    if images.ndim != 4 or not len(images) == len(labels) == len(predictions):
        raise ValueError(f"images must be (B, H, W, 3) with B labels and predictions; got "
                         f"{images.shape}, {len(labels)} labels, {len(predictions)} predictions.")
    ncols = max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    fig = Figure(figsize=(size * ncols, (size + 0.35) * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, image, true, pred in zip(axes, images, labels, predictions, strict=False):
        ax.imshow(_as_uint8(image))
        ax.set_title(f"{classes[int(pred)]}\n/ {classes[int(true)]}", fontsize=8,
                     color="tab:green" if int(pred) == int(true) else "tab:red")
    return fig


def attention_rows(images: np.ndarray, maps: np.ndarray, titles: Sequence[str] | None = None,
                   size: float = 2.0, alpha: float = 0.75) -> Figure:
    """Each image above the same image with an attention map laid over it.

    Args:
        images: (B, H, W, 3) images, values 0-255.
        maps: (B, g, g) non-negative maps (one value per patch), stretched over the image and
            drawn as :func:`helpers.figures.maps.draw_map` draws every map in the series.
        titles: B titles for the top row.
        size: Inches per panel.
        alpha: Opacity of a map's brightest patch.

    Returns:
        The figure (two rows).
    """
    images, maps = np.asarray(images), np.asarray(maps, dtype=np.float64)
    if images.ndim != 4 or maps.ndim != 3 or len(images) != len(maps):
        raise ValueError(f"images must be (B, H, W, 3) and maps (B, g, g); got {images.shape} "
                         f"and {maps.shape}.")
    count = len(images)
    fig = Figure(figsize=(size * count, 2 * size + 0.4), layout="constrained")
    axes = np.asarray(fig.subplots(2, count)).reshape(2, count)
    for i in range(count):
        top, bottom = axes[0, i], axes[1, i]
        draw_map(top, _as_uint8(images[i]))
        draw_map(bottom, _as_uint8(images[i]), maps[i], alpha=alpha)
        if titles is not None:
            top.set_title(titles[i], fontsize=8)
        top.set_axis_off()
        bottom.set_axis_off()
    return fig
