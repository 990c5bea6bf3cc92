"""One set of ViT weights, three libraries: copy a timm ViT into torchvision's and
Hugging Face's own model classes.

The three implementations compute the same function with differently named (and in
one case differently shaped) parameters:

| part | timm | torchvision | transformers |
|---|---|---|---|
| patch embedding | ``patch_embed.proj`` | ``conv_proj`` | ``vit.embeddings.patch_embeddings.projection`` |
| class token | ``cls_token`` | ``class_token`` | ``vit.embeddings.cls_token`` |
| position embedding | ``pos_embed`` | ``encoder.pos_embedding`` | ``vit.embeddings.position_embeddings`` |
| attention in | ``blocks.i.attn.qkv`` (fused, 3D x D) | ``self_attention.in_proj_*`` (fused) | ``q_proj``, ``k_proj``, ``v_proj`` (separate) |
| attention out | ``blocks.i.attn.proj`` | ``self_attention.out_proj`` | ``o_proj`` |
| norms | ``norm1``, ``norm2``, ``norm`` | ``ln_1``, ``ln_2``, ``encoder.ln`` | ``layernorm_before``, ``layernorm_after``, ``vit.layernorm`` |
| MLP | ``mlp.fc1``, ``mlp.fc2`` | ``mlp.0``, ``mlp.3`` | ``mlp.fc1``, ``mlp.fc2`` |
| classifier | ``head`` | ``heads.head`` | ``classifier`` |

(transformers 4.x names the attention parts ``attention.attention.query/key/value`` and
``attention.output.dense``, and the MLP ``intermediate.dense`` / ``output.dense``;
:func:`helpers.models.libraries.hf_layer_parts` names both layouts alike.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from helpers.models.libraries import hf_layer_parts, hf_layers, use_eager_attention

__all__ = [
    "ViTArchitecture",
    "architecture_of",
    "timm_to_torchvision",
    "timm_to_transformers",
]


@dataclass(frozen=True)
class ViTArchitecture:
    """The numbers that define a plain ViT classifier.

    Attributes:
        image_size: Input side length in pixels (square inputs).
        patch_size: Patch side length in pixels.
        dim: Token width D.
        depth: Number of encoder blocks.
        num_heads: Attention heads per block.
        mlp_dim: Hidden width of each block's MLP.
        num_classes: Classifier outputs (0 for a headless model).
        eps: LayerNorm epsilon.
    """

    image_size: int
    patch_size: int
    dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    num_classes: int
    eps: float

    @property
    def num_patches(self) -> int:
        """Patches per image: (image_size / patch_size) ** 2."""
        return (self.image_size // self.patch_size) ** 2


def architecture_of(vit: nn.Module) -> ViTArchitecture:
    """Read the architecture of a timm ``VisionTransformer``.

    Args:
        vit: A timm ViT with a class token, token pooling and fused-qkv pre-norm blocks.

    Raises:
        ValueError: the model uses a feature the converters do not map (register tokens,
            average pooling, layer scale, a final fc_norm, qkv without bias).
    """
    problems = []
    if getattr(vit, "cls_token", None) is None:
        problems.append("no class token")
    if getattr(vit, "num_reg_tokens", 0):
        problems.append("register tokens")
    if getattr(vit, "no_embed_class", False) or getattr(vit, "pos_embed", None) is None:
        problems.append("no learned position embedding for the class token")
    if getattr(vit, "global_pool", "token") != "token":
        problems.append(f"global_pool={vit.global_pool!r}")
    if not isinstance(getattr(vit, "fc_norm", nn.Identity()), nn.Identity):
        problems.append("fc_norm")
    if not isinstance(getattr(vit, "norm_pre", nn.Identity()), nn.Identity):
        problems.append("a pre-norm before the blocks")
    if not isinstance(getattr(vit, "norm", None), nn.LayerNorm):
        problems.append("no final LayerNorm")
    if vit.patch_embed.proj.bias is None:
        problems.append("patch embedding without bias")
    block = vit.blocks[0]
    if not isinstance(getattr(block, "ls1", nn.Identity()), nn.Identity):
        problems.append("layer scale")
    if block.attn.qkv.bias is None or block.attn.proj.bias is None:
        problems.append("attention projections without bias")
    if not isinstance(getattr(block.attn, "q_norm", nn.Identity()), nn.Identity):
        problems.append("q/k normalisation")
    act = getattr(block.mlp, "act", None)
    if not (isinstance(act, nn.GELU) and act.approximate == "none"):
        problems.append(f"MLP activation {type(act).__name__} (exact GELU needed)")
    if problems:
        raise ValueError(f"cannot convert this timm model: it has {', '.join(problems)}. "
                         "Only plain class-token ViTs (like vit_tiny_patch16_224) convert.")
    return ViTArchitecture(
        image_size=int(vit.patch_embed.img_size[0]),
        patch_size=int(vit.patch_embed.patch_size[0]),
        dim=int(vit.embed_dim),
        depth=len(vit.blocks),
        num_heads=int(block.attn.num_heads),
        mlp_dim=int(block.mlp.fc1.out_features),
        num_classes=int(vit.num_classes),
        eps=float(block.norm1.eps),
    )


def _copy(dst: nn.Module, src: nn.Module) -> None:
    """Copy a Linear/LayerNorm/Conv2d's parameters (same names, same shapes)."""
    dst.load_state_dict(src.state_dict(), strict=True)


