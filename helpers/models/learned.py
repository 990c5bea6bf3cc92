"""What a trained ViT's learned embeddings look like: the ViT paper's Figure 7, left and centre.

- :func:`filter_components`: the principal components of the patch-embedding filters
  (Figure 7, left), each a small RGB image of one patch's size.
- :func:`position_similarity`: the cosine similarity of each patch's position embedding
  with every other one (Figure 7, centre), arranged on the patch grid.
"""

from __future__ import annotations

import math

import torch

from helpers.shapes import require_nonempty

__all__ = ["filter_components", "position_similarity"]


def filter_components(weight: torch.Tensor, k: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """The top principal components of the patch-embedding filters.

    Each of the D output channels of the patch-embedding convolution is a (C, P, P) filter;
    PCA over those D filters finds the few patterns most of them are built from.

    Args:
        weight: (D, C, P, P) kernel of the patch-embedding ``Conv2d``.
        k: How many components to return (at most min(D, C·P·P)).

    Returns:
        ``components`` of shape (k, C, P, P), unit-norm and mutually orthogonal, in order of
        decreasing variance, and ``explained`` of shape (k,): the share of the filters'
        total variance each one explains.
    """
    if weight.ndim != 4:
        raise ValueError(f"weight must have shape (D, C, P, P); got {tuple(weight.shape)}.")
    require_nonempty("weight", weight, "(D, C, P, P)")
    filters = weight.detach().reshape(weight.shape[0], -1).double()  # (D, C·P·P)
    if not 1 <= k <= min(filters.shape):
        raise ValueError(f"k must be between 1 and {min(filters.shape)} for weight of shape "
                         f"{tuple(weight.shape)}; got {k}.")
    centred = filters - filters.mean(dim=0, keepdim=True)  # (D, C·P·P)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)  # vh: (r, C·P·P)
    variance = singular**2  # (r,)
    explained = variance[:k] / variance.sum()  # (k,)
    components = vh[:k].reshape(k, *weight.shape[1:])  # (k, C, P, P)
    return components.float(), explained.float()


def position_similarity(pos_embed: torch.Tensor, num_prefix_tokens: int = 1) -> torch.Tensor:
    """Cosine similarity between the position embeddings of all patch pairs, on the grid.

    Args:
        pos_embed: (1, prefix + N, D) or (prefix + N, D) position embeddings; the first
            ``num_prefix_tokens`` rows (the class token's) are skipped. N must be a square.
        num_prefix_tokens: Rows before the patch positions.

    Returns:
        (g, g, g, g) with g = √N: entry [i, j, r, c] is the similarity of the patch in row i,
        column j with the patch in row r, column c. Each [i, j] is one small heatmap, and
        [i, j, i, j] = 1.
    """
    if pos_embed.ndim == 3 and pos_embed.shape[0] == 1:
        pos_embed = pos_embed[0]
    if pos_embed.ndim != 2:
        raise ValueError(f"pos_embed must have shape (1, N, D) or (N, D); got "
                         f"{tuple(pos_embed.shape)}.")
    patches = pos_embed.detach()[num_prefix_tokens:].float()  # (N, D)
    grid = math.isqrt(patches.shape[0])
    if grid * grid != patches.shape[0]:
        raise ValueError(f"pos_embed holds {patches.shape[0]} patch positions after "
                         f"{num_prefix_tokens} prefix token(s): not a square grid.")
    unit = torch.nn.functional.normalize(patches, dim=-1)  # (N, D)
    similarity = unit @ unit.T  # (N, N)
    return similarity.reshape(grid, grid, grid, grid)
