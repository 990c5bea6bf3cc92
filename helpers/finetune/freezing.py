"""Which parameters a fine-tuning method trains: a new head, then freezing and unfreezing.

Every method starts from the same pretrained timm ViT with a new classifier head for the new
classes (:func:`new_head`). They differ in what the optimizer may change:

=================  ======================================================================
head only          the head (the backbone's features stay exactly as pretrained)
last k blocks      the last ``k`` transformer blocks, the final norm and the head
full fine-tuning   everything
=================  ======================================================================

(The linear probe trains no part of the model at all: :mod:`helpers.finetune.features`; LoRA
trains small added matrices: :mod:`helpers.finetune.lora`.) Freezing is
``requires_grad_(False)``: autograd then builds no graph through the frozen parameters, so
nothing is computed for them in the backward pass and the optimizer never sees them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from helpers.models.libraries import require_timm

__all__ = ["new_head", "freeze_all", "train_only_head", "train_last_blocks", "train_everything",
           "count_parameters", "trainable_names"]


def _vit(model: Any) -> nn.Module:
    return require_timm(model, "fine-tuning here works on timm ViTs (blocks, norm, head); got a "
                               "{library} model. Load it with load('timm', ...).")


def new_head(model: nn.Module, num_classes: int, seed: int = 0) -> nn.Module:
    """Replace the classifier by a fresh ``Linear(width, num_classes)``, in place.

    The new head's weights are drawn with ``seed`` (the global random state is left alone), so
    every method starts from the same head.

    Returns:
        The same model.
    """
    vit = _vit(model)
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; got {num_classes!r}.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vit.reset_classifier(num_classes)
        nn.init.trunc_normal_(vit.head.weight, std=0.02)
        nn.init.zeros_(vit.head.bias)
    return model


def freeze_all(model: nn.Module) -> nn.Module:
    """Every parameter frozen (``requires_grad=False``); returns the model."""
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def train_only_head(model: nn.Module) -> nn.Module:
    """Freeze everything but the classifier head."""
    vit = _vit(model)
    freeze_all(vit)
    vit.head.requires_grad_(True)
    return model


def train_last_blocks(model: nn.Module, blocks: int) -> nn.Module:
    """Freeze everything but the last ``blocks`` transformer blocks, the final norm and the head.

    Args:
        model: A timm ViT.
        blocks: How many blocks to train, 1..depth.
    """
    vit = _vit(model)
    depth = len(vit.blocks)
    if not isinstance(blocks, int) or not 1 <= blocks <= depth:
        raise ValueError(f"blocks must be an integer in [1, {depth}]; got {blocks!r}.")
    train_only_head(vit)
    for block in vit.blocks[depth - blocks:]:
        block.requires_grad_(True)
    for name in ("norm", "fc_norm"):  # fc_norm: models that pool before a norm
        part = getattr(vit, name, None)
        if isinstance(part, nn.Module):
            part.requires_grad_(True)
    return model


def train_everything(model: nn.Module) -> nn.Module:
    """Every parameter trainable."""
    for param in model.parameters():
        param.requires_grad_(True)
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` numbers of parameters (each shared tensor counted once)."""
    seen: dict[int, nn.Parameter] = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in seen.values())
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    return trainable, total


def trainable_names(model: nn.Module) -> list[str]:
    """Names of the trainable parameters, in the model's order."""
    return [name for name, param in model.named_parameters() if param.requires_grad]
