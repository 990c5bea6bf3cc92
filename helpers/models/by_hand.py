"""A Vision Transformer computed by hand: plain tensor operations on the model's own weights.

Every step of the forward pass, written out so each line can be compared with the library:

    images (B, 3, H, W)
      -> patchify                 (B, N, 3·P·P)     cut into P x P patches, one row each
      -> @ patch weights + bias   (B, N, D)         the patch embedding (a strided conv)
      -> [class token; patches] + position embeddings   (B, 1 + N, D)
      -> depth x block_forward    (B, 1 + N, D)     pre-norm attention + MLP, each with a residual
      -> final LayerNorm, take token 0 -> head     (B, classes)

Weights come from :func:`helpers.models.parts.vit_parts`, the same for torchvision,
transformers and timm. Notebook 04 teaches these steps inline, then uses this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from helpers.models.parts import BlockParts, Linear, Norm, ViTParts
from helpers.shapes import require_nonempty

__all__ = [
    "patchify",
    "patch_embedding",
    "input_sequence",
    "layer_norm",
    "linear",
    "gelu",
    "split_heads",
    "merge_heads",
    "attention_probs",
    "BlockTrace",
    "block_forward",
    "ForwardTrace",
    "vit_forward",
]


def _check_images(images: torch.Tensor, patch_size: int) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must have shape (B, C, H, W); got {shape}.")
    require_nonempty("images", images, "(B, C, H, W)")
    height, width = images.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(f"images must have H and W divisible by patch_size={patch_size}; got "
                         f"{height} x {width}.")


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping square patches, each flattened into one row.

    Args:
        images: (B, C, H, W).
        patch_size: P; H and W must be multiples of it.

    Returns:
        (B, N, C·P·P) with N = (H / P)·(W / P) patches in row-major order (left to right,
        then top to bottom), each row ordered channel, then pixel row, then pixel column:
        the same order as ``conv.weight.reshape(D, -1)``.
    """
    _check_images(images, patch_size)
    columns = torch.nn.functional.unfold(images, kernel_size=patch_size, stride=patch_size)
    return columns.transpose(1, 2)  # (B, C·P·P, N) -> (B, N, C·P·P)


def patch_embedding(images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
                    ) -> torch.Tensor:
    """The patch embedding as one matrix product: ``patchify(images) @ W.T + b``.

    Args:
        images: (B, C, H, W).
        weight: (D, C, P, P), the kernel of the model's stride-P ``Conv2d``.
        bias: (D,) or None.

    Returns:
        (B, N, D) patch tokens, equal to the convolution's output flattened.
    """
    if weight.ndim != 4 or weight.shape[-1] != weight.shape[-2]:
        raise ValueError(f"weight must have shape (D, C, P, P); got {tuple(weight.shape)}.")
    patches = patchify(images, weight.shape[-1])  # (B, N, C·P·P)
    tokens = patches @ weight.reshape(weight.shape[0], -1).T  # (B, N, D)
    return tokens if bias is None else tokens + bias  # (B, N, D)


def input_sequence(images: torch.Tensor, parts: ViTParts) -> torch.Tensor:
    """What the first encoder block receives: class token and patch tokens, plus positions.

    Args:
        images: (B, 3, H, W) preprocessed pixels, H and W the model's input size.
        parts: The model's weights.

    Returns:
        (B, 1 + N, D).
    """
    tokens = patch_embedding(images, parts.patch_weight, parts.patch_bias)  # (B, N, D)
    expected = parts.pos_embed.shape[1] - 1
    if tokens.shape[1] != expected:
        raise ValueError(f"images give {tokens.shape[1]} patches but the model has position "
                         f"embeddings for {expected}; resize images to the model's input size.")
    cls = parts.cls_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
    return torch.cat([cls, tokens], dim=1) + parts.pos_embed  # (B, 1 + N, D)


def layer_norm(x: torch.Tensor, norm: Norm) -> torch.Tensor:
    """LayerNorm by hand: normalise each token to mean 0 and variance 1, then scale and shift.

    Args:
        x: (..., D).
        norm: The weights.

    Returns:
        (..., D).
    """
    width = norm.weight.shape[0]
    if x.ndim < 1 or x.shape[-1] != width:
        raise ValueError(f"x must have shape (..., {width}) for this LayerNorm; "
                         f"got {tuple(x.shape)}.")
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias  # (..., D)


def linear(x: torch.Tensor, layer: Linear) -> torch.Tensor:
    """``x @ W.T + b`` for x of shape (..., in_features); returns (..., out_features)."""
    in_features = layer.weight.shape[1]
    if x.ndim < 1 or x.shape[-1] != in_features:
        raise ValueError(f"x must have shape (..., {in_features}) for this layer; "
                         f"got {tuple(x.shape)}.")
    y = x @ layer.weight.T  # (..., out)
    return y if layer.bias is None else y + layer.bias


