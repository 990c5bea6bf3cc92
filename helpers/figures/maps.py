"""Per-patch maps drawn over photos: the one way the series shows a map on a photo.

A map lives on the g x g patch grid (attention of one query, a rollout, a relevance map, a
mask, PCA colours) and is stretched over the photo the model saw with nearest-neighbour
drawing, so every square is one patch. How a heat map looks is defined once:

- the map is scaled to its own maximum and coloured with a colour map (``inferno``);
- its opacity grows with the value (:func:`overlay_alpha`), so the photo stays visible where
  the map is low;
- a mask darkens the patches outside it (:func:`dim_outside`) and is outlined.

:func:`draw_map` draws one such panel on an axes; :func:`map_grid` lays out rows of photos by
columns of maps; :func:`attention_overlays` is the grid for a (queries, heads) stack of
attention maps. The explorers precompute the same colours as RGBA arrays
(:func:`heat_rgba`), which redraw faster than re-colouring on every slider move.

Each figure function takes arrays or tensors and returns a ``matplotlib.figure.Figure``; none
calls ``plt.show()`` or changes global matplotlib state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers.figures.arrays import as_array

__all__ = ["VEIL_ALPHA", "photo_extent", "overlay_alpha", "heat_rgba", "dim_outside",
           "draw_map", "map_grid", "attention_overlays"]

#: Opacity of the dark veil over patches outside a mask.
VEIL_ALPHA = 0.7


def photo_extent(photo: np.ndarray) -> tuple[float, float, float, float]:
    """The ``imshow`` extent of a photo's pixels, so a map drawn with it covers the photo exactly.

    Args:
        photo: (H, W, ...) array.

    Returns:
        ``(left, right, bottom, top)`` = ``(-0.5, W - 0.5, H - 0.5, -0.5)``: pixel centres at
        integer coordinates, as ``imshow`` draws an image by default.
    """
    height, width = np.shape(photo)[:2]
    return (-0.5, width - 0.5, height - 0.5, -0.5)


def overlay_alpha(scaled: np.ndarray, alpha: float = 0.75) -> np.ndarray:
    """Per-patch opacity for a map drawn over a photo: faint where the map is low.

    Args:
        scaled: Map values in [0, 1] (already divided by the map's maximum).
        alpha: Opacity where the value is 1.

    Returns:
        Same shape, from ``0.25·alpha`` (value 0: the photo stays visible) to ``alpha``.
    """
    return alpha * (0.25 + 0.75 * np.clip(scaled, 0.0, 1.0))


def heat_rgba(scaled: np.ndarray, cmap: str = "inferno", alpha: float | None = None
              ) -> np.ndarray:
    """The colours :func:`draw_map` gives a heat map, as an RGBA array ready for ``set_data``.

    Args:
        scaled: (..., g, g) values in [0, 1].
        cmap: Colour map.
        alpha: Opacity of the brightest patch when drawn over a photo (see
            :func:`overlay_alpha`); None for an opaque map drawn on its own.

    Returns:
        (..., g, g, 4) float32 RGBA.
    """
    rgba = colormaps[cmap](scaled).astype(np.float32)  # (..., g, g, 4)
    if alpha is not None:
        rgba[..., 3] = overlay_alpha(scaled, alpha)
    return rgba


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


def _outline(ax: Any, cell: np.ndarray, extent: tuple[float, float, float, float]) -> None:
    """A yellow contour around the True patches of a (g, g) mask."""
    left, right, bottom, top = extent
    fine = np.kron(cell.astype(float), np.ones((8, 8)))  # 8 sub-pixels per patch side
    ys = top + (np.arange(fine.shape[0]) + 0.5) * (bottom - top) / fine.shape[0]
    xs = left + (np.arange(fine.shape[1]) + 0.5) * (right - left) / fine.shape[1]
    ax.contour(xs, ys, fine, levels=[0.5], colors="yellow", linewidths=1.2)


def draw_map(ax: Any, photo: np.ndarray, cell: Any = None, *, cmap: str = "inferno",
             alpha: float = 0.75, mark: tuple[int, int] | None = None) -> None:
    """Draw one panel: a photo with a per-patch map over it.

    What the panel shows depends on ``cell``:

    * (g, g) float: a heat map over the photo, scaled to its own maximum (faint where low);
    * (g, g) bool: the photo with the patches outside the mask darkened, and an outline;
    * (g, g, 3) float in [0, 1]: colours (e.g. PCA as RGB), drawn on their own;
    * None: the photo alone.

    Args:
        ax: A matplotlib axes.
        photo: (H, W, 3) in [0, 1] (or uint8).
        cell: The map, as above (tensor or array).
        cmap: Colour map of a heat map.
        alpha: Opacity of a heat map's brightest patch.
        mark: ``(row, col)`` of one grid cell to outline in cyan (e.g. a query patch).
    """
    photo = as_array(photo)
    extent = photo_extent(photo)
    array = None if cell is None else as_array(cell)
    if array is not None and array.ndim == 3:  # (g, g, 3) colours: shown on their own
        ax.imshow(np.clip(array, 0, 1), extent=extent, interpolation="nearest")
    else:
        ax.imshow(photo, extent=extent)
    if array is not None and array.dtype == bool:
        ax.imshow(dim_outside(array), extent=extent, interpolation="nearest")
        if 0 < array.sum() < array.size:
            _outline(ax, array, extent)
    elif array is not None and array.ndim == 2:
        scaled = array / max(float(array.max()), 1e-12)  # (g, g) in [0, 1] for maps >= 0
        ax.imshow(scaled, cmap=cmap, alpha=overlay_alpha(scaled, alpha), vmin=0, vmax=1,
                  extent=extent, interpolation="nearest")
    if mark is not None and array is not None:
        height, width = photo.shape[:2]
        ph, pw = height / array.shape[0], width / array.shape[1]
        ax.add_patch(Rectangle((mark[1] * pw - 0.5, mark[0] * ph - 0.5), pw, ph, fill=False,
                               edgecolor="cyan", linewidth=1.5))
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])


def map_grid(photos: Any, cells: Sequence[Sequence[Any]], row_labels: Sequence[str],
             col_labels: Sequence[str], notes: Sequence[Sequence[str]] | None = None,
             size: float = 2.0, cmap: str = "inferno", alpha: float = 0.75,
             marks: Sequence[tuple[int, int] | None] | None = None,
             colorbar: str | None = None) -> Figure:
    """A grid of per-patch maps over photos: one row per photo (or model), one column per map.

    Args:
        photos: (H, W, 3) photo in [0, 1] for every row, or one per row.
        cells: ``rows`` lists of ``cols`` maps, each as :func:`draw_map` takes.
        row_labels: One label per row.
        col_labels: One title per column.
        notes: Optional text under each cell (``rows`` lists of ``cols`` strings).
        size: Inches per panel.
        cmap: Colour map of the heat maps.
        alpha: Opacity of a heat map's brightest patch.
        marks: Per row, the ``(row, col)`` grid cell to outline in every panel, or None.
        colorbar: Label of one colour bar from 0 to 1 beside the grid (each heat map is drawn
            scaled to its own maximum, so the bar reads as a share of that maximum), or None
            for no bar.

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
    single = not isinstance(photos, list | tuple) and as_array(photos).ndim == 3
    rows_photos = [as_array(photos)] * nrows if single else [as_array(p) for p in photos]
    if len(rows_photos) != nrows or any(p.ndim != 3 or p.shape[-1] != 3 for p in rows_photos):
        raise ValueError(f"photos must be one (H, W, 3) array or one per row ({nrows}); got "
                         f"{[tuple(p.shape) for p in rows_photos]}.")
    if marks is not None and len(marks) != nrows:
        raise ValueError(f"marks must give one (row, col) or None per row ({nrows}); got "
                         f"{len(marks)}.")
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
            draw_map(ax, rows_photos[r], array, cmap=cmap, alpha=alpha,
                     mark=marks[r] if marks is not None else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if notes is not None and notes[r][c]:
                ax.set_xlabel(notes[r][c], fontsize=8)
            if r == 0:
                ax.set_title(col_labels[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=9)
    if colorbar is not None:
        scale = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=colormaps[cmap])
        fig.colorbar(scale, ax=axes.ravel().tolist(), shrink=min(0.9, 0.45 * nrows + 0.3),
                     label=colorbar)
    return fig


def attention_overlays(image: np.ndarray, maps: Any, row_labels: Sequence[str],
                       col_labels: Sequence[str],
                       marks: Sequence[tuple[int, int] | None] | None = None,
                       alpha: float = 0.75, size: float = 1.9, cmap: str = "inferno",
                       colorbar: str | None = None) -> Figure:
    """Attention maps over one photo: one row per query, one column per head.

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
        colorbar: Label of a colour bar (see :func:`map_grid`), or None.

    Returns:
        The figure.
    """
    grid = as_array(maps, dtype=np.float64)
    if grid.ndim != 4:
        raise ValueError(f"maps must have shape (rows, cols, g_h, g_w); got {grid.shape}.")
    cells = [list(row) for row in grid]
    return map_grid(image, cells, row_labels, col_labels, size=size, cmap=cmap, alpha=alpha,
                    marks=marks, colorbar=colorbar)
