"""A causal test of explanations: switch attention heads off and watch the class score.

A method that says *these heads matter for this prediction* makes a testable claim: zeroing
their outputs should lower the class score more than zeroing as many heads picked at random.
:func:`ablate_heads` zeroes, per image, a chosen set of heads in a timm ViT (a forward
pre-hook on each block's ``attn.proj`` multiplies that head's slice of the concatenated head
outputs by 0); the hooks are removed on exit, also after an error.

:func:`head_importance` ranks the heads the way gradient rollout and Chefer et al.'s relevance
weigh them: the positive part of gradient x attention, summed over the head's entries (its
share of the map ``mean_h (∇A ⊙ A)⁺`` those methods propagate). :func:`ablation_scores` runs
every image with every head set in batches.

Example::

    attentions, gradients, _ = own_class_gradients(loaded, pixels, classes)
    ranked = top_heads(head_importance(attentions, gradients), k=6)   # (B, L, heads)
    scores = ablation_scores(loaded, pixels, classes, ranked[:, None])   # (B, 1)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from helpers.models.libraries import attention_kernel, library_of, unwrap

__all__ = ["attention_blocks", "ablate_heads", "head_importance", "top_heads", "random_heads",
           "ablation_scores"]


def attention_blocks(loaded: Any) -> list[nn.Module]:
    """The attention module of every block of a timm ViT, first block first.

    Raises:
        ValueError: the model is not a timm ViT whose attention ends in ``proj`` with no
            norm or gate in between (what head ablation needs).
    """
    module = unwrap(loaded)
    library = library_of(module)
    if library != "timm" or not hasattr(module, "blocks"):
        raise ValueError(f"head ablation is written for timm's VisionTransformer; got a "
                         f"{library} model. Load one with load('timm').")
    found = [block.attn for block in module.blocks]
    for index, attn in enumerate(found):
        plain = isinstance(getattr(attn, "proj", None), nn.Linear) and isinstance(
            getattr(attn, "norm", nn.Identity()), nn.Identity) and getattr(
            attn, "gate", None) is None and hasattr(attn, "num_heads")
        if not plain:
            raise ValueError(f"blocks[{index}].attn has a norm or gate before its output "
                             "projection (or no proj); head ablation supports the plain "
                             "ViT attention only.")
    return found


@contextmanager
def ablate_heads(loaded: Any, heads: torch.Tensor) -> Iterator[None]:
    """Zero the outputs of chosen heads, per image, during the forward passes inside.

    Args:
        loaded: A timm ViT (or what :func:`helpers.models.load` returned for timm).
        heads: (B, L, H) booleans, True for a head to switch off in that image; B must be
            the batch size of every forward pass inside (or (L, H) for every image).

    Raises:
        ValueError: ``heads`` does not match the model's layers and heads, or a forward pass
            inside has another batch size.
    """
    blocks = attention_blocks(loaded)
    num_heads = blocks[0].num_heads
    if not isinstance(heads, torch.Tensor) or heads.dtype != torch.bool or heads.ndim not in (
            2, 3) or tuple(heads.shape[-2:]) != (len(blocks), num_heads):
        got = (tuple(heads.shape), heads.dtype) if isinstance(heads, torch.Tensor) \
            else type(heads).__name__
        raise ValueError(f"heads must be booleans of shape (B, {len(blocks)}, {num_heads}) "
                         f"(layers, heads); got {got}.")
    per_image = heads if heads.ndim == 3 else heads[None]  # (B or 1, L, H)

    def hook_for(layer: int, attn: nn.Module):
        def pre_hook(_module: nn.Module, args: tuple) -> tuple:
            x = args[0]  # (B, N, heads * head_dim): every head's output, side by side
            off = per_image[:, layer].to(x.device)  # (B or 1, H)
            if off.shape[0] not in (1, x.shape[0]):
                raise ValueError(f"heads holds {off.shape[0]} images but the forward pass "
                                 f"has {x.shape[0]}.")
            keep = (~off).to(x.dtype).repeat_interleave(x.shape[-1] // num_heads, dim=-1)
            return (x * keep[:, None, :],) + args[1:]  # (B, N, H * head_dim)

        return pre_hook

    with ExitStack() as stack:
        for layer, attn in enumerate(blocks):
            stack.callback(attn.proj.register_forward_pre_hook(hook_for(layer, attn)).remove)
        yield


def head_importance(attentions: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """How much each head contributes to a class, as gradient rollout and Chefer weigh it.

    Args:
        attentions: (L, B, H, N, N) every layer's attention.
        gradients: (L, B, H, N, N) the class score's gradient with respect to it (e.g. from
            :func:`helpers.maps.attribution.own_class_gradients`).

    Returns:
        (B, L, H) ``sum_ij (∇A ⊙ A)⁺`` per image, layer and head, on the CPU.
    """
    if not isinstance(attentions, torch.Tensor) or attentions.ndim != 5 or (
            not isinstance(gradients, torch.Tensor) or gradients.shape != attentions.shape):
        shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                  for t in (attentions, gradients)]
        raise ValueError(f"attentions and gradients must both have shape (L, B, H, N, N); got "
                         f"{shapes[0]} and {shapes[1]}.")
    weighted = (gradients * attentions).clamp_min(0)  # (L, B, H, N, N)
    return weighted.sum(dim=(-2, -1)).transpose(0, 1).cpu()  # (B, L, H)


def top_heads(importance: torch.Tensor, k: int) -> torch.Tensor:
    """The k most important heads of each image.

    Args:
        importance: (B, L, H) scores.
        k: Heads to pick, 0 <= k <= L * H.

    Returns:
        (B, L, H) booleans with k True per image.
    """
    batch, layers, heads = importance.shape
    if not isinstance(k, int) or not 0 <= k <= layers * heads:
        raise ValueError(f"k must be an integer in [0, {layers * heads}]; got {k!r}.")
    flat = importance.reshape(batch, -1)  # (B, L * H)
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask.scatter_(1, flat.topk(k, dim=-1).indices, True)
    return mask.reshape(batch, layers, heads)


def random_heads(batch: int, layers: int, heads: int, k: int, seed: int = 0) -> torch.Tensor:
    """k heads drawn at random (without replacement) for each image: (B, L, H) booleans."""
    if not isinstance(k, int) or not 0 <= k <= layers * heads:
        raise ValueError(f"k must be an integer in [0, {layers * heads}]; got {k!r}.")
    generator = torch.Generator().manual_seed(seed)
    order = torch.rand(batch, layers * heads, generator=generator).argsort(dim=-1)
    mask = torch.zeros(batch, layers * heads, dtype=torch.bool)
    mask.scatter_(1, order[:, :k], True)
    return mask.reshape(batch, layers, heads)


def ablation_scores(loaded: Any, pixels: torch.Tensor, classes: Any, head_sets: torch.Tensor,
                    batch_size: int = 64) -> torch.Tensor:
    """The class probability of every image with each of its head sets switched off.

    Args:
        loaded: A timm ViT (or what :func:`helpers.models.load` returned for timm).
        pixels: (B, 3, H, W) preprocessed images.
        classes: (B,) the class to score in each image.
        head_sets: (B, K, L, heads) booleans: K sets of heads to switch off per image.
        batch_size: Images per forward pass.

    Returns:
        (B, K) probabilities.
    """
    blocks = attention_blocks(loaded)
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[1] != 3:
        raise ValueError("pixels must have shape (B, 3, H, W); use loaded.batch(images).")
    batch = pixels.shape[0]
    want = (batch, len(blocks), blocks[0].num_heads)
    if not isinstance(head_sets, torch.Tensor) or head_sets.ndim != 4 or (
            head_sets.shape[0], *head_sets.shape[2:]) != want:
        got = tuple(head_sets.shape) if isinstance(head_sets, torch.Tensor) else head_sets
        raise ValueError(f"head_sets must have shape ({batch}, K, {want[1]}, {want[2]}); "
                         f"got {got}.")
    target = torch.as_tensor(classes).reshape(-1).long()
    if target.numel() != batch:
        raise ValueError(f"classes must give one class per image ({batch}); got "
                         f"{target.numel()}.")
    module = unwrap(loaded)
    device = next(module.parameters()).device
    sets = head_sets.shape[1]
    image = torch.arange(batch).repeat_interleave(sets)  # (B * K,)
    flat_sets = head_sets.reshape(batch * sets, *want[1:])  # (B * K, L, H)
    scores = torch.empty(batch * sets)
    with torch.inference_mode(), attention_kernel(module, fused=True):
        for start in range(0, batch * sets, batch_size):
            index = image[start:start + batch_size]
            with ablate_heads(module, flat_sets[start:start + batch_size]):
                output = module(pixels[index].to(device))
            logits = output.logits if hasattr(output, "logits") else output  # (n, classes)
            if int(target.max()) >= logits.shape[-1] or int(target.min()) < 0:
                raise ValueError(f"classes must lie in [0, {logits.shape[-1]}).")
            probs = logits.float().softmax(-1)
            scores[start:start + batch_size] = probs.gather(
                1, target[index, None].to(probs.device))[:, 0].cpu()
    return scores.reshape(batch, sets)