def gelu(x: torch.Tensor) -> torch.Tensor:
    """The exact GELU the three ViTs use: ``x · Φ(x) = x/2 · (1 + erf(x / √2))``."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, D) -> (B, heads, N, D / heads): each head gets its own slice of the features.

    Raises:
        ValueError: x is not 3-D or D is not divisible by num_heads.
    """
    if x.ndim != 3 or x.shape[-1] % num_heads:
        raise ValueError(f"x must have shape (B, N, D) with D divisible by num_heads="
                         f"{num_heads}; got {tuple(x.shape)}.")
    batch, tokens, dim = x.shape
    return x.reshape(batch, tokens, num_heads, dim // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, N, d) -> (B, N, heads·d), the inverse of :func:`split_heads`."""
    if x.ndim != 4:
        raise ValueError(f"x must have shape (B, heads, N, d); got {tuple(x.shape)}.")
    batch, heads, tokens, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, tokens, heads * head_dim)


def attention_probs(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention weights ``softmax(q · kᵀ / √d)``.

    Args:
        q: (B, heads, N, d) queries.
        k: (B, heads, N, d) keys.

    Returns:
        (B, heads, N, N); row i is how query i spreads its attention over the keys (sums to 1).
    """
    if q.ndim != 4 or q.shape != k.shape:
        raise ValueError(f"q and k must both have shape (B, heads, N, d); got "
                         f"{tuple(q.shape)} and {tuple(k.shape)}.")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, heads, N, N)
    return scores.softmax(dim=-1)  # (B, heads, N, N)


@dataclass(frozen=True)
class BlockTrace:
    """What one encoder block computed.

    Attributes:
        output: (B, N, D) the block's output.
        attention: (B, heads, N, N) its attention probabilities.
    """

    output: torch.Tensor
    attention: torch.Tensor


def block_forward(x: torch.Tensor, block: BlockParts) -> BlockTrace:
    """One pre-norm encoder block by hand.

    Args:
        x: (B, N, D) the tokens entering the block.
        block: Its weights.

    Returns:
        The output tokens and the attention probabilities.
    """
    if x.ndim != 3:
        raise ValueError(f"x must have shape (B, N, D); got {tuple(x.shape)}.")
    h = layer_norm(x, block.norm1)  # (B, N, D)
    q = split_heads(linear(h, block.q), block.num_heads)  # (B, heads, N, d)
    k = split_heads(linear(h, block.k), block.num_heads)  # (B, heads, N, d)
    v = split_heads(linear(h, block.v), block.num_heads)  # (B, heads, N, d)
    probs = attention_probs(q, k)  # (B, heads, N, N)
    mixed = merge_heads(probs @ v)  # (B, N, D)
    x = x + linear(mixed, block.proj)  # (B, N, D) residual 1
    h = gelu(linear(layer_norm(x, block.norm2), block.fc1))  # (B, N, mlp_dim)
    x = x + linear(h, block.fc2)  # (B, N, D) residual 2
    return BlockTrace(x, probs)


@dataclass(frozen=True)
class ForwardTrace:
    """What the whole model computed by hand.

    Attributes:
        tokens: (B, 1 + N, D) after the final LayerNorm.
        cls: (B, D) the final class token, what the classifier reads.
        logits: (B, classes), or None for a headless model.
        attentions: One (B, heads, 1 + N, 1 + N) tensor per block.
    """

    tokens: torch.Tensor
    cls: torch.Tensor
    logits: torch.Tensor | None
    attentions: list[torch.Tensor]


def vit_forward(images: torch.Tensor, parts: ViTParts) -> ForwardTrace:
    """The whole classifier by hand.

    Args:
        images: (B, 3, H, W) preprocessed pixels at the model's input size.
        parts: The model's weights, from :func:`helpers.models.parts.vit_parts`.

    Returns:
        Final tokens, class token, logits and every block's attention.
    """
    x = input_sequence(images, parts)  # (B, 1 + N, D)
    attentions = []
    for block in parts.blocks:
        trace = block_forward(x, block)
        x = trace.output  # (B, 1 + N, D)
        attentions.append(trace.attention)  # (B, heads, 1 + N, 1 + N)
    tokens = layer_norm(x, parts.norm)  # (B, 1 + N, D)
    cls = tokens[:, 0]  # (B, D)
    logits = None if parts.head is None else linear(cls, parts.head)  # (B, classes)
    return ForwardTrace(tokens, cls, logits, attentions)
