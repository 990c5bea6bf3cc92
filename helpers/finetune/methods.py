"""The five ways to adapt a pretrained ViT, each prepared from the same starting point.

==================  ==================================================================
``linear probe``    frozen model; a logistic regression on its features (no backprop)
``head only``       a new head trained by the loop, the backbone frozen
``last k blocks``   the last k blocks, the final norm and the head trained
``LoRA``            low-rank adapters on every block's ``qkv`` (peft), plus the head
``full``            every parameter trained
==================  ==================================================================

:func:`finetuning_copy` makes the starting point: a copy of the pretrained timm ViT with a new
head (random, or a fitted probe's for LP-FT), optionally a smaller input (fewer patches, the
position embeddings resampled) and PatchDropout (a random share of the patch tokens dropped
in every *training* step: a cheaper step and a little regularisation; evaluation keeps every
token). :func:`prepare` then freezes what the method does not train.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from helpers.finetune.freezing import (
    freeze_all,
    new_head,
    train_everything,
    train_last_blocks,
    train_only_head,
)
from helpers.models.libraries import require_timm, unwrap

__all__ = ["METHODS", "finetuning_copy", "set_input_size", "set_patch_dropout", "prepare"]

#: The methods, in the order the notebook runs them.
METHODS = ("linear probe", "head only", "last k blocks", "LoRA", "full")


def set_input_size(model: nn.Module, size: int) -> nn.Module:
    """Make a timm ViT take ``size`` x ``size`` images: fewer (or more) patches, its position
    embeddings resampled to the new grid (bicubic, timm's ``set_input_size``)."""
    vit = unwrap(model)
    patch = vit.patch_embed.patch_size[0]
    if size % patch:
        raise ValueError(f"size must be a multiple of the patch size {patch}; got {size}.")
    if tuple(vit.patch_embed.img_size) != (size, size):
        vit.set_input_size(img_size=(size, size))
    return model


def set_patch_dropout(model: nn.Module, rate: float) -> nn.Module:
    """Drop a random share ``rate`` of the patch tokens in every training forward pass (the
    class token is always kept; eval mode keeps all). 0 switches it off."""
    from timm.layers import PatchDropout

    vit = unwrap(model)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must lie in [0, 1); got {rate}.")
    vit.patch_drop = (PatchDropout(rate, num_prefix_tokens=vit.num_prefix_tokens) if rate
                      else nn.Identity())
    return model


def finetuning_copy(model: Any, num_classes: int, size: int | None = None,
                    patch_drop: float = 0.0, head: nn.Linear | None = None,
                    seed: int = 0) -> nn.Module:
    """A copy of a pretrained timm ViT ready for a new task (the original is untouched).

    Args:
        model: What :func:`helpers.models.load` returned for timm, or a timm ViT.
        num_classes: Classes of the new task.
        size: Input side (None keeps the model's).
        patch_drop: PatchDropout rate during training.
        head: A fitted head to start from (LP-FT: :meth:`LinearProbe.as_head`); None draws a
            new one with ``seed``.
        seed: Seed of a new head.

    Returns:
        The timm ViT, every parameter trainable, in eval mode.
    """
    vit = require_timm(model, "fine-tuning here needs a timm ViT; got a {library} model.")
    copied = copy.deepcopy(vit).eval()
    new_head(copied, num_classes, seed)
    if head is not None:
        if tuple(head.weight.shape) != tuple(copied.head.weight.shape):
            raise ValueError(f"head must be Linear({copied.head.in_features}, {num_classes}); "
                             f"got weight {tuple(head.weight.shape)}.")
        with torch.no_grad():
            copied.head.weight.copy_(head.weight)
            copied.head.bias.copy_(head.bias)
    if size is not None:
        set_input_size(copied, size)
    set_patch_dropout(copied, patch_drop)
    return train_everything(copied)


def prepare(model: nn.Module, method: str, blocks: int = 2, rank: int = 8) -> nn.Module:
    """Freeze (or wrap) a :func:`finetuning_copy` for ``method``.

    Args:
        model: The copy (modified in place; LoRA returns a peft model around it).
        method: One of :data:`METHODS`.
        blocks: k, for ``"last k blocks"``.
        rank: r, for ``"LoRA"``.

    Returns:
        The model to train (for the linear probe: the frozen model, to extract features from).
    """
    if method == "linear probe":
        return freeze_all(model)
    if method == "head only":
        return train_only_head(model)
    if method == "last k blocks":
        return train_last_blocks(model, blocks)
    if method == "LoRA":
        from helpers.finetune.lora import add_lora

        return add_lora(freeze_all(model), rank=rank)
    if method == "full":
        return train_everything(model)
    raise ValueError(f"method must be one of {list(METHODS)}; got {method!r}.")
