"""Images for fine-tuning: kept small in memory, turned into the model's pixels a batch at a time.

A fine-tuning run reads the same few thousand images many times. Decoding files and resizing
them one by one with PIL for every step would cost more than the model on a CPU, so images are
held once as a uint8 tensor (:class:`ImageSplit`, e.g. CIFAR-10's 32 x 32 photos) and a
:class:`PixelPipeline` makes a whole batch of model inputs with a few tensor operations:

* training only: a random crop of the image padded by a few pixels (reflected), and a random
  horizontal flip: the classic CIFAR augmentation, cheap and safe for photos;
* resize to the model's input size (bicubic, as the stand-in was trained) and normalise with
  the mean and standard deviation of the *weights* (mean = std = 0.5 for the AugReg ViTs;
  ImageNet's statistics would silently shift every input).

The mean, std and interpolation come from the model's own pretrained config
(:meth:`PixelPipeline.for_model`), never typed by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["ImageSplit", "PixelPipeline", "as_uint8_images", "split_of"]


def as_uint8_images(images: Any) -> torch.Tensor:
    """(N, H, W, 3) or (N, 3, H, W) uint8 array or tensor -> (N, 3, H, W) uint8 tensor."""
    tensor = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor)
                             else images)
    if tensor.dtype != torch.uint8 or tensor.ndim != 4 or 3 not in (tensor.shape[1],
                                                                     tensor.shape[-1]):
        raise ValueError(f"images must be uint8 of shape (N, H, W, 3) or (N, 3, H, W); got "
                         f"{tensor.dtype} {tuple(tensor.shape)}.")
    if tensor.shape[1] != 3:
        tensor = tensor.permute(0, 3, 1, 2)  # (N, 3, H, W)
    return tensor.contiguous()


@dataclass(frozen=True)
class ImageSplit:
    """Labelled images of one split, in memory.

    Attributes:
        images: (N, 3, H, W) uint8.
        labels: (N,) int64 class indices.
        classes: Class names by index.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be (N, 3, H, W) uint8; got {self.images.dtype} "
                             f"{tuple(self.images.shape)}. Use as_uint8_images() first.")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels must have shape ({len(self.images)},); got "
                             f"{tuple(self.labels.shape)}.")
        if len(self.labels) and not 0 <= int(self.labels.min()) <= int(
                self.labels.max()) < len(self.classes):
            raise ValueError(f"labels must lie in [0, {len(self.classes)}); got "
                             f"{int(self.labels.min())}..{int(self.labels.max())}.")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, count: int | None = None, index: torch.Tensor | None = None
               ) -> ImageSplit:
        """The first ``count`` images, or those at ``index``."""
        keep = index if index is not None else torch.arange(min(count or len(self), len(self)))
        return ImageSplit(self.images[keep], self.labels[keep], self.classes)


def split_of(images: Any, labels: Any, classes: Sequence[str]) -> ImageSplit:
    """An :class:`ImageSplit` from arrays such as :class:`helpers.data.datasets.ImageDataset`'s."""
    return ImageSplit(as_uint8_images(images), torch.as_tensor(np.asarray(labels)).long(),
                      tuple(str(c) for c in classes))


@dataclass(frozen=True)
class PixelPipeline:
    """uint8 images -> normalised model inputs, a batch at a time (augmented when training).

    Attributes:
        size: Side of the square model input in pixels (a multiple of the patch size).
        mean: Per-channel mean subtracted after scaling to [0, 1].
        std: Per-channel standard deviation divided by.
        interpolation: ``"bicubic"`` or ``"bilinear"`` (``F.interpolate``'s modes).
        pad: Training only: pixels of reflected padding before the random crop (0: no crop).
        flip: Training only: flip half the images left-right.
    """

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    pad: int = 4
    flip: bool = True

    @classmethod
    def for_model(cls, model: Any, size: int | None = None, **changes: Any) -> PixelPipeline:
        """The pipeline a timm model's pretrained weights expect (mean, std, interpolation).

        Args:
            model: A timm ViT (or a PEFT model / ``LoadedModel`` around one).
            size: Input side; None: the model's current input size.
            **changes: Other fields to set (``pad``, ``flip``).
        """
        from timm.data import resolve_data_config

        from helpers.models.libraries import unwrap

        vit = unwrap(model)
        config = resolve_data_config({}, model=vit)
        current = getattr(getattr(vit, "patch_embed", None), "img_size", None)  # after a resize
        side = size or int(current[-1] if current else config["input_size"][-1])
        mode = config.get("interpolation", "bicubic")
        return cls(side, tuple(config["mean"]), tuple(config["std"]),
                   mode if mode in ("bicubic", "bilinear") else "bilinear").with_(**changes)

    def with_(self, **changes: Any) -> PixelPipeline:
        """A copy with some fields changed (e.g. ``size=112``)."""
        return replace(self, **changes) if changes else self

    def __call__(self, images: torch.Tensor, train: bool = False,
                 generator: torch.Generator | None = None, flip: bool = False) -> torch.Tensor:
        """Model inputs for a batch.

        Args:
            images: (B, 3, H, W) uint8.
            train: Apply the random crop and flip.
            generator: Random source of the augmentation (seeded by the caller).
            flip: Flip every image (test-time flip averaging).

        Returns:
            (B, 3, size, size) float32, normalised.
        """
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W) uint8; got {images.dtype} "
                             f"{tuple(images.shape)}.")
        x = images
        if train and self.pad:
            x = self._random_crop(x, generator)  # (B, 3, H, W)
        x = x.float() / 255.0  # (B, 3, H, W) in [0, 1]
        if train and self.flip:
            flips = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)  # (B,)
            x = torch.where(flips[:, None, None, None], x.flip(-1), x)
        if flip:
            x = x.flip(-1)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode=self.interpolation,
                              align_corners=False, antialias=x.shape[-1] > self.size)
            x = x.clamp(0.0, 1.0)  # bicubic overshoots at edges
        mean = torch.tensor(self.mean, device=x.device).reshape(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).reshape(1, 3, 1, 1)
        return (x - mean) / std  # (B, 3, size, size)

    def _random_crop(self, images: torch.Tensor, generator: torch.Generator | None
                     ) -> torch.Tensor:
        """One random crop per image of the reflect-padded batch, back to the input size."""
        batch, _, height, width = images.shape
        padded = F.pad(images.float(), (self.pad,) * 4, mode="reflect").to(torch.uint8)
        device = images.device
        top = torch.randint(0, 2 * self.pad + 1, (batch,), generator=generator).to(device)
        left = torch.randint(0, 2 * self.pad + 1, (batch,), generator=generator).to(device)
        rows = (top[:, None] + torch.arange(height, device=device))[:, None, :, None]  # (B,1,H,1)
        cols = (left[:, None] + torch.arange(width, device=device))[:, None, None, :]  # (B,1,1,W)
        index = torch.arange(batch, device=device)[:, None, None, None]
        channel = torch.arange(3, device=device)[None, :, None, None]
        return padded[index, channel, rows, cols]  # (B, 3, H, W)

    def to_image(self, pixels: torch.Tensor) -> np.ndarray:
        """One (3, S, S) model input back to an (S, S, 3) photo in [0, 1], for drawing."""
        mean = torch.tensor(self.mean).reshape(3, 1, 1)
        std = torch.tensor(self.std).reshape(3, 1, 1)
        return (pixels.detach().cpu().float() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
