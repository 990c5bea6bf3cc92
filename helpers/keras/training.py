"""Training recipes for the Keras ViT of notebook 06: the keras-io seed's and an improved one.

A :class:`TrainingRecipe` holds the optimisation side (optimizer, learning-rate schedule, loss,
batch size); the architecture lives in :mod:`helpers.keras.model`. :func:`train` compiles a
model with a recipe, fits it with the seed's best-checkpoint callback (best validation
accuracy) and restores those best weights before returning, as the seed does. Beside the
checkpoint it keeps a small JSON record of the best epoch, so an interrupted run can
resume from its best checkpoint (``train(..., resume=True)``).

For wall-clock comparisons :class:`TimeBudget` stops training after a fixed number of
seconds, drives the learning-rate schedule by elapsed time instead of steps, and
evaluates on a test set at regular times (with the clock paused while it evaluates).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers.keras.backend import ensure_torch_backend
from helpers.keras.checkpoints import ResumableCheckpoint, checkpoint_record, resume_from
from helpers.shapes import require_nonempty

ensure_torch_backend()

import keras  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import torch  # noqa: E402
from keras import ops  # noqa: E402

__all__ = [
    "TrainingRecipe",
    "SEED_RECIPE",
    "IMPROVED_RECIPE",
    "SparseSmoothedCrossentropy",
    "learning_rate_schedule",
    "compile_recipe",
    "train",
    "predict_logits",
    "scores",
    "TimeBudget",
]


@dataclass(frozen=True)
class TrainingRecipe:
    """How a model is optimised.

    Attributes:
        name: Short name for tables and legends.
        learning_rate: Constant rate, or the peak of the warmup + cosine schedule.
        weight_decay: AdamW's decoupled weight decay.
        batch_size: Images per step.
        schedule: ``"constant"`` or ``"warmup_cosine"`` (linear warmup from 0, then a
            cosine decay to 0).
        warmup_fraction: Share of all steps spent warming up.
        label_smoothing: Probability mass spread evenly over all classes in the target.
        no_decay: Substrings of variable names kept out of weight decay.
    """

    name: str
    learning_rate: float
    weight_decay: float
    batch_size: int
    schedule: str = "constant"
    warmup_fraction: float = 0.0
    label_smoothing: float = 0.0
    no_decay: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "warmup_cosine"):
            raise ValueError(f"schedule must be 'constant' or 'warmup_cosine'; got "
                             f"{self.schedule!r}.")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1); got {self.warmup_fraction}.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1); got {self.label_smoothing}.")


#: keras-io: AdamW(learning_rate=1e-3, weight_decay=1e-4), batch 256, constant rate.
SEED_RECIPE = TrainingRecipe("faithful (keras-io)", learning_rate=1e-3, weight_decay=1e-4,
                     batch_size=256)

#: Warmup + cosine, DeiT-style weight decay (not on biases, norms, embeddings),
#: label smoothing 0.1, and smaller batches (more updates for the same compute).
IMPROVED_RECIPE = TrainingRecipe("improved", learning_rate=1e-3, weight_decay=0.05, batch_size=128,
                         schedule="warmup_cosine", warmup_fraction=0.1, label_smoothing=0.1,
                         no_decay=("bias", "gamma", "beta", "embeddings", "class_token"))


class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy from integer labels and logits, with label smoothing.

    Keras's ``SparseCategoricalCrossentropy`` has no ``label_smoothing``; this one-hot
    encodes the labels and uses ``categorical_crossentropy``'s. With
    ``label_smoothing=0`` it equals the sparse loss.
    """

    def __init__(self, num_classes: int, label_smoothing: float = 0.0,
                 name: str = "smoothed_crossentropy", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")  # (B,)
        one_hot = ops.one_hot(labels, self.num_classes)  # (B, C)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, from_logits=True,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing}


def learning_rate_schedule(recipe: TrainingRecipe, total_steps: int
                           ) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The recipe's learning rate: a float, or keras's ``CosineDecay`` with linear warmup.

    Args:
        recipe: The recipe.
        total_steps: Optimizer steps in the whole run (warmup included).
    """
    if recipe.schedule == "constant":
        return recipe.learning_rate
    if total_steps < 2:
        raise ValueError(f"total_steps must be at least 2 for a schedule; got {total_steps}.")
    warmup = max(1, round(recipe.warmup_fraction * total_steps))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=max(1, total_steps - warmup), alpha=0.0,
        warmup_target=recipe.learning_rate, warmup_steps=warmup)


def compile_recipe(model: keras.Model, recipe: TrainingRecipe, num_classes: int,
                   total_steps: int | None, accumulate: int = 1) -> None:
    """Compile ``model`` with the recipe's optimizer, loss and the seed's metrics.

    Metrics: accuracy, top-5 accuracy, and the plain cross-entropy (no smoothing), so
    curves of different recipes can be compared.

    Args:
        model: Model returning logits.
        recipe: The recipe.
        num_classes: Number of classes (for label smoothing).
        total_steps: Updates of the whole run, for the schedule. None: the learning rate
            is a plain variable, to be driven by a callback such as :class:`TimeBudget`.
        accumulate: Average the gradients of this many batches before each update
            (keras's ``gradient_accumulation_steps``); 1 updates after every batch.
    """
    if total_steps is None or recipe.schedule == "constant":
        learning_rate: object = recipe.learning_rate
    else:
        learning_rate = learning_rate_schedule(recipe, total_steps)
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate,
                                       weight_decay=recipe.weight_decay,
                                       gradient_accumulation_steps=accumulate if accumulate > 1
                                       else None)
    if recipe.no_decay:
        optimizer.exclude_from_weight_decay(var_names=list(recipe.no_decay))
    if recipe.label_smoothing:
        loss: keras.losses.Loss = SparseSmoothedCrossentropy(num_classes, recipe.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=optimizer, loss=loss, metrics=[
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        keras.metrics.SparseTopKCategoricalAccuracy(min(5, num_classes), name="top-5-accuracy"),
        keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="cross-entropy"),
    ])


def train(model: keras.Model, recipe: TrainingRecipe, x_train: np.ndarray, y_train: np.ndarray,
          x_val: np.ndarray, y_val: np.ndarray, epochs: int, checkpoint: str | Path,
          num_classes: int, callbacks: Sequence[keras.callbacks.Callback] = (),
          verbose: int | str = 2, resume: bool = False, micro_batch: int | None = None
          ) -> dict[str, list[float]]:
    """Compile with ``recipe``, fit, and restore the weights of the best validation epoch.

    Args:
        model: Model returning logits.
        recipe: The recipe.
        x_train: (N, H, W, 3) training images.
        y_train: (N,) integer labels.
        x_val: (M, H, W, 3) validation images.
        y_val: (M,) integer labels.
        epochs: Passes over the training images.
        checkpoint: File for the best weights; must end in ``.weights.h5``.
        num_classes: Number of classes.
        callbacks: More callbacks for ``fit``.
        verbose: Passed to ``fit``.
        resume: Continue an interrupted run of the same model and recipe: load the best
            checkpoint (weights and AdamW's state, which Keras stores with them), skip the
            epochs up to it and go on with the learning-rate schedule from there. False:
            any old checkpoint is deleted and training starts afresh.
        micro_batch: Feed this many images at a time and average the gradients of
            ``recipe.batch_size / micro_batch`` of them per update: the recipe's updates
            with a fraction of the activation memory. None: whole batches.

    Returns:
        The Keras history of the epochs run now: metric name -> one value per epoch
        (``val_*`` for validation), plus ``updates``: the optimiser updates made by the end of
        each epoch, counted from the start of the run (a resumed run includes the earlier
        ones). Read them here: restoring the best checkpoint also restores the optimiser's
        counter to that epoch's.

    Raises:
        ValueError: a bad ``checkpoint`` name, ``epochs`` or ``micro_batch``; ``resume``
            without a usable checkpoint and record, or with a :class:`TimeBudget`.
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.name.endswith(".weights.h5"):
        raise ValueError(f"checkpoint must end in '.weights.h5'; got {checkpoint.name!r}.")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1; got {epochs}.")
    budgeted = any(isinstance(c, TimeBudget) for c in callbacks)
    if resume and budgeted:
        raise ValueError("resume=True cannot be combined with a TimeBudget, whose schedule "
                         "follows the clock; start the budgeted run again instead.")
    fit_batch = recipe.batch_size if micro_batch is None else micro_batch
    if fit_batch < 1 or recipe.batch_size % fit_batch:
        raise ValueError(f"micro_batch must divide the recipe's batch size {recipe.batch_size}; "
                         f"got {micro_batch}.")
    accumulate = recipe.batch_size // fit_batch
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    updates = max(2, epochs * math.ceil(len(x_train) / fit_batch) // accumulate)
    compile_recipe(model, recipe, num_classes, None if budgeted else updates, accumulate)
    done, best_so_far = resume_from(model, checkpoint) if resume else (0, None)
    if not resume:
        checkpoint.unlink(missing_ok=True)  # never restore a file left by an earlier run
        checkpoint_record(checkpoint).unlink(missing_ok=True)
    best = ResumableCheckpoint(str(checkpoint), monitor="val_accuracy", save_best_only=True,
                               save_weights_only=True, initial_value_threshold=best_so_far)
    counter = _UpdateCounter()
    history = model.fit(x_train, y_train, batch_size=fit_batch, epochs=epochs,
                        initial_epoch=done, validation_data=(x_val, y_val),
                        callbacks=[best, counter, *callbacks], verbose=verbose)
    if checkpoint.is_file():
        model.load_weights(str(checkpoint))
    record = {name: [float(v) for v in values] for name, values in history.history.items()}
    record["updates"] = [float(n) for n in counter.updates]
    return record


class _UpdateCounter(keras.callbacks.Callback):
    """Reads the optimiser's update counter at the end of every epoch (``updates``)."""

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[int] = []

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.updates.append(int(ops.convert_to_numpy(self.model.optimizer.iterations)))


def predict_logits(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits in inference mode, batch by batch (safe to call inside ``fit`` callbacks).

    Args:
        model: Model returning logits.
        images: (N, H, W, 3) images.
        batch_size: Images per forward pass.

    Returns:
        (N, num_classes) logits.
    """
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(images[start:start + batch_size], training=False)  # (b, C)
            out.append(ops.convert_to_numpy(logits))
    return np.concatenate(out)


def scores(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, top-5 accuracy and mean cross-entropy of logits against integer labels.

    Args:
        logits: (N, C) logits.
        labels: (N,) integer labels.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if logits.ndim != 2 or len(logits) != len(labels):
        raise ValueError(f"logits must be (N, C) with N = len(labels) = {len(labels)}; got "
                         f"{logits.shape}.")
    require_nonempty("logits", logits, "(N, C)")
    shifted = logits - logits.max(axis=1, keepdims=True)  # (N, C)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
    k = min(5, logits.shape[1])
    top = np.argsort(-logits, axis=1)[:, :k]  # (N, k)
    return {"accuracy": float((top[:, 0] == labels).mean()),
            "top-5-accuracy": float((top == labels[:, None]).any(axis=1).mean()),
            "cross-entropy": float(-log_probs[np.arange(len(labels)), labels].mean())}


class TimeBudget(keras.callbacks.Callback):
    """Stop training after ``seconds`` of training time, evaluating at regular times.

    The clock runs only while ``fit`` trains (and validates); it pauses while this
    callback evaluates on the test set. With a ``recipe`` whose schedule is
    ``"warmup_cosine"``, the learning rate follows that schedule by elapsed time: the
    warmup ends at ``warmup_fraction`` of the budget and the rate reaches 0 at the end.

    Attributes:
        marks: The training times (seconds) at which to evaluate.
        records: One dict per mark: ``mark``, ``seconds`` (when it was evaluated: at the
            end of the first step past the mark), ``epochs`` (fractional), ``steps``,
            ``accuracy``, ``top-5-accuracy``, ``cross-entropy``. When one step passes
            several marks, they share one evaluation.
    """

    def __init__(self, seconds: float, x_test: np.ndarray, y_test: np.ndarray,
                 evaluations: int = 10, recipe: TrainingRecipe | None = None,
                 steps_per_epoch: int | None = None, batch_size: int = 256) -> None:
        super().__init__()
        if seconds <= 0:
            raise ValueError(f"seconds must be positive; got {seconds}.")
        self.seconds = seconds
        self.x_test, self.y_test = x_test, y_test
        self.marks = [seconds * (i + 1) / evaluations for i in range(evaluations)]
        self.recipe = recipe
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.schedule = (learning_rate_schedule(recipe, 10_000)
                         if recipe is not None and recipe.schedule != "constant" else None)
        self.records: list[dict[str, float]] = []
        self._start = 0.0
        self._paused = 0.0
        self._steps = 0

    def elapsed(self) -> float:
        """Seconds of training so far (evaluation excluded)."""
        return time.perf_counter() - self._start - self._paused

    def _set_learning_rate(self) -> None:
        if self.schedule is not None:
            step = min(10_000, int(10_000 * self.elapsed() / self.seconds))
            self.model.optimizer.learning_rate = float(self.schedule(step))

    def _evaluate(self, marks: int) -> None:
        """Evaluate once and record it for the next ``marks`` time marks (all passed)."""
        paused = time.perf_counter()
        seconds = self.elapsed()
        logits = predict_logits(self.model, self.x_test, self.batch_size)
        record = {"seconds": seconds, "steps": float(self._steps),
                  "epochs": self._steps / self.steps_per_epoch if self.steps_per_epoch else
                  float("nan"), **scores(logits, self.y_test)}
        for _ in range(marks):
            self.records.append({"mark": self.marks[len(self.records)], **record})
        self._paused += time.perf_counter() - paused

    def on_train_begin(self, logs=None) -> None:
        self._start, self._paused, self._steps = time.perf_counter(), 0.0, 0
        self.records = []
        self._set_learning_rate()

    def on_train_batch_begin(self, batch, logs=None) -> None:
        self._set_learning_rate()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._steps += 1
        passed = sum(mark <= self.elapsed() for mark in self.marks)
        if passed > len(self.records):
            self._evaluate(passed - len(self.records))
        if self.elapsed() >= self.seconds:
            self.model.stop_training = True

    def on_train_end(self, logs=None) -> None:
        if len(self.records) < len(self.marks):  # ran out of epochs before the budget
            self._evaluate(len(self.marks) - len(self.records))
