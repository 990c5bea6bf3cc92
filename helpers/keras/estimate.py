"""A measured estimate of a Keras training run, before it starts (notebook 06).

:func:`training_estimate` times one gradient and one prediction of the very model that is
about to be trained and extrapolates with :mod:`helpers.setup.run_time`, so the notebook
prints how long the fit will take on this machine instead of a fixed claim.
"""

from __future__ import annotations

from typing import Any

from helpers.keras.backend import ensure_torch_backend
from helpers.setup.run_time import Estimate, Part, time_call

ensure_torch_backend()
import keras  # noqa: E402 - the backend must be chosen first

__all__ = ["training_estimate"]


def training_estimate(model: Any, x: Any, y: Any, batch_size: int, epochs: int,
                      train_images: int, eval_images: int = 0) -> Estimate:
    """Time a Keras model's gradient and prediction on one batch; extrapolate a training run.

    The timed training step is a forward pass in training mode and a backward pass of the
    cross-entropy: what a training step computes before the optimizer applies it. Nothing
    is applied and the gradients are cleared again, so the model's weights do not change
    and the estimate can run on the very model that is about to be trained (Keras on the
    PyTorch backend; dropout and random augmentation draw from their seeds as usual).

    Args:
        model: A Keras model returning logits.
        x: Images; the first ``batch_size`` are used.
        y: Their integer labels.
        batch_size: Images per timed batch.
        epochs: Epochs of the real run.
        train_images: Training images per epoch.
        eval_images: Images the run predicts in all (validation every epoch, a test set).

    Returns:
        The estimate: training images over all epochs, plus the evaluated images.
    """
    if batch_size < 1 or epochs < 0 or train_images < 0 or eval_images < 0:
        raise ValueError("batch_size must be >= 1 and epochs, train_images, eval_images >= 0; got "
                         f"{batch_size}, {epochs}, {train_images}, {eval_images}.")
    xb, yb = x[:batch_size], y[:batch_size]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def gradient() -> None:
        loss(yb, model(xb, training=True)).backward()

    try:
        # two passes, the faster counts: the first also pays for one-off set-up
        step = time_call(gradient, repeat=2)
    finally:
        for weight in model.trainable_weights:
            weight.value.grad = None
    estimate = Estimate((Part(epochs * train_images, step / len(xb), "training image"),))
    if eval_images:
        predict = time_call(lambda: model.predict_on_batch(xb))
        estimate = estimate + Estimate((Part(eval_images, predict / len(xb), "evaluated image"),))
    return estimate
