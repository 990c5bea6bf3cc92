"""Figures of a ViT's insides: the patch grid, embedding filters, position similarities and
attention maps over the photo (notebook 04).

Each function takes arrays and returns a ``matplotlib.figure.Figure``; none calls
``plt.show()`` or changes global matplotlib state. Grids of many small pictures are drawn as
one mosaic image, which is much faster than one axes per picture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers.shapes import require_nonempty

__all__ = [
    "pixels_to_image",
    "mosaic",
    "patch_grid",
    "filter_grid",
    "position_similarity_grid",
    "attention_overlays",
    "overlay_alpha",
]


def pixels_to_image(pixels: torch.Tensor, preprocess: Callable | None = None) -> np.ndarray:
    """Turn preprocessed pixels back into a displayable photo, exactly as the model sees it.

    Args:
        pixels: (3, H, W) normalised tensor (one image of a batch).
        preprocess: The transform that made it; when it contains a ``Normalize`` step its
            mean and std are undone. Otherwise the values are rescaled to [0, 1].

    Returns:
        (H, W, 3) float array in [0, 1].
    """
    if pixels.ndim != 3 or pixels.shape[0] != 3:
        raise ValueError(f"pixels must have shape (3, H, W); got {tuple(pixels.shape)}.")
    require_nonempty("pixels", pixels, "(3, H, W)")
    x = pixels.detach().cpu().float()  # (3, H, W)
    normalize = next((t for t in getattr(preprocess, "transforms", [])
                      if hasattr(t, "mean") and hasattr(t, "std")), None)
    if normalize is not None:
        mean = torch.as_tensor(normalize.mean, dtype=x.dtype).reshape(-1, 1, 1)  # (3, 1, 1)
        std = torch.as_tensor(normalize.std, dtype=x.dtype).reshape(-1, 1, 1)  # (3, 1, 1)
        x = x * std + mean
    else:
        x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12)
    return x.clamp(0, 1).permute(1, 2, 0).numpy()  # (H, W, 3)


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


def filter_grid(components: np.ndarray | torch.Tensor, explained: Sequence[float] | None = None,
                ncols: int = 7) -> Figure:
    """Patch-embedding filters (or their principal components) as small RGB images.

    Args:
        components: (k, 3, P, P); each is rescaled to [0, 1] on its own for display.
        explained: Optional (k,) variance shares, shown in the title.
        ncols: Images per row.

    Returns:
        The figure.
    """
    comps = np.asarray(torch.as_tensor(components).detach().cpu(), dtype=np.float64)
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


def position_similarity_grid(similarity: np.ndarray | torch.Tensor) -> Figure:
    """The ViT paper's Figure 7 (centre): one small heatmap per patch position.

    Args:
        similarity: (g, g, g, g) from :func:`helpers.learned_embeddings.position_similarity`.

    Returns:
        The figure: tile (i, j) shows how similar position (i, j) is to every other position;
        rows and columns are numbered from 0.
    """
    sim = np.asarray(torch.as_tensor(similarity).detach().cpu(), dtype=np.float64)
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


def overlay_alpha(scaled: np.ndarray, alpha: float = 0.75) -> np.ndarray:
    """Per-patch opacity for a map drawn over a photo: faint where attention is low.

    Args:
        scaled: Map values in [0, 1] (already divided by the map's maximum).
        alpha: Opacity where the value is 1.

    Returns:
        Same shape, from ``0.25·alpha`` (value 0: the photo stays visible) to ``alpha``.
    """
    return alpha * (0.25 + 0.75 * np.clip(scaled, 0.0, 1.0))


def attention_overlays(image: np.ndarray, maps: np.ndarray | torch.Tensor,
                       row_labels: Sequence[str], col_labels: Sequence[str],
                       marks: Sequence[tuple[int, int] | None] | None = None,
                       alpha: float = 0.75, size: float = 1.9, cmap: Any = "inferno") -> Figure:
    """Attention maps over the photo: one row per query, one column per head.

    Args:
        image: (H, W, 3) in [0, 1].
        maps: (rows, cols, g_h, g_w) attention over the patches; each map is scaled to its
            own maximum for display.
        row_labels: One label per row (e.g. "CLS", "patch 75").
        col_labels: One label per column (e.g. "head 0").
        marks: Per row, the (row, col) grid cell of the query patch to outline, or None.
        alpha: Opacity of the brightest patch (see :func:`overlay_alpha`).
        size: Inches per panel.
        cmap: Colour map.

    Returns:
        The figure.
    """
    grid = np.asarray(torch.as_tensor(maps).detach().cpu(), dtype=np.float64)
    if grid.ndim != 4:
        raise ValueError(f"maps must have shape (rows, cols, g_h, g_w); got {grid.shape}.")
    nrows, ncols, gh, gw = grid.shape
    if len(row_labels) != nrows or len(col_labels) != ncols:
        raise ValueError(f"need {nrows} row_labels and {ncols} col_labels for maps of shape "
                         f"{grid.shape}; got {len(row_labels)} and {len(col_labels)}.")
    height, width = image.shape[:2]
    fig = Figure(figsize=(size * ncols, size * nrows + 0.3), layout="constrained")
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False))
    for r in range(nrows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.imshow(image)
            shown = grid[r, c] / max(grid[r, c].max(), 1e-12)  # (g_h, g_w) in [0, 1]
            ax.imshow(shown, cmap=cmap, alpha=overlay_alpha(shown, alpha), vmin=0, vmax=1,
                      extent=(0, width, height, 0), interpolation="nearest")
            mark = marks[r] if marks is not None else None
            if mark is not None:
                ph, pw = height / gh, width / gw
                ax.add_patch(Rectangle((mark[1] * pw, mark[0] * ph), pw, ph, fill=False,
                                       edgecolor="cyan", linewidth=1.5))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(col_labels[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=9)
    return fig
