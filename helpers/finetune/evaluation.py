"""Test accuracy of a classifier on an :class:`~helpers.finetune.data.ImageSplit`, batched.

The model runs in eval mode (no dropout, every patch token kept), under ``inference_mode``
and the fused attention kernel, in the same precision as training. With ``flip=True`` each
image is classified twice, as it is and mirrored left-right, and the two probability vectors
are averaged: a photo and its mirror image show the same class, and the average is a little
less noisy than either (test-time augmentation; it doubles the cost).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import torch

from helpers.finetune.data import ImageSplit, PixelPipeline
from helpers.finetune.precision import Precision
from helpers.models.libraries import attention_kernel, logits_of

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """Predictions on a split.

    Attributes:
        probabilities: (N, classes) softmax probabilities (flip-averaged when asked).
        labels: (N,) true classes.
        seconds: Wall-clock seconds the evaluation took.
    """

    probabilities: torch.Tensor
    labels: torch.Tensor
    seconds: float

    @property
    def predictions(self) -> torch.Tensor:
        """(N,) the most probable class of each image."""
        return self.probabilities.argmax(-1)

    @property
    def accuracy(self) -> float:
        """Share of images whose most probable class is the true one."""
        return float((self.predictions == self.labels).float().mean())


def evaluate(model: torch.nn.Module, split: ImageSplit, pipeline: PixelPipeline,
             precision: Precision | None = None, batch_size: int = 100, flip: bool = False
             ) -> Evaluation:
    """Classify every image of ``split``.

    Args:
        model: A classifier (timm ViT, PEFT model, ...), switched to eval mode here and back
            to its previous mode afterwards.
        split: The images and labels.
        pipeline: Their preprocessing (no augmentation is applied).
        precision: Autocast setting; None runs in float32.
        batch_size: Images per forward pass.
        flip: Average the probabilities of each image and its mirror image.

    Returns:
        An :class:`Evaluation`.
    """
    if len(split) == 0:
        raise ValueError("split holds no images to evaluate.")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    chunks = []
    try:
        with torch.inference_mode(), attention_kernel(model, fused=True):
            for first in range(0, len(split), batch_size):
                images = split.images[first:first + batch_size].to(device)  # (b, 3, H, W)
                views = [False, True] if flip else [False]
                probabilities = 0
                for mirrored in views:
                    pixels = pipeline(images, flip=mirrored)  # (b, 3, S, S)
                    with precision.autocast() if precision else contextlib.nullcontext():
                        logits = logits_of(model(pixels))  # (b, classes)
                    probabilities = probabilities + logits.float().softmax(-1)
                chunks.append((probabilities / len(views)).cpu())
    finally:
        model.train(was_training)
    return Evaluation(torch.cat(chunks), split.labels.clone(), time.perf_counter() - start)