@torch.no_grad()
def timm_to_torchvision(vit: nn.Module) -> nn.Module:
    """Build torchvision's ``VisionTransformer`` holding the weights of a timm ViT.

    Args:
        vit: A timm ViT classifier (see :func:`architecture_of`).

    Returns:
        A ``torchvision.models.VisionTransformer`` in eval mode whose logits equal the
        timm model's for the same (B, 3, H, W) input.
    """
    from torchvision.models.vision_transformer import VisionTransformer

    arch = architecture_of(vit)
    if arch.num_classes == 0:
        raise ValueError("torchvision's VisionTransformer needs a classifier head; "
                         "this timm model has num_classes=0.")
    tv = VisionTransformer(
        image_size=arch.image_size,
        patch_size=arch.patch_size,
        num_layers=arch.depth,
        num_heads=arch.num_heads,
        hidden_dim=arch.dim,
        mlp_dim=arch.mlp_dim,
        num_classes=arch.num_classes,
        norm_layer=partial(nn.LayerNorm, eps=arch.eps),
    )
    tv.class_token.copy_(vit.cls_token)  # (1, 1, D)
    _copy(tv.conv_proj, vit.patch_embed.proj)
    tv.encoder.pos_embedding.copy_(vit.pos_embed)  # (1, 1 + N, D)
    for block, layer in zip(vit.blocks, tv.encoder.layers, strict=True):
        _copy(layer.ln_1, block.norm1)
        layer.self_attention.in_proj_weight.copy_(block.attn.qkv.weight)  # (3D, D)
        layer.self_attention.in_proj_bias.copy_(block.attn.qkv.bias)  # (3D,)
        _copy(layer.self_attention.out_proj, block.attn.proj)
        _copy(layer.ln_2, block.norm2)
        _copy(layer.mlp[0], block.mlp.fc1)
        _copy(layer.mlp[3], block.mlp.fc2)
    _copy(tv.encoder.ln, vit.norm)
    _copy(tv.heads.head, vit.head)
    return tv.eval()


@torch.no_grad()
def timm_to_transformers(vit: nn.Module, id2label: Mapping[int, str]) -> nn.Module:
    """Build Hugging Face's ``ViTForImageClassification`` holding a timm ViT's weights.

    The model uses eager attention, so ``output_attentions=True`` returns the maps.

    Args:
        vit: A timm ViT classifier (see :func:`architecture_of`).
        id2label: Class index -> name, stored in the model's config.

    Returns:
        A ``ViTForImageClassification`` in eval mode whose logits equal the timm model's.
    """
    from transformers import ViTConfig, ViTForImageClassification

    arch = architecture_of(vit)
    if len(id2label) != arch.num_classes:
        raise ValueError(f"id2label has {len(id2label)} entries; the model has "
                         f"{arch.num_classes} classes.")
    config = ViTConfig(
        image_size=arch.image_size,
        patch_size=arch.patch_size,
        hidden_size=arch.dim,
        num_hidden_layers=arch.depth,
        num_attention_heads=arch.num_heads,
        intermediate_size=arch.mlp_dim,
        hidden_act="gelu",
        layer_norm_eps=arch.eps,
        qkv_bias=True,
        num_labels=arch.num_classes,
        id2label=dict(id2label),
        label2id={name: index for index, name in id2label.items()},
    )
    hf = ViTForImageClassification(config)
    use_eager_attention(hf)
    d = arch.dim
    embeddings = hf.vit.embeddings
    embeddings.cls_token.copy_(vit.cls_token)  # (1, 1, D)
    embeddings.position_embeddings.copy_(vit.pos_embed)  # (1, 1 + N, D)
    _copy(embeddings.patch_embeddings.projection, vit.patch_embed.proj)
    for block, layer in zip(vit.blocks, hf_layers(hf), strict=True):
        parts = hf_layer_parts(layer)
        qkv_w = block.attn.qkv.weight  # (3D, D): rows are [q; k; v]
        qkv_b = block.attn.qkv.bias  # (3D,)
        for i, name in enumerate("qkv"):
            parts[name].weight.copy_(qkv_w[i * d:(i + 1) * d])  # (D, D)
            parts[name].bias.copy_(qkv_b[i * d:(i + 1) * d])  # (D,)
        _copy(parts["o"], block.attn.proj)
        _copy(parts["norm1"], block.norm1)
        _copy(parts["norm2"], block.norm2)
        _copy(parts["fc1"], block.mlp.fc1)
        _copy(parts["fc2"], block.mlp.fc2)
    _copy(hf.vit.layernorm, vit.norm)
    _copy(hf.classifier, vit.head)
    return hf.eval()
