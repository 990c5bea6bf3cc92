"""Figures for image embeddings: a similarity heatmap and nearest-neighbour rows.

Each takes arrays and images and returns a ``matplotlib.figure.Figure``; none calls
``plt.show()`` or changes global matplotlib state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["similarity_heatmap", "retrieval_rows"]


def _array(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def similarity_heatmap(similarity: Any, row_labels: Sequence[str],
                       col_labels: Sequence[str] | None = None, title: str = "",
                       annotate: bool = True) -> Figure:
    """A heatmap of pairwise similarities with the value written in each cell.

    Args:
        similarity: (N, M) array or tensor, e.g. cosine similarities in [-1, 1].
        row_labels: N names.
        col_labels: M names; default ``row_labels``.
        title: Axes title.
        annotate: Write each value in its cell.

    Returns:
        The figure.
    """
    sim = _array(similarity)
    col_labels = list(row_labels) if col_labels is None else list(col_labels)
    if sim.ndim != 2 or sim.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"similarity must have shape (len(row_labels), len(col_labels)) = "
                         f"({len(row_labels)}, {len(col_labels)}); got {sim.shape}.")
    n, m = sim.shape
    fig = Figure(figsize=(1.0 + 0.62 * m, 0.8 + 0.5 * n), layout="constrained")
    ax = fig.subplots()
    shown = ax.imshow(sim, cmap="viridis", vmin=min(0.0, float(sim.min())), vmax=1.0)
    ax.set_xticks(range(m), col_labels, rotation=45, ha="right", fontsize=9)
    ax.set_yticks(range(n), row_labels, fontsize=9)
    if annotate:
        middle = (float(shown.norm.vmin) + float(shown.norm.vmax)) / 2
        for i in range(n):
            for j in range(m):
                ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if sim[i, j] > middle else "white")
    fig.colorbar(shown, ax=ax, shrink=0.8, label="cosine similarity")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def retrieval_rows(queries: Sequence[Any], gallery: Sequence[Any], neighbours: Any,
                   scores: Any, query_titles: Sequence[str] | None = None,
                   gallery_titles: Sequence[str] | None = None, size: float = 1.7) -> Figure:
    """One row per query: the query, then its k nearest gallery images with their scores.

    Args:
        queries: Q images (PIL images or (H, W, 3) arrays).
        gallery: The images the neighbour indices point into.
        neighbours: (Q, k) integer indices into ``gallery``, nearest first.
        scores: (Q, k) similarity of each neighbour.
        query_titles: Q titles; default ``"query i"``.
        gallery_titles: One title per gallery image (e.g. its class); default none.
        size: Inches per image.

    Returns:
        The figure.
    """
    index = np.asarray(_array(neighbours), dtype=np.int64)
    values = _array(scores)
    if index.ndim != 2 or index.shape[0] != len(queries) or values.shape != index.shape:
        raise ValueError(f"neighbours and scores must both have shape (len(queries), k) = "
                         f"({len(queries)}, k); got {index.shape} and {values.shape}.")
    if index.size and (index.min() < 0 or index.max() >= len(gallery)):
        raise ValueError(f"neighbours must index into gallery (0..{len(gallery) - 1}); got "
                         f"{index.min()}..{index.max()}.")
    q, k = index.shape
    fig = Figure(figsize=(size * (k + 1), size * q * 1.08), layout="constrained")
    axes = np.atleast_2d(fig.subplots(q, k + 1, squeeze=False))
    for row in range(q):
        axes[row, 0].imshow(queries[row])
        axes[row, 0].set_title(query_titles[row] if query_titles else f"query {row}",
                               fontsize=9, fontweight="bold")
        for col in range(k):
            j = int(index[row, col])
            ax = axes[row, col + 1]
            ax.imshow(gallery[j])
            label = f"{gallery_titles[j]} · " if gallery_titles else ""
            ax.set_title(f"{label}{values[row, col]:.2f}", fontsize=8)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    return fig
