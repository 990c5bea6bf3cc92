"""Image embeddings from a ViT: the class token, mean-pooled patch tokens, and the pooler.

One function, :func:`extract_embeddings`, turns a list of images into embeddings with
whatever :func:`helpers.models.load` returned (torchvision, transformers or timm): it
preprocesses with the model's own recipe, runs batches under ``torch.inference_mode()``
with fused attention (attention maps are not needed here), and shows a tqdm progress bar.

What a ViT's last layer gives per image is a sequence of token states (B, T, D):
``T = prefix + patches`` where the prefix is the class token (and, in some models, a
distillation or register tokens). From it:

- **cls**: the class token's final state, ``states[:, 0]``; what the classifier reads.
- **mean**: the average of the patch tokens, ``states[:, prefix:].mean(1)``.
- **pooler**: Hugging Face's ``ViTModel`` pooler, ``tanh(dense(cls))``, only where the model
  has one (``ViTForImageClassification`` does not); ``None`` for torchvision and timm.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from helpers.models.libraries import adapter_for, attention_kernel, unwrap

__all__ = [
    "EMBEDDING_KINDS",
    "Embeddings",
    "TokenStates",
    "token_states",
    "extract_embeddings",
]

#: The embeddings :func:`extract_embeddings` returns, by name.
EMBEDDING_KINDS = ("cls", "mean", "pooler")


@dataclass
class Embeddings:
    """Embeddings of N images, on the CPU as float32.

    Attributes:
        cls: (N, D) final class-token states.
        mean: (N, D) mean of the final patch-token states (prefix tokens excluded).
        pooler: (N, D) Hugging Face pooler output, or None where the model has no pooler.
    """

    cls: torch.Tensor
    mean: torch.Tensor
    pooler: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.cls.shape[0])

    def get(self, kind: str) -> torch.Tensor:
        """The embedding called ``kind`` (one of :data:`EMBEDDING_KINDS`), shape (N, D).

        Raises:
            ValueError: unknown ``kind``, or ``"pooler"`` for a model without a pooler.
        """
        if kind not in EMBEDDING_KINDS:
            raise ValueError(f"kind must be one of {', '.join(EMBEDDING_KINDS)}; got {kind!r}.")
        value = getattr(self, kind)
        if value is None:
            raise ValueError("this model has no pooler (e.g. ViTForImageClassification, "
                             "torchvision or timm ViTs); use 'cls' or 'mean'.")
        return value


@dataclass
class TokenStates:
    """The final-layer output of a ViT for one batch.

    Attributes:
        states: (B, T, D) final (normed) token states, prefix tokens first.
        num_prefix: How many leading tokens are not patches (1: the class token).
        pooler: (B, D) pooler output, or None.
    """

    states: torch.Tensor
    num_prefix: int
    pooler: torch.Tensor | None = None


def token_states(model: nn.Module, pixel_values: torch.Tensor) -> TokenStates:
    """Run a ViT up to its final norm and return every token's state.

    Args:
        model: A torchvision ``VisionTransformer``, a Hugging Face ViT (``ViTModel`` or
            ``ViTForImageClassification``) or a timm ViT.
        pixel_values: (B, 3, H, W) preprocessed images on the model's device.

    Returns:
        A :class:`TokenStates` with states of shape (B, T, D).

    Raises:
        ValueError: ``pixel_values`` is not (B, 3, H, W), or the model is not a known ViT.
    """
    if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 4 \
            or pixel_values.shape[1] != 3:
        shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else \
            type(pixel_values).__name__
        raise ValueError(f"pixel_values must be a tensor of shape (B, 3, H, W); got {shape}.")
    module = unwrap(model)
    states, prefix, pooler = adapter_for(model).token_states(module, pixel_values)  # (B, T, D)
    return TokenStates(states, prefix, pooler)


def _as_image_list(images: Any) -> list[Any]:
    """A list of single images from a list, or from a (N, H, W, 3) uint8 array."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
            raise ValueError(f"an array of images must have shape (N, H, W, 3); got "
                             f"{images.shape}.")
        return list(images)
    if isinstance(images, Image.Image | str) or not isinstance(images, Sequence):
        raise ValueError(f"images must be a list of images or an (N, H, W, 3) array; got "
                         f"{type(images).__name__}. Wrap a single image in a list.")
    return list(images)


def extract_embeddings(
    model: Any,
    images: Any,
    *,
    preprocess: Callable[[Image.Image], torch.Tensor] | None = None,
    batch_size: int = 32,
    progress: bool = True,
    desc: str = "embeddings",
    fused: bool = True,
) -> Embeddings:
    """Embed images in batches: class token, mean-pooled patch tokens and pooler.

    Args:
        model: What :func:`helpers.models.load` returned (a ``LoadedModel``), or a bare
            torchvision / transformers / timm ViT (then ``preprocess`` is required).
        images: A list of images (anything :func:`helpers.data.images.load_image` accepts) or
            an (N, H, W, 3) uint8 array.
        preprocess: PIL image -> (3, H, W) tensor; default the loaded model's own.
        batch_size: Images per forward pass.
        progress: Show a tqdm progress bar (in images).
        desc: The progress bar's label.
        fused: Use fused attention during extraction (same numbers, faster).

    Returns:
        :class:`Embeddings` with (N, D) float32 CPU tensors, in the order of ``images``.

    Raises:
        ValueError: no images, a bad ``batch_size``, or no preprocessing for a bare model.
    """
    from tqdm.auto import tqdm

    from helpers.data.images import load_image

    network = unwrap(model)
    preprocess = preprocess or getattr(model, "preprocess", None)
    if preprocess is None:
        raise ValueError("preprocess is required when model is a bare nn.Module; pass the "
                         "weights' transform, e.g. loaded.preprocess.")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    items = _as_image_list(images)
    if not items:
        raise ValueError("images is empty; pass at least one image.")
    device = next(network.parameters()).device
    chunks: dict[str, list[torch.Tensor]] = {"cls": [], "mean": [], "pooler": []}
    was_training = network.training
    network.eval()
    context = attention_kernel(network, fused=True) if fused else contextlib.nullcontext(network)
    try:
        with context, torch.inference_mode(), \
                tqdm(total=len(items), desc=desc, unit="img", disable=not progress) as bar:
            for start in range(0, len(items), batch_size):
                batch = items[start:start + batch_size]
                tensors = [preprocess(load_image(item)) for item in batch]  # B x (3, H, W)
                pixels = torch.stack(tensors)  # (B, 3, H, W)
                out = token_states(network, pixels.to(device))
                states = out.states.float()  # (B, T, D)
                chunks["cls"].append(states[:, 0].cpu())  # (B, D)
                chunks["mean"].append(states[:, out.num_prefix:].mean(dim=1).cpu())  # (B, D)
                if out.pooler is not None:
                    chunks["pooler"].append(out.pooler.float().cpu())  # (B, D)
                bar.update(len(batch))
    finally:
        network.train(was_training)
    return Embeddings(
        cls=torch.cat(chunks["cls"]),  # (N, D)
        mean=torch.cat(chunks["mean"]),  # (N, D)
        pooler=torch.cat(chunks["pooler"]) if chunks["pooler"] else None,  # (N, D) or None
    )
