"""Best-epoch checkpoints that an interrupted Keras training run can resume from.

Keras's ``ModelCheckpoint(save_best_only=True)`` keeps the weights of the best validation
epoch; a Keras weight file also holds the optimizer's variables (its step count, which drives
the learning-rate schedule, and AdamW's moments). :class:`ResumableCheckpoint` adds a small
JSON record beside the weights (epochs done, best value), and :func:`resume_from` loads both,
so ``helpers.keras.training.train(..., resume=True)`` continues where the run stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.keras.backend import ensure_torch_backend

ensure_torch_backend()

import keras  # noqa: E402 - the backend must be chosen first

__all__ = ["checkpoint_record", "ResumableCheckpoint", "resume_from"]


def checkpoint_record(checkpoint: str | Path) -> Path:
    """The JSON file kept beside ``checkpoint`` (``x.weights.h5`` -> ``x.weights.json``)."""
    return Path(checkpoint).with_suffix(".json")


class ResumableCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras's best-only ``ModelCheckpoint`` that also records which epoch it saved.

    Each time the weights are saved, ``x.weights.json`` beside them gets the number of
    epochs completed and the best value of the monitored metric, which is what
    :func:`train` needs to resume an interrupted run.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        best_before = self.best
        super().on_epoch_end(epoch, logs)
        if self.best != best_before:
            record = {"epochs_done": epoch + 1, "monitor": self.monitor,
                      "best": float(self.best)}
            checkpoint_record(self.filepath).write_text(json.dumps(record))


def resume_from(model: keras.Model, checkpoint: Path) -> tuple[int, float]:
    """Load the best checkpoint of an interrupted run; return (epochs done, best metric)."""
    record_path = checkpoint_record(checkpoint)
    if not checkpoint.is_file() or not record_path.is_file():
        raise ValueError(f"resume=True needs {checkpoint} and {record_path.name} from an "
                         "earlier run of this cell; there is none, so run with resume=False.")
    try:
        record = json.loads(record_path.read_text())
        done, best_so_far = int(record["epochs_done"]), float(record["best"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{record_path}: not a checkpoint record ({err}); run with "
                         "resume=False to start afresh.") from None
    # Keras weight files hold the optimizer's variables too (its step count, which drives
    # the schedule, and AdamW's moments); they load only into a built optimizer.
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(str(checkpoint))
    except (ValueError, OSError) as err:
        raise ValueError(f"{checkpoint}: does not fit this model ({str(err)[:200]}); it was "
                         "saved by a different architecture. Run with resume=False.") from None
    return done, best_so_far
