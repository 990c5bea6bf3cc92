"""Figures of notebook 07: per-patch maps (heatmaps, masks, PCA colours) over photos.

Each function takes arrays and returns a ``matplotlib.figure.Figure``; none calls
``plt.show()`` or changes global matplotlib state. Maps live on the g x g patch grid and are
stretched over the photo with nearest-neighbour drawing, so every square is one patch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from helpers.figures.vit import overlay_alpha

__all__ = ["as_array", "dim_outside", "map_grid"]

#: Opacity of the dark veil over patches outside a mask.
VEIL_ALPHA = 0.7


def as_array(values: np.ndarray | torch.Tensor) -> np.ndarray:
    """A numpy copy of a tensor or array (detached, on the CPU)."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def dim_outside(mask: np.ndarray, alpha: float = VEIL_ALPHA) -> np.ndarray:
    """An RGBA veil that darkens the patches outside ``mask`` and leaves the rest clear.

    Args:
        mask: (..., g, g) booleans.
        alpha: Opacity outside the mask.

    Returns:
        (..., g, g, 4) float32 RGBA: black, opacity ``alpha`` outside and 0 inside.
    """
    mask = np.asarray(mask, dtype=bool)
    veil = np.zeros((*mask.shape, 4), dtype=np.float32)
    veil[..., 3] = np.where(mask, 0.0, alpha)
    return veil


def _draw_cell(ax, photo: np.ndarray, cell: np.ndarray | None, cmap: str, alpha: float) -> None:
    height, width = photo.shape[:2]
    extent = (0, width, height, 0)
    if cell is not None and cell.ndim == 3:  # (g, g, 3) colours: shown on their own
        ax.imshow(np.clip(cell, 0, 1), extent=extent, interpolation="nearest")
        return
    ax.imshow(photo, extent=extent)
    if cell is None:
        return
    if cell.dtype == bool:  # a mask: veil outside, outline around
        ax.imshow(dim_outside(cell), extent=extent, interpolation="nearest")
        side_h, side_w = cell.shape
        fine = np.kron(cell.astype(float), np.ones((8, 8)))  # 8 sub-pixels per patch side
        ys = (np.arange(fine.shape[0]) + 0.5) * height / fine.shape[0]
        xs = (np.arange(fine.shape[1]) + 0.5) * width / fine.shape[1]
        if 0 < cell.sum() < side_h * side_w:
            ax.contour(xs, ys, fine, levels=[0.5], colors="yellow", linewidths=1.2)
        return
    scaled = cell / max(float(cell.max()), 1e-12)  # (g, g) in [0, 1] for non-negative maps
    ax.imshow(scaled, cmap=cmap, alpha=overlay_alpha(scaled, alpha), vmin=0, vmax=1,
              extent=extent, interpolation="nearest")


def map_grid(photos: np.ndarray | Sequence[np.ndarray],
             cells: Sequence[Sequence[np.ndarray | torch.Tensor | None]],
             row_labels: Sequence[str], col_labels: Sequence[str],
             notes: Sequence[Sequence[str]] | None = None, size: float = 2.0,
             cmap: str = "inferno", alpha: float = 0.75) -> Figure:
    """A grid of per-patch maps over photos: one row per photo (or model), one column per map.

    What each cell shows depends on its array:

    * (g, g) float: a heatmap over the photo, scaled to the map's own maximum (faint where low);
    * (g, g) bool: the photo with the patches outside the mask darkened and an outline;
    * (g, g, 3) float in [0, 1]: colours (e.g. PCA as RGB), drawn on their own;
    * None: the photo alone.

    Args:
        photos: (H, W, 3) photo in [0, 1] for every row, or one per row.
        cells: ``rows`` lists of ``cols`` arrays as above.
        row_labels: One label per row.
        col_labels: One title per column.
        notes: Optional text under each cell (``rows`` lists of ``cols`` strings).
        size: Inches per panel.
        cmap: Colour map of the heatmaps.
        alpha: Opacity of a heatmap's brightest patch.

    Returns:
        The figure.
    """
    nrows = len(cells)
    ncols = len(cells[0]) if nrows else 0
    if nrows == 0 or ncols == 0 or any(len(row) != ncols for row in cells):
        raise ValueError(f"cells must be a non-empty list of rows of equal length; got rows of "
                         f"lengths {[len(row) for row in cells]}.")
    if len(row_labels) != nrows or len(col_labels) != ncols:
        raise ValueError(f"need {nrows} row_labels and {ncols} col_labels; got "
                         f"{len(row_labels)} and {len(col_labels)}.")
    single = isinstance(photos, np.ndarray | torch.Tensor) and as_array(photos).ndim == 3
    rows_photos = [as_array(photos)] * nrows if single else [as_array(p) for p in photos]
    if len(rows_photos) != nrows or any(p.ndim != 3 or p.shape[-1] != 3 for p in rows_photos):
        raise ValueError(f"photos must be one (H, W, 3) array or one per row ({nrows}); got "
                         f"{[tuple(p.shape) for p in rows_photos]}.")
    fig = Figure(figsize=(size * ncols, size * nrows + 0.35), layout="constrained")
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False))
    for r in range(nrows):
        for c in range(ncols):
            ax = axes[r, c]
            cell = cells[r][c]
            array = None if cell is None else as_array(cell)
            if array is not None and not (array.ndim == 2 or (array.ndim == 3
                                                              and array.shape[-1] == 3)):
                raise ValueError(f"cells[{r}][{c}] must be (g, g), (g, g) bool or (g, g, 3); "
                                 f"got {array.shape}.")
            _draw_cell(ax, rows_photos[r], array, cmap, alpha)
            ax.set_xticks([])
            ax.set_yticks([])
            if notes is not None and notes[r][c]:
                ax.set_xlabel(notes[r][c], fontsize=8)
            if r == 0:
                ax.set_title(col_labels[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=9)
    return fig
