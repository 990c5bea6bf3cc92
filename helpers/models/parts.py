"""The weights of a ViT, read from a torchvision, transformers or timm model into one layout.

The three libraries store the same numbers under different names (see
:mod:`helpers.models.convert`) and, for the attention input projection, in different shapes: timm
and torchvision keep one fused ``(3D, D)`` matrix whose rows are ``[q; k; v]``, Hugging Face
keeps three separate ``(D, D)`` matrices. :func:`vit_parts` reads any of them into
:class:`ViTParts`, with ``q``, ``k`` and ``v`` always separate, so :mod:`helpers.models.by_hand`
can compute the model with plain tensor operations.

The tensors are the model's own parameters (no copies); use them under ``torch.no_grad()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from helpers.models.libraries import adapter_for, unwrap

__all__ = ["Linear", "Norm", "BlockParts", "ViTParts", "vit_parts", "split_qkv"]


@dataclass(frozen=True)
class Linear:
    """``y = x @ weight.T + bias``.

    Attributes:
        weight: (out_features, in_features).
        bias: (out_features,) or None.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None

    @classmethod
    def of(cls, module: nn.Linear) -> Linear:
        return cls(module.weight, module.bias)


@dataclass(frozen=True)
class Norm:
    """LayerNorm over the last dimension.

    Attributes:
        weight: (D,) scale.
        bias: (D,) shift.
        eps: Added to the variance.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    eps: float

    @classmethod
    def of(cls, module: nn.LayerNorm) -> Norm:
        return cls(module.weight, module.bias, float(module.eps))


@dataclass(frozen=True)
class BlockParts:
    """One pre-norm encoder block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``.

    Attributes:
        norm1: LayerNorm before attention.
        q: Query projection, D -> D.
        k: Key projection, D -> D.
        v: Value projection, D -> D.
        proj: Output projection of the attention, D -> D.
        norm2: LayerNorm before the MLP.
        fc1: First MLP layer, D -> mlp_dim (followed by exact GELU).
        fc2: Second MLP layer, mlp_dim -> D.
        num_heads: Attention heads.
    """

    norm1: Norm
    q: Linear
    k: Linear
    v: Linear
    proj: Linear
    norm2: Norm
    fc1: Linear
    fc2: Linear
    num_heads: int


@dataclass(frozen=True)
class ViTParts:
    """Everything a class-token ViT classifier computes with.

    Attributes:
        library: ``"torchvision"``, ``"transformers"`` or ``"timm"``.
        patch_weight: (D, 3, P, P) kernel of the patch-embedding convolution.
        patch_bias: (D,).
        cls_token: (1, 1, D) learned class token.
        pos_embed: (1, 1 + N, D) learned position embeddings, class token's first.
        blocks: The encoder blocks in order.
        norm: Final LayerNorm.
        head: Classifier on the final class token, or None for a headless model.
    """

    library: str
    patch_weight: torch.Tensor
    patch_bias: torch.Tensor
    cls_token: torch.Tensor
    pos_embed: torch.Tensor
    blocks: list[BlockParts]
    norm: Norm
    head: Linear | None

    @property
    def patch_size(self) -> int:
        """P, the patch side in pixels."""
        return int(self.patch_weight.shape[-1])

    @property
    def dim(self) -> int:
        """D, the token width."""
        return int(self.patch_weight.shape[0])

    @property
    def depth(self) -> int:
        """Number of encoder blocks."""
        return len(self.blocks)

    @property
    def num_heads(self) -> int:
        """Attention heads per block."""
        return self.blocks[0].num_heads


def vit_parts(model: Any) -> ViTParts:
    """Read a ViT's weights into the shared layout.

    Args:
        model: What :func:`helpers.models.load` returned, or a timm ``VisionTransformer``,
            torchvision ``VisionTransformer`` or Hugging Face ``ViTModel`` /
            ``ViTForImageClassification``.

    Returns:
        The model's own parameters, organised as :class:`ViTParts`.

    Raises:
        ValueError: not one of those classes, or a variant the by-hand code does not follow
            (register tokens, average pooling, layer scale, a pre-logits layer, ...).
    """
    try:
        module = unwrap(model)
    except TypeError:
        raise ValueError(f"model must be an nn.Module or what helpers.models.load returned; "
                         f"got {type(model).__name__}.") from None
    return adapter_for(model).vit_parts(module)  # each library names the weights its own way


def split_qkv(weight: torch.Tensor, bias: torch.Tensor | None) -> tuple[Linear, Linear, Linear]:
    """Fused (3D, D) rows [q; k; v] -> three D -> D projections (views, no copy)."""
    d = weight.shape[1]
    parts = []
    for i in range(3):
        rows = slice(i * d, (i + 1) * d)
        parts.append(Linear(weight[rows], None if bias is None else bias[rows]))  # (D, D), (D,)
    return parts[0], parts[1], parts[2]
