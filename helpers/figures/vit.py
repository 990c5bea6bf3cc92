"""Figures of a ViT's insides: the patch grid, and the ViT paper's Figure 7: patch-embedding
filters, position-embedding similarities (notebook 04) and mean attention distance by depth
(notebook 05). Maps over photos are in :mod:`helpers.figures.maps`.

Each function takes arrays or tensors and returns a ``matplotlib.figure.Figure``; none calls
``plt.show()`` or changes global matplotlib state. Grids of many small pictures are drawn as
one mosaic image, which is much faster than one axes per picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from helpers.figures.arrays import as_array
from helpers.shapes import require_nonempty

__all__ = [
    "mosaic",
    "patch_grid",
    "filter_grid",
    "position_similarity_grid",
    "attention_distance_figure",
]


def mosaic(tiles: np.ndarray, gap: int = 1, fill: float = np.nan) -> np.ndarray:
    """Lay out a grid of equally sized tiles as one image, with ``gap`` pixels between them.

    Args:
        tiles: (R, C, h, w) or (R, C, h, w, channels).
        gap: Pixels between neighbouring tiles.
        fill: Value of the gaps (NaN draws as the background).

    Returns:
        (R·h + (R-1)·gap, C·w + (C-1)·gap[, channels]).
    """
    tiles = np.asarray(tiles, dtype=np.float64)
    if tiles.ndim not in (4, 5):
        raise ValueError(f"tiles must have shape (R, C, h, w[, channels]); got {tiles.shape}.")
    require_nonempty("tiles", tiles, "(R, C, h, w[, channels])")
    rows, cols, h, w = tiles.shape[:4]
    out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, *tiles.shape[4:]),
                  fill)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[r, c]
    return out


def patch_grid(image: np.ndarray, patch_size: int) -> Figure:
    """A photo with its patch grid, beside the same photo pulled apart into its patches.

    Args:
        image: (H, W, 3) in [0, 1]; H and W multiples of ``patch_size``.
        patch_size: P.

    Returns:
        The figure.
    """
    height, width = image.shape[:2]
    if height % patch_size or width % patch_size:
        raise ValueError(f"image must have H and W divisible by patch_size={patch_size}; got "
                         f"{height} x {width}.")
    rows, cols = height // patch_size, width // patch_size
    fig = Figure(figsize=(9, 4.6), layout="constrained")
    ax_grid, ax_apart = fig.subplots(1, 2)
    ax_grid.imshow(image)
    for k in range(1, rows):
        ax_grid.axhline(k * patch_size - 0.5, color="white", linewidth=0.7)
    for k in range(1, cols):
        ax_grid.axvline(k * patch_size - 0.5, color="white", linewidth=0.7)
    for index in (0, 1, cols - 1, cols, rows * cols - 1):
        r, c = divmod(index, cols)
        ax_grid.text(c * patch_size + 2, r * patch_size + 2, str(index), color="yellow",
                     fontsize=7, va="top", fontweight="bold")
    ax_grid.set_title(f"{rows} x {cols} = {rows * cols} patches of {patch_size}x{patch_size} px")
    tiles = image.reshape(rows, patch_size, cols, patch_size, 3).transpose(0, 2, 1, 3, 4)
    ax_apart.imshow(mosaic(tiles, gap=max(2, patch_size // 4), fill=1.0))
    ax_apart.set_title("... read left to right, top to bottom: one token each")
    for ax in (ax_grid, ax_apart):
        ax.set_axis_off()
    return fig


def filter_grid(components: Any, explained: Sequence[float] | None = None,
                ncols: int = 7) -> Figure:
    """Patch-embedding filters (or their principal components) as small RGB images.

    Args:
        components: (k, 3, P, P); each is rescaled to [0, 1] on its own for display.
        explained: Optional (k,) variance shares, shown in the title.
        ncols: Images per row.

    Returns:
        The figure.
    """
    comps = as_array(components, dtype=np.float64)
    if comps.ndim != 4 or comps.shape[1] != 3:
        raise ValueError(f"components must have shape (k, 3, P, P); got {comps.shape}.")
    k, _, p, _ = comps.shape
    low = comps.min(axis=(1, 2, 3), keepdims=True)
    high = comps.max(axis=(1, 2, 3), keepdims=True)
    images = ((comps - low) / np.maximum(high - low, 1e-12)).transpose(0, 2, 3, 1)  # (k, P, P, 3)
    nrows = -(-k // ncols)
    padded = np.ones((nrows * ncols, p, p, 3))
    padded[:k] = images
    fig = Figure(figsize=(1.0 * ncols, 1.0 * nrows + 0.5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(mosaic(padded.reshape(nrows, ncols, p, p, 3), gap=2, fill=1.0),
              interpolation="nearest")
    ax.set_axis_off()
    title = f"top {k} principal components of the patch-embedding filters"
    if explained is not None:
        title += f" ({sum(float(v) for v in explained):.0%} of their variance)"
    ax.set_title(title, fontsize=10)
    return fig


def position_similarity_grid(similarity: Any) -> Figure:
    """The ViT paper's Figure 7 (centre): one small heatmap per patch position.

    Args:
        similarity: (g, g, g, g) from :func:`helpers.models.learned.position_similarity`.

    Returns:
        The figure: tile (i, j) shows how similar position (i, j) is to every other position;
        rows and columns are numbered from 0.
    """
    sim = as_array(similarity, dtype=np.float64)
    if sim.ndim != 4 or len(set(sim.shape)) != 1:
        raise ValueError(f"similarity must have shape (g, g, g, g); got {sim.shape}.")
    g = sim.shape[0]
    scale = 4  # pixels per grid cell, so each small map stays readable after resampling
    tiles = sim.repeat(scale, axis=2).repeat(scale, axis=3)  # (g, g, g·scale, g·scale)
    tile, gap = g * scale, scale
    fig = Figure(figsize=(9.5, 8.5), layout="constrained")  # as wide as a notebook cell shows
    ax = fig.subplots()
    shown = ax.imshow(mosaic(tiles, gap=gap), cmap="viridis", vmin=-1, vmax=1,
                      interpolation="nearest")  # crisp cells, no blur between neighbours
    centres = [(tile + gap) * k + tile / 2 - 0.5 for k in range(g)]
    ax.set_xticks(centres, [str(c) for c in range(g)], fontsize=9)  # numbered from 0, like the
    ax.set_yticks(centres, [str(r) for r in range(g)], fontsize=9)  # patches in the notebooks
    ax.set_xlabel("input patch column", fontsize=11)
    ax.set_ylabel("input patch row", fontsize=11)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    fig.colorbar(shown, ax=ax, shrink=0.8, label="cosine similarity")
    ax.set_title("Position embedding similarity", fontsize=12)
    return fig


def attention_distance_figure(distances: Any, uniform: float | None = None,
                              image_size: int | None = None, title: str = "",
                              size: tuple[float, float] = (6.0, 3.6)) -> Figure:
    """Mean attention distance of every head against its layer (the ViT paper's Figure 7, right).

    Args:
        distances: (L, heads) mean distances in pixels, e.g. from
            :func:`helpers.maps.attention_distance.mean_attention_distance`.
        uniform: The distance of a head that attends to every patch equally; drawn as a
            dashed line when given.
        image_size: Image side in pixels; sets the top of the y axis when given.
        title: Figure title.
        size: Figure size in inches.

    Returns:
        The figure: one dot per head, coloured by head, layers numbered from 0, as in the
        notebooks.
    """
    values = as_array(distances, dtype=np.float64)
    if values.ndim != 2 or 0 in values.shape:
        raise ValueError(f"distances must have shape (L, heads); got {values.shape}.")
    layers, heads = values.shape
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    colours = colormaps["tab20" if heads > 10 else "tab10"]
    depth = np.arange(layers)
    for head in range(heads):
        ax.scatter(depth, values[:, head], s=18, color=colours(head % colours.N),
                   label=f"head {head}", zorder=3)
    if uniform is not None:
        ax.axhline(uniform, color="grey", linestyle="--", linewidth=1,
                   label="uniform attention")
    ax.set_xlabel("layer (network depth)")
    ax.set_ylabel("mean attention distance (pixels)")
    ax.set_xticks(depth)
    top = image_size if image_size is not None else max(float(values.max()), uniform or 0.0)
    ax.set_ylim(0, top * 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncols=2 if heads > 6 else 1, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    return fig
