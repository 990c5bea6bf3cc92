"""What *removing* a patch means: a fill (blur, mean colour, grey) or no token at all.

A deletion or insertion curve (:mod:`helpers.evaluation.faithfulness`) removes patches and asks the
model again. A CNN needs every pixel, so a removed patch must show *something*: a **fill**.

- ``"grey"``: 0 after normalisation (mid grey for mean = std = 0.5). RISE (Petsiuk et al.,
  2018) deletes to this zero substrate, and occlusion (captum) covers windows with it.
- ``"blur"``: a Gaussian blur of the photo (σ = 10 px). RISE starts *insertion* from a
  blurred copy, so the inserted patches add detail to an image that already has its colours.
- ``"mean"``: each image's mean colour.

ROAD (Rong et al., 2022) showed the catch: any fixed fill leaks the *shape* of the mask (a flat
square has sharp edges the photo never had), so the model can react to where the removed
patches are rather than to what they showed.

A ViT allows a removal a CNN does not: ``"tokens"`` **drops the removed patch tokens from the
sequence**. The kept patch tokens, each with its own position embedding, and the class token go
through the blocks; nothing is filled in, and every forward pass is cheaper by the tokens it
lacks. It is not a perfect removal either: the kept positions still tell the model where the
mask is, and a short sequence is an unusual input for a ViT trained on whole images.
:func:`kept_tokens` does it with a forward hook at the one point where every library
has added the position embeddings and not yet run a block:

- **timm** ``VisionTransformer`` (1.0.17 to 1.0.31, checked in both sources): ``forward_features``
  calls ``_pos_embed`` (prepends the class and register tokens and adds ``pos_embed``: to the
  whole sequence, or, with ``no_embed_class``, to the patch tokens before the class token is
  prepended; then ``pos_drop``), then ``patch_drop``. The hook sits on ``patch_drop``, an
  ``nn.Identity`` unless ``patch_drop_rate > 0``; there timm's own ``PatchDropout`` (Liu et al.,
  2022) keeps the prefix tokens and a *random* subset of patches while training. The same
  idea, with the patches chosen by a map.
- **torchvision** ``VisionTransformer``: ``Encoder.forward`` adds ``pos_embedding`` to the
  whole sequence, then calls ``encoder.dropout``: the hook sits there.
- **transformers** ``ViTForImageClassification`` (4.53 to 5.x): ``ViTEmbeddings.forward``
  prepends the class token, adds ``position_embeddings``, then calls ``embeddings.dropout``.

All three then classify from the class token (timm's ``global_pool="token"``); a timm model
that averages the patch tokens has nothing to average once every patch is gone, so it is
refused there.

Example::

    with kept_tokens(loaded, keep):                   # keep: (B, P) booleans, same count per row
        logits = loaded.model(pixels)                 # the model saw only the kept patches
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from helpers.models.libraries import adapter_for, unwrap

__all__ = ["FILLS", "REMOVALS", "RISE_REMOVAL", "removal_baseline", "perturb", "token_site",
           "kept_tokens"]

#: What a removed patch can be replaced with.
FILLS = ("blur", "mean", "grey")
#: Every kind of removal: the fills, and ``"tokens"`` (the patch's token is left out).
REMOVALS = (*FILLS, "tokens")
#: RISE's own pairing: delete to the zero substrate, insert into a blurred copy.
RISE_REMOVAL = {"deletion": "grey", "insertion": "blur"}


def _check_pixels(pixels: Any) -> None:
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[1] != 3 \
            or 0 in pixels.shape:
        shape = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ValueError(f"pixels must have shape (B, 3, H, W); got {shape}. Use "
                         "loaded.batch(images) to make one.")


def removal_baseline(pixels: torch.Tensor, kind: str = "blur", sigma: float = 10.0
                     ) -> torch.Tensor:
    """What the removed patches of each image are replaced with (a fill).

    Args:
        pixels: (B, 3, H, W) preprocessed images.
        kind: ``"blur"``: a Gaussian blur of the image (RISE's insertion start); ``"mean"``:
            each image's mean colour; ``"grey"``: 0 after normalisation (RISE's deletion
            substrate, the normalisation's mean colour).
        sigma: Standard deviation of the blur, in pixels.

    Returns:
        (B, 3, H, W) fill images.
    """
    _check_pixels(pixels)
    if kind == "blur":
        return _gaussian_blur(pixels, sigma)
    if kind == "mean":
        return pixels.mean(dim=(-2, -1), keepdim=True).expand_as(pixels).clone()
    if kind == "grey":
        return torch.zeros_like(pixels)
    hint = " (token removal has no fill image)" if kind == "tokens" else ""
    raise ValueError(f"baseline must be one of {', '.join(FILLS)} or a (B, 3, H, W) "
                     f"tensor; got {kind!r}{hint}.")


def _gaussian_blur(pixels: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders: two 1-D passes instead of one 2-D one."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive; got {sigma!r}.")
    radius = min(math.ceil(3 * sigma), min(pixels.shape[-2:]) - 1)  # reflect needs pad < side
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=pixels.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(pixels.dtype)  # (2r + 1,)
    channels = pixels.shape[1]
    x = torch.nn.functional.pad(pixels, (radius, radius, radius, radius), mode="reflect")
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1),
                                   groups=channels)  # along rows
    return torch.nn.functional.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1),
                                      groups=channels)  # along columns: (B, 3, H, W)


def perturb(pixels: torch.Tensor, baseline: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Images whose patches show ``pixels`` where ``keep`` is True and ``baseline`` elsewhere.

    Args:
        pixels: (B, 3, H, W) images.
        baseline: (B, 3, H, W) what removed patches become.
        keep: (B, P) or (B, g, g) booleans, P = g² patches tiling the square images.

    Returns:
        (B, 3, H, W) perturbed images.
    """
    _check_pixels(pixels)
    side = math.isqrt(keep[0].numel())
    if side * side != keep[0].numel() or pixels.shape[-1] % side or \
            pixels.shape[-1] != pixels.shape[-2] or keep.shape[0] != pixels.shape[0]:
        raise ValueError(f"keep must hold one square g x g grid per image that tiles the "
                         f"{tuple(pixels.shape[-2:])} images; got {tuple(keep.shape)}.")
    patch = pixels.shape[-1] // side
    grid = keep.reshape(-1, 1, side, side)  # (B, 1, g, g)
    mask = grid.repeat_interleave(patch, dim=-2).repeat_interleave(patch, dim=-1)  # (B,1,H,W)
    return torch.where(mask.to(pixels.device), pixels, baseline.to(pixels.device))


def token_site(model: Any) -> tuple[nn.Module, int]:
    """Where the embedded sequence can be cut: the module whose output it is, and its prefix.

    Args:
        model: A timm, torchvision or transformers ViT classifier (or what ``load`` returned).

    Returns:
        ``(module, prefix)``: the module that returns the (B, prefix + P, D) sequence with
        position embeddings added, and how many class/register tokens lead it.

    Raises:
        ValueError: a model whose layout is not one of the three ViTs above, or a timm ViT
            that pools the patch tokens (nothing is left to pool once every patch is removed).
    """
    module = unwrap(model)
    adapter = adapter_for(model)
    site = adapter.token_site(module)
    if site is not None:
        return site
    raise ValueError(f"token removal supports the ViT classifiers of timm, torchvision and "
                     f"transformers; got {type(module).__name__} from {adapter.name}. Use a fill "
                     "(blur, mean, grey) instead.")


@contextmanager
def kept_tokens(model: Any, keep: torch.Tensor) -> Iterator[list]:
    """Inside, forward passes of the model see only the kept patch tokens (and the prefix).

    Every kept token keeps its own position embedding (it was added before the cut), so the
    model runs on a shorter sequence, as if the removed patches had never been in the image.

    Args:
        model: A ViT classifier that :func:`token_site` supports.
        keep: (B, P) booleans, True for a patch token to keep; every row keeps the same
            number (a batch is one tensor). B must be the batch size of the forward passes.

    Yields:
        A list that grows by one each time the cut is made: empty after a forward pass
        means the model's layout is not the one this module was written for.

    Raises:
        ValueError: rows keep different numbers of patches, or a forward pass inside has
            another batch size or number of patches.
    """
    site, prefix = token_site(model)
    if not isinstance(keep, torch.Tensor) or keep.dtype != torch.bool or keep.ndim != 2:
        got = (tuple(keep.shape), keep.dtype) if isinstance(keep, torch.Tensor) \
            else type(keep).__name__
        raise ValueError(f"keep must be (B, P) booleans; got {got}.")
    counts = keep.sum(-1)
    if len(counts) and bool((counts != counts[0]).any()):
        raise ValueError(f"every image of a batch must keep the same number of patches; got "
                         f"{sorted(set(counts.tolist()))}. Batch images by step.")
    kept = keep.nonzero()[:, 1].reshape(len(keep), -1)  # (B, K) patch indices, in order
    calls = []

    def cut(_module: nn.Module, _args: tuple, output: torch.Tensor) -> torch.Tensor:
        if output.shape[0] != len(keep) or output.shape[1] != prefix + keep.shape[1]:
            raise ValueError(f"keep is ({len(keep)}, {keep.shape[1]}) but the forward pass has "
                             f"{output.shape[0]} images of {output.shape[1] - prefix} patches.")
        calls.append(1)
        index = kept.to(output.device)[..., None].expand(-1, -1, output.shape[-1])  # (B, K, D)
        return torch.cat([output[:, :prefix], output[:, prefix:].gather(1, index)], dim=1)

    handle = site.register_forward_hook(cut)
    try:
        yield calls
    finally:
        handle.remove()
