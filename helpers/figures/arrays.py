"""One way to turn whatever a notebook holds into a numpy array for drawing.

Tensors may live on a GPU, need gradients or be half precision; lists and arrays are fine as
they are. Every figure helper calls :func:`as_array` on its inputs, so each accepts tensors and
arrays alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_array"]


def as_array(values: Any, dtype: Any = None) -> np.ndarray:
    """A numpy array of ``values`` (a tensor is detached and moved to the CPU first).

    Args:
        values: A ``torch.Tensor``, numpy array, or anything ``np.asarray`` takes.
        dtype: The array's dtype; None keeps the input's (bfloat16 tensors become float32).

    Returns:
        The array, same shape as ``values``.
    """
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch.Tensor, without import
        values = values.detach().cpu()
        if dtype is None and str(values.dtype) == "torch.bfloat16":
            values = values.float()
        values = values.numpy()
    return np.asarray(values, dtype=dtype)
