"""Figures of preprocessing: each stage of an image processor beside a histogram of its values
(notebook 02).

Each function returns a ``matplotlib.figure.Figure``; none calls ``plt.show()`` or changes
global matplotlib state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from helpers.data.preprocessing import Stage
from helpers.figures.arrays import as_array

__all__ = ["stages_figure"]


def _displayable(tensor: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor -> (H, W, 3) floats in [0, 1] for imshow (min-max if out of range)."""
    x = as_array(tensor, dtype=np.float32)  # (3, H, W)
    if tensor.dtype == torch.uint8:
        x = x / 255.0
    low, high = float(x.min()), float(x.max())
    if low < 0.0 or high > 1.0:
        x = (x - low) / max(high - low, 1e-12)
    return x.transpose(1, 2, 0)  # (H, W, 3)


def stages_figure(stages: Sequence[Stage], size: float = 2.8) -> Figure:
    """Each stage's image above a histogram of its values.

    Images whose values leave [0, 1] (after normalisation) are drawn min-max scaled;
    the histogram shows their real range.

    Args:
        stages: From :func:`processor_stages`, or made by hand.
        size: Inches per column.

    Returns:
        The figure.
    """
    if not stages:
        raise ValueError("stages_figure needs at least one stage.")
    fig = Figure(figsize=(size * len(stages), size * 1.75), layout="constrained")
    axes = fig.subplots(2, len(stages), height_ratios=[2.2, 1], squeeze=False)
    for column, stage in enumerate(stages):
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(_displayable(stage.tensor))
        top.set_axis_off()
        shape = " x ".join(str(s) for s in stage.tensor.shape)
        top.set_title(f"{stage.name}\n{shape} {str(stage.tensor.dtype).replace('torch.', '')}",
                      fontsize=9)
        values = as_array(stage.tensor, dtype=np.float32).reshape(-1)
        bottom.hist(values, bins=50, color="tab:gray")
        bottom.set_yticks([])
        bottom.set_xlabel(f"{values.min():.3g} .. {values.max():.3g}", fontsize=8)
        bottom.spines[["top", "right", "left"]].set_visible(False)
    return fig
