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

from helpers.models.libraries import library_of

__all__ = ["Linear", "Norm", "BlockParts", "ViTParts", "vit_parts"]


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
    module = getattr(model, "model", model)
    if not isinstance(module, nn.Module):
        raise ValueError(f"model must be an nn.Module or what helpers.models.load returned; "
                         f"got {type(model).__name__}.")
    reader = {"timm": _timm_parts, "torchvision": _torchvision_parts,
              "transformers": _transformers_parts}[library_of(module)]
    return reader(module)


def _split_qkv(weight: torch.Tensor, bias: torch.Tensor | None) -> tuple[Linear, Linear, Linear]:
    """Fused (3D, D) rows [q; k; v] -> three D -> D projections (views, no copy)."""
    d = weight.shape[1]
    parts = []
    for i in range(3):
        rows = slice(i * d, (i + 1) * d)
        parts.append(Linear(weight[rows], None if bias is None else bias[rows]))  # (D, D), (D,)
    return parts[0], parts[1], parts[2]


def _timm_parts(vit: nn.Module) -> ViTParts:
    problems = []
    if getattr(vit, "cls_token", None) is None:
        problems.append("no class token")
    if getattr(vit, "num_reg_tokens", 0):
        problems.append("register tokens")
    if getattr(vit, "no_embed_class", False):
        problems.append("position embeddings without the class token")
    if not isinstance(getattr(vit, "norm_pre", nn.Identity()), nn.Identity):
        problems.append("a pre-norm before the blocks")
    if getattr(vit, "global_pool", "token") not in ("token", ""):
        problems.append(f"global_pool={vit.global_pool!r}")
    if not isinstance(getattr(vit, "fc_norm", nn.Identity()), nn.Identity):
        problems.append("fc_norm")
    block = vit.blocks[0]
    for part in ("ls1", "ls2"):
        if not isinstance(getattr(block, part, nn.Identity()), nn.Identity):
            problems.append("layer scale")
            break
    if not isinstance(getattr(block.attn, "q_norm", nn.Identity()), nn.Identity):
        problems.append("qk-norm")
    if problems:
        raise ValueError(f"this timm ViT has {', '.join(sorted(set(problems)))}; the by-hand "
                         "code follows the plain class-token ViT (e.g. vit_tiny_patch16_224).")
    blocks = []
    for blk in vit.blocks:
        q, k, v = _split_qkv(blk.attn.qkv.weight, blk.attn.qkv.bias)
        blocks.append(BlockParts(Norm.of(blk.norm1), q, k, v, Linear.of(blk.attn.proj),
                                 Norm.of(blk.norm2), Linear.of(blk.mlp.fc1),
                                 Linear.of(blk.mlp.fc2), int(blk.attn.num_heads)))
    head = vit.head if isinstance(vit.head, nn.Linear) else None
    proj = vit.patch_embed.proj
    return ViTParts("timm", proj.weight, proj.bias, vit.cls_token, vit.pos_embed, blocks,
                    Norm.of(vit.norm), None if head is None else Linear.of(head))


def _torchvision_parts(tv: nn.Module) -> ViTParts:
    if hasattr(tv.heads, "pre_logits"):
        raise ValueError("this torchvision ViT has a pre-logits layer (representation_size); "
                         "the by-hand code follows the plain classifier head.")
    blocks = []
    for layer in tv.encoder.layers:
        attn = layer.self_attention
        q, k, v = _split_qkv(attn.in_proj_weight, attn.in_proj_bias)
        blocks.append(BlockParts(Norm.of(layer.ln_1), q, k, v, Linear.of(attn.out_proj),
                                 Norm.of(layer.ln_2), Linear.of(layer.mlp[0]),
                                 Linear.of(layer.mlp[3]), int(attn.num_heads)))
    return ViTParts("torchvision", tv.conv_proj.weight, tv.conv_proj.bias, tv.class_token,
                    tv.encoder.pos_embedding, blocks, Norm.of(tv.encoder.ln),
                    Linear.of(tv.heads.head))


def _transformers_parts(model: nn.Module) -> ViTParts:
    from helpers.models.libraries import hf_layer_parts, hf_layers

    vit = getattr(model, "vit", model)
    heads = int(vit.config.num_attention_heads)
    if vit.config.hidden_act != "gelu":
        raise ValueError(f"this Hugging Face ViT uses hidden_act={vit.config.hidden_act!r}; the "
                         "by-hand code follows the exact GELU ('gelu').")
    blocks = []
    for layer in hf_layers(model):
        p = hf_layer_parts(layer)
        blocks.append(BlockParts(Norm.of(p["norm1"]), Linear.of(p["q"]), Linear.of(p["k"]),
                                 Linear.of(p["v"]), Linear.of(p["o"]), Norm.of(p["norm2"]),
                                 Linear.of(p["fc1"]), Linear.of(p["fc2"]), heads))
    emb = vit.embeddings
    head = getattr(model, "classifier", None)
    head = Linear.of(head) if isinstance(head, nn.Linear) else None
    return ViTParts("transformers", emb.patch_embeddings.projection.weight,
                    emb.patch_embeddings.projection.bias, emb.cls_token,
                    emb.position_embeddings, blocks, Norm.of(vit.layernorm), head)
