"""Data augmentation for the Keras ViT of notebook 06: the keras-io seed's and the classic CIFAR
one (flip and pad-and-crop shifts), each with normalisation adapted to the training images.
"""

from __future__ import annotations

from helpers.keras.backend import ensure_torch_backend

ensure_torch_backend()

import keras  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

__all__ = ["seed_augmentation", "RandomShift", "improved_augmentation"]


def seed_augmentation(x_train: np.ndarray, image_size: int = 72) -> keras.Sequential:
    """The seed's preprocessing and augmentation, normalisation adapted to ``x_train``.

    Normalization (mean/variance of the training images) -> resize to ``image_size`` ->
    random horizontal flip -> random rotation (+-2 % of a turn) -> random zoom (+-20 %).
    The random layers act only in training.

    Args:
        x_train: (N, H, W, 3) training images.
        image_size: Side after resizing.
    """
    augmentation = keras.Sequential([
        layers.Normalization(),
        layers.Resizing(image_size, image_size),
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(factor=0.02),
        layers.RandomZoom(height_factor=0.2, width_factor=0.2),
    ], name="data_augmentation")
    augmentation.layers[0].adapt(np.asarray(x_train, dtype="float32"))
    return augmentation


class RandomShift(layers.Layer):
    """Shift each image by a random whole number of pixels, reflecting at the borders.

    The classic CIFAR "pad and random crop" augmentation, vectorised: the batch is
    padded once and every image reads its own window with two gathers. (Keras's
    ``RandomTranslation``, ``RandomRotation`` and ``RandomZoom`` resample each image in a
    Python loop on the torch backend, which costs tens of milliseconds per image on a CPU.)

    Input and output: (B, H, W, C) images; identity outside training.
    """

    def __init__(self, max_shift: int, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if max_shift < 0:
            raise ValueError(f"max_shift must be >= 0; got {max_shift}.")
        self.max_shift = max_shift
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training or self.max_shift == 0:
            return images
        s = self.max_shift
        batch, height, width, channels = ops.shape(images)
        padded = ops.pad(images, [[0, 0], [s, s], [s, s], [0, 0]],
                         mode="reflect")  # (B, H + 2s, W + 2s, C)
        offsets = keras.random.randint((2, batch), 0, 2 * s + 1,
                                       seed=self.seed_generator)  # (2, B)
        rows = offsets[0][:, None] + ops.arange(height)[None, :]  # (B, H)
        cols = offsets[1][:, None] + ops.arange(width)[None, :]  # (B, W)
        rows = ops.broadcast_to(rows[:, :, None, None], (batch, height, width + 2 * s, channels))
        out = ops.take_along_axis(padded, rows, axis=1)  # (B, H, W + 2s, C)
        cols = ops.broadcast_to(cols[:, None, :, None], (batch, height, width, channels))
        return ops.take_along_axis(out, cols, axis=2)  # (B, H, W, C)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "max_shift": self.max_shift, "seed": self.seed}


def improved_augmentation(x_train: np.ndarray, image_size: int = 32, max_shift: int = 4
                          ) -> keras.Sequential:
    """Normalisation plus the classic CIFAR augmentation: flip and shifts of up to 4 pixels.

    Args:
        x_train: (N, H, W, 3) training images.
        image_size: Side the model works at (a Resizing layer is added only if it differs
            from the images' own size).
        max_shift: Largest shift in pixels, in each direction.
    """
    steps: list[layers.Layer] = [layers.Normalization()]
    if image_size != x_train.shape[1]:
        steps.append(layers.Resizing(image_size, image_size))
    steps += [layers.RandomFlip("horizontal"), RandomShift(max_shift)]
    augmentation = keras.Sequential(steps, name="data_augmentation")
    augmentation.layers[0].adapt(np.asarray(x_train, dtype="float32"))
    return augmentation
