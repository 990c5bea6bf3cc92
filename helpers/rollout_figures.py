"""Figures of notebook 05: the attention distance of every head against depth.

Each function takes arrays and returns a ``matplotlib.figure.Figure``; none calls
``plt.show()`` or changes global matplotlib state.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

__all__ = ["attention_distance_figure"]


def attention_distance_figure(distances: np.ndarray | torch.Tensor, uniform: float | None = None,
                              image_size: int | None = None, title: str = "",
                              size: tuple[float, float] = (6.0, 3.6)) -> Figure:
    """Mean attention distance of every head against its layer (the ViT paper's Figure 7, right).

    Args:
        distances: (L, heads) mean distances in pixels, e.g. from
            :func:`helpers.rollout.mean_attention_distance`.
        uniform: The distance of a head that attends to every patch equally; drawn as a
            dashed line when given.
        image_size: Image side in pixels; sets the top of the y axis when given.
        title: Figure title.
        size: Figure size in inches.

    Returns:
        The figure: one dot per head, coloured by head, layers numbered from 0, as in the
        notebooks.
    """
    values = np.asarray(torch.as_tensor(distances).detach().cpu(), dtype=np.float64)
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
