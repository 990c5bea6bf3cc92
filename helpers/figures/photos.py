"""Photos as figures: a grid of photos, and a photo beside its top-k classes (notebooks 01-03).

Each takes arrays or images and returns a ``matplotlib.figure.Figure``; none calls
``plt.show()`` or changes global matplotlib state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

__all__ = ["image_grid", "image_with_topk"]


def image_grid(images: Mapping[str, Image.Image] | Sequence[Image.Image],
               ncols: int = 5, size: float = 2.6) -> Figure:
    """Show images in a grid, titled by their names when given a mapping.

    Args:
        images: Name -> image, or a list of images.
        ncols: Columns in the grid.
        size: Inches per cell.

    Returns:
        The figure.
    """
    if isinstance(images, Mapping):
        titles, pictures = list(images.keys()), list(images.values())
    else:
        titles, pictures = [""] * len(images), list(images)
    if not pictures:
        raise ValueError("image_grid needs at least one image.")
    ncols = max(1, min(ncols, len(pictures)))
    nrows = -(-len(pictures) // ncols)
    fig = Figure(figsize=(size * ncols, size * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, title, picture in zip(axes, titles, pictures, strict=False):
        ax.imshow(picture)
        ax.set_title(title, fontsize=10)
    return fig


def image_with_topk(image: Image.Image, predictions: Sequence[tuple[str, float]],
                    title: str = "") -> Figure:
    """A photo beside a horizontal bar chart of its top-k predictions.

    Args:
        image: The photo.
        predictions: ``(label, probability)`` pairs, most probable first.
        title: Figure title.

    Returns:
        The figure.
    """
    if not predictions:
        raise ValueError("image_with_topk needs at least one (label, probability) pair.")
    fig = Figure(figsize=(9, 3), layout="constrained")
    ax_image, ax_bars = fig.subplots(1, 2, width_ratios=[1, 1.6])
    ax_image.imshow(image)
    ax_image.set_axis_off()
    labels = [label.split(",")[0] for label, _ in predictions][::-1]
    probs = [p for _, p in predictions][::-1]
    bars = ax_bars.barh(labels, probs, color="tab:blue")
    ax_bars.bar_label(bars, labels=[f"{p:.1%}" for p in probs], padding=3, fontsize=9)
    ax_bars.set_xlim(0, 1.15)
    ax_bars.set_xlabel("probability")
    ax_bars.spines[["top", "right"]].set_visible(False)
    if title:
        fig.suptitle(title)
    return fig
