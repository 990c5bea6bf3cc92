"""The mean attention distance of the ViT paper (Dosovitskiy et al., 2021, Figure 7 right).

Not a map of one photo but a summary of many: for each layer and head, how far in pixels a
patch looks on average, weighted by its attention. It reads the same per-layer attention that
:func:`helpers.maps.capture.capture_attention` collects (one (B, heads, N, N) tensor per layer,
token 0 the class token, tokens 1..N-1 the patches in row-major order), which is why it lives
beside it; :mod:`helpers.figures.attention_distance` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from helpers.maps.rollout import validate_attentions

__all__ = ["patch_distances", "mean_attention_distance"]


def patch_distances(grid: int | tuple[int, int], patch_size: int = 16) -> torch.Tensor:
    """Euclidean distances in pixels between the centres of every pair of patches.

    Args:
        grid: Patches per side, or (rows, cols).
        patch_size: Patch side in pixels.

    Returns:
        (P, P) distances, P = rows * cols, patches in row-major order.
    """
    rows, cols = (grid, grid) if isinstance(grid, int) else grid
    if rows < 1 or cols < 1 or patch_size < 1:
        raise ValueError(f"grid and patch_size must be positive; got grid={grid}, "
                         f"patch_size={patch_size}.")
    ys, xs = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    centres = torch.stack([ys.flatten(), xs.flatten()], dim=-1).float() * patch_size  # (P, 2)
    return torch.cdist(centres, centres)  # (P, P)


def mean_attention_distance(attentions: Sequence[torch.Tensor] | torch.Tensor,
                            grid: int | tuple[int, int], patch_size: int = 16) -> torch.Tensor:
    """Attention-weighted mean query-key distance in pixels (ViT paper, Figure 7 right).

    For each layer and head, every patch query's attention over the patch keys (class
    token left out, weights re-normalised) weights the pixel distance to each key; the
    result is averaged over queries and images.

    Args:
        attentions: One (B, heads, N, N) tensor per layer, N = 1 + rows * cols.
        grid: Patches per side, or (rows, cols).
        patch_size: Patch side in pixels.

    Returns:
        (L, heads) mean distances in pixels.
    """
    layers = validate_attentions(attentions)
    stacked = torch.stack([a.detach().float() for a in layers])  # (L, B, h, N, N)
    distances = patch_distances(grid, patch_size).to(stacked.device)  # (P, P)
    p = distances.shape[0]
    if stacked.shape[-1] != p + 1:
        raise ValueError(f"attention maps have N={stacked.shape[-1]} tokens but grid {grid} "
                         f"means 1 + {p} = {p + 1}.")
    patches = stacked[..., 1:, 1:]  # (L, B, heads, P, P)
    weights = patches / patches.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    per_query = (weights * distances).sum(dim=-1)  # (L, B, heads, P)
    return per_query.mean(dim=(1, 3))  # (L, heads)
