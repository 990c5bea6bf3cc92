"""What :func:`helpers.models.load` returns: one classifier, whichever library it came from.

:class:`LoadedModel` keeps the library's own model beside the preprocessing and class names
that belong to its weights, says in one line which weights were loaded, and offers the three
calls every notebook needs: ``batch`` (photos -> pixels), ``logits`` and ``predict`` (top-k).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from torch import nn

from helpers.models.libraries import LibraryAdapter, adapter_named, logits_of

__all__ = ["LoadedModel"]


@dataclass
class LoadedModel:
    """A classifier ready to use, whichever library it came from.

    Attributes:
        library: ``"torchvision"``, ``"transformers"`` or ``"timm"``.
        name: The requested model name.
        model: The library's own model, in eval mode.
        preprocess: PIL image -> float tensor (3, H, W) as the weights expect.
        labels: Class names by index; empty for a model without a classifier.
        source: One human-readable line saying which weights were loaded.
        kind: ``"pretrained"``, ``"stand-in"`` or ``"random"``.
        device: Where the model's parameters live.
        adapter: What is particular to ``library`` (attention kernel, capture points, layer
            names); chosen once, from ``library``, when the model is made.
    """

    library: str
    name: str
    model: nn.Module
    preprocess: Callable[[Image.Image], torch.Tensor]
    labels: list[str]
    source: str
    kind: str
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    adapter: LibraryAdapter | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.adapter is None:
            self.adapter = adapter_named(self.library)

    def describe(self) -> str:
        """One line for notebooks to print: library, name and weights source."""
        return f"Model: {self.library} {self.name} — {self.source}"

    def batch(self, images: Sequence[Any]) -> torch.Tensor:
        """Preprocess images into one batch on the model's device.

        Args:
            images: Anything :func:`helpers.data.images.load_image` accepts, B of them.

        Returns:
            Pixel values of shape (B, 3, H, W).
        """
        from helpers.data.images import load_image

        tensors = [self.preprocess(load_image(image)) for image in images]  # B x (3, H, W)
        return torch.stack(tensors).to(self.device)  # (B, 3, H, W)

    def logits(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Run the model on preprocessed pixels.

        Args:
            pixel_values: (B, 3, H, W) float tensor, e.g. from :meth:`batch`.

        Returns:
            Logits of shape (B, num_classes); for a headless model, its pooled features.
        """
        if pixel_values.ndim != 4 or pixel_values.shape[1] != 3:
            raise ValueError(f"pixel_values must have shape (B, 3, H, W); got "
                             f"{tuple(pixel_values.shape)}. Use .batch(images) to make one.")
        with torch.inference_mode():
            output = self.model(pixel_values.to(self.device))
        return logits_of(output)

    def predict(self, images: Any, k: int = 5, batch_size: int = 16
                ) -> list[list[tuple[str, float]]]:
        """Top-k classes for each image.

        Args:
            images: One image or a list of images (anything ``load_image`` accepts).
            k: How many classes to return per image.
            batch_size: Images per forward pass.

        Returns:
            One list per image of ``(label, probability)`` pairs, most probable first.

        Raises:
            RuntimeError: the model has no classifier (e.g. a self-supervised DINO model).
            ValueError: ``k`` or ``batch_size`` is not a positive integer.
        """
        if not self.labels:
            raise RuntimeError(
                f"{self.name} has no classification head (it was trained without labels, "
                "e.g. self-supervised DINO), so there is nothing to predict. Use its "
                "features instead: loaded.model.forward_features(loaded.batch(images)).")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer; got {k!r}.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
        if isinstance(images, list | tuple):
            images = list(images)
        else:
            images = [images]
        k = min(k, len(self.labels))
        results: list[list[tuple[str, float]]] = []
        for start in range(0, len(images), batch_size):
            probs = self.logits(self.batch(images[start:start + batch_size])).softmax(-1)
            top = probs.topk(k, dim=-1)  # values, indices: (B, k)
            for values, indices in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                results.append([(self.labels[i], v) for i, v in zip(indices, values, strict=True)])
        return results
