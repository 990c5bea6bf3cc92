"""Attention rollout (Abnar & Zuidema, 2020).

Rollout is a pure function of the per-layer attention maps that
``helpers.maps.capture.capture_attention`` collects: a list with one tensor of shape
(B, heads, N, N) per layer, where token 0 is the class token and tokens 1..N-1 are
the patches in row-major order.

Rollout follows attention through the layers: each layer's map is fused over heads,
the residual connection is modelled by adding the identity, rows are re-normalised,
and the layers are multiplied with the *last layer on the left*::

    Ã_1 = A_1,    Ã_l = A_l · Ã_(l-1)

(vit-explain's loop ``result = torch.matmul(a, result)`` uses the same order). Row i
of the product says how much each input token contributes to token i at the top.

The numpy fast path at the end serves the rollout explorer: :func:`discard_thresholds` finds,
once per photo, the value each discard ratio drops in each layer, and :func:`cls_rollout`
multiplies only the class token's row through the layers (L vector-matrix products instead of
L matrix products), which keeps a slider move well under a millisecond.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from helpers.shapes import require_nonempty

__all__ = [
    "HEAD_FUSIONS",
    "validate_attentions",
    "fuse_heads",
    "rollout_matrix",
    "attention_rollout",
    "DISCARD_RATIOS",
    "discard_thresholds",
    "cls_rollout",
]

HEAD_FUSIONS = ("mean", "max", "min")


def validate_attentions(attentions: Sequence[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
    """Check per-layer maps: a non-empty list of equal (B, heads, N, N) tensors."""
    if isinstance(attentions, torch.Tensor):
        layers = list(attentions) if attentions.ndim == 5 else [attentions]
    elif isinstance(attentions, Sequence) and attentions:
        layers = list(attentions)
    else:
        raise ValueError("attentions must be a non-empty list of (B, heads, N, N) tensors, "
                         f"one per layer; got {type(attentions).__name__}.")
    if not layers:
        raise ValueError("attentions must hold at least one layer; got a (0, B, heads, N, N) "
                         "tensor.")
    first = layers[0]
    for index, layer in enumerate(layers):
        if not isinstance(layer, torch.Tensor) or layer.ndim != 4:
            shape = tuple(layer.shape) if isinstance(layer, torch.Tensor) else type(layer).__name__
            raise ValueError(f"attentions[{index}] must have shape (B, heads, N, N); got {shape}.")
        require_nonempty(f"attentions[{index}]", layer, "(B, heads, N, N)")
        if layer.shape[-1] != layer.shape[-2]:
            raise ValueError(f"attentions[{index}] must be square in its last two dimensions "
                             f"(N, N); got {tuple(layer.shape)}.")
        if layer.shape != first.shape:
            raise ValueError(f"every layer must have the same shape; attentions[0] is "
                             f"{tuple(first.shape)} but attentions[{index}] is "
                             f"{tuple(layer.shape)}.")
    return layers


def fuse_heads(attention: torch.Tensor, head_fusion: str = "mean") -> torch.Tensor:
    """Combine the heads of one layer's attention.

    Args:
        attention: (..., heads, N, N) attention probabilities.
        head_fusion: ``"mean"``, ``"max"`` or ``"min"`` over the heads.

    Returns:
        (..., N, N) fused map.
    """
    if not isinstance(attention, torch.Tensor) or attention.ndim < 3 or (
            attention.shape[-1] != attention.shape[-2]):
        shape = tuple(attention.shape) if isinstance(attention, torch.Tensor) else type(attention)
        raise ValueError(f"attention must have shape (..., heads, N, N); got {shape}.")
    require_nonempty("attention", attention, "(..., heads, N, N)")
    if head_fusion == "mean":
        return attention.mean(dim=-3)
    if head_fusion == "max":
        return attention.amax(dim=-3)
    if head_fusion == "min":
        return attention.amin(dim=-3)
    raise ValueError(f"head_fusion must be one of {', '.join(HEAD_FUSIONS)}; got {head_fusion!r}.")


def _discard_lowest(fused: torch.Tensor, discard_ratio: float) -> torch.Tensor:
    """Zero the lowest ``discard_ratio`` of each (N, N) map, never the class-token entries.

    The class token's row and column (index 0) always stay: they carry the summary the
    rollout is read from.

    Args:
        fused: (..., N, N) fused attention.
        discard_ratio: Fraction in [0, 1) of all N*N entries to drop.
    """
    n = fused.shape[-1]
    count = int(n * n * discard_ratio)
    if count == 0:
        return fused
    protected = torch.zeros(n * n, dtype=torch.bool, device=fused.device)
    protected.view(n, n)[0, :] = True
    protected.view(n, n)[:, 0] = True
    count = min(count, n * n - int(protected.sum()))
    flat = fused.flatten(-2)  # (..., N*N)
    ranked = flat.masked_fill(protected, float("inf"))  # protected entries always kept
    keep = ranked.topk(n * n - count, dim=-1).indices  # (..., N*N - count)
    mask = torch.zeros_like(flat, dtype=torch.bool).scatter_(-1, keep, True)
    return (flat * mask).view_as(fused)


def rollout_matrix(attentions: Sequence[torch.Tensor] | torch.Tensor, head_fusion: str = "mean",
                   discard_ratio: float = 0.0) -> torch.Tensor:
    """The rolled-out attention matrix of a stack of layers.

    Args:
        attentions: One (B, heads, N, N) tensor per layer, first layer first (or a
            (L, B, heads, N, N) tensor).
        head_fusion: ``"mean"``, ``"max"`` or ``"min"``.
        discard_ratio: Fraction in [0, 1) of each fused map's lowest entries to drop.

    Returns:
        (B, N, N) matrix whose rows sum to 1.
    """
    layers = validate_attentions(attentions)
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {', '.join(HEAD_FUSIONS)}; "
                         f"got {head_fusion!r}.")
    if not isinstance(discard_ratio, int | float) or not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio must be a number in [0, 1); got {discard_ratio!r}.")
    n = layers[0].shape[-1]
    eye = torch.eye(n, device=layers[0].device)  # (N, N)
    joint = None
    for layer in layers:  # first layer first; each step is batched over images
        fused = fuse_heads(layer.detach().float(), head_fusion)  # (B, N, N)
        fused = _discard_lowest(fused, discard_ratio)
        a = (fused + eye) / 2  # model the residual connection
        a = a / a.sum(dim=-1, keepdim=True)  # rows sum to 1 again
        joint = a if joint is None else a @ joint  # later layers on the left: A_l · Ã_(l-1)
    return joint  # (B, N, N)


def attention_rollout(attentions: Sequence[torch.Tensor] | torch.Tensor, head_fusion: str = "mean",
                      discard_ratio: float = 0.0) -> torch.Tensor:
    """How much each patch contributes to the class token after all layers.

    Args:
        attentions: One (B, heads, N, N) tensor per layer, first layer first. Pass
            ``attentions[start:]`` to roll out from a later layer.
        head_fusion: ``"mean"``, ``"max"`` or ``"min"``.
        discard_ratio: Fraction in [0, 1) of each fused map's lowest entries to drop.

    Returns:
        (B, N - 1) class-token row of the rollout over the patch tokens; reshape to
        (B, grid, grid) to draw it.

    Raises:
        ValueError: wrong rank or shapes, unknown fusion, ratio outside [0, 1).
    """
    return rollout_matrix(attentions, head_fusion, discard_ratio)[:, 0, 1:]  # (B, N - 1)


# --------------------------------------------------------------------------- numpy fast path

#: The discard ratios the rollout explorer's slider offers, one per whole percent
#: (vit-explain uses 0.9 to 0.99).
DISCARD_RATIOS = tuple(percent / 100 for percent in range(100))


def discard_thresholds(fused: np.ndarray, ratios: Sequence[float] = DISCARD_RATIOS
                       ) -> np.ndarray:
    """For each ratio and layer, the largest value that :mod:`helpers.maps.rollout`'s discard drops.

    The discard zeroes the ``int(N·N·ratio)`` lowest entries of a layer's map outside the
    class token's row and column. Sorting those entries once gives, for any ratio, the value
    at that rank: zeroing every entry ``<=`` it is the same discard (up to exact ties there,
    which only matter if they are not zeros).

    Args:
        fused: (L, N, N) one image's maps fused over heads.
        ratios: Discard ratios in [0, 1).

    Returns:
        (len(ratios), L) float32 thresholds; ``-inf`` where the ratio drops nothing.
    """
    fused = np.asarray(fused)
    if fused.ndim != 3 or fused.shape[-1] != fused.shape[-2]:
        raise ValueError(f"fused must have shape (L, N, N); got {fused.shape}.")
    require_nonempty("fused", fused, "(L, N, N)")
    if any(not 0.0 <= r < 1.0 for r in ratios):
        raise ValueError(f"ratios must lie in [0, 1); got {list(ratios)}.")
    layers, n, _ = fused.shape
    ordered = np.sort(fused[:, 1:, 1:].reshape(layers, -1), axis=-1)  # (L, (N-1)²)
    out = np.full((len(ratios), layers), -np.inf, dtype=np.float32)
    for r, ratio in enumerate(ratios):
        count = min(int(n * n * ratio), ordered.shape[-1])
        if count > 0:
            out[r] = ordered[:, count - 1]
    return out


def cls_rollout(fused: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
    """The class token's row of the rollout of some layers, as a vector-matrix chain.

    Equals ``helpers.maps.rollout.attention_rollout`` of the same layers (its rows are re-normalised
    after adding the identity, so halving ``A + I`` changes nothing and is skipped). Written in
    numpy: on a busy 2-core machine torch's thread pool made these small element-wise steps
    about 50 times slower (48 ms against 0.6 ms for 12 layers of 197 x 197).

    Args:
        fused: (L, N, N) maps fused over heads, first layer first.
        thresholds: (L,) entries ``<=`` these are dropped (outside the class token's row and
            column); None drops nothing.

    Returns:
        (N - 1,) the class token's rolled-out attention to each patch.
    """
    fused = np.asarray(fused)
    if fused.ndim != 3 or fused.shape[-1] != fused.shape[-2]:
        raise ValueError(f"fused must have shape (L, N, N); got {fused.shape}.")
    require_nonempty("fused", fused, "(L, N, N)")
    n = fused.shape[-1]
    if thresholds is None:
        joint = fused.copy()  # (L, N, N)
    else:
        thresholds = np.asarray(thresholds)
        if thresholds.shape != (len(fused),):
            raise ValueError(f"thresholds must have shape ({len(fused)},); got "
                             f"{thresholds.shape}.")
        joint = fused * (fused > thresholds[:, None, None])  # (L, N, N), lowest dropped
        joint[:, 0, :] = fused[:, 0, :]  # the class token's row and column always stay
        joint[:, :, 0] = fused[:, :, 0]
    diagonal = np.arange(n)
    joint[:, diagonal, diagonal] += 1.0  # the residual connection
    joint /= joint.sum(axis=-1, keepdims=True)  # rows sum to 1
    row = np.zeros(n, dtype=joint.dtype)  # (N,)
    row[0] = 1.0  # e₀: the class token
    for layer in joint[::-1]:  # e₀ᵀ · A_L · A_(L-1) ⋯ A_1
        row = row @ layer  # (N,)
    return row[1:]  # (N - 1,)
