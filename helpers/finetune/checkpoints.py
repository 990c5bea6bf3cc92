"""Training checkpoints in safetensors: enough to resume a run exactly where it stopped.

A checkpoint holds the model's weights, the optimizer's state (AdamW's two moment estimates
and step count per parameter), the scheduler's step, the run's step counter and its history so
far. safetensors stores only named tensors plus a dictionary of strings, and loads without
running any code (unlike ``torch.load`` of a pickle), so the optimizer's nested state is
flattened into tensors named ``optimizer.<param index>.<key>`` and everything that is not a
tensor (hyper-parameters, the history) goes into the metadata as JSON.

Random numbers need no saving: the training loop draws each step's batch order, augmentation
and dropout from a seed derived from the step number (:mod:`helpers.finetune.loop`), so a
resumed run draws exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint"]

_FORMAT = "helpers.finetune/1"


class Checkpoint(dict):
    """What :func:`load_checkpoint` returns: ``step``, ``history``, ``extra`` (all plain data)."""


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            name = f"{index}.{key}"
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    groups = [{k: v for k, v in group.items()} for group in state["param_groups"]]
    return tensors, {"scalars": scalars, "param_groups": groups}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]
                         ) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, key = name.removeprefix("optimizer.").split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, step: int, history: list[dict[str, Any]] | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write a resumable checkpoint to ``path`` (a ``.safetensors`` file), atomically.

    Args:
        path: File to write; its folder is created. A half-written file never replaces a
            good one (the data goes to a temporary name first).
        model: The model being trained (every tensor of its ``state_dict``).
        optimizer: Its optimizer.
        scheduler: Its learning-rate scheduler (anything with ``state_dict()``), or None.
        step: Optimizer steps taken so far.
        history: The run's records so far (JSON-serialisable dicts).
        extra: Anything else to keep (JSON-serialisable), e.g. the training configuration.

    Returns:
        The path written.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optimizer_tensors, optimizer_meta = _flatten_optimizer(optimizer.state_dict())
    tensors.update(optimizer_tensors)
    scheduler_state = scheduler.state_dict() if scheduler is not None else None
    if scheduler_state is not None:  # LambdaLR keeps its functions out of its state
        scheduler_state = {k: v for k, v in scheduler_state.items() if not callable(v)
                           and k != "lr_lambdas"}
    metadata = {"format": _FORMAT, "step": str(int(step)),
                "optimizer": json.dumps(optimizer_meta),
                "scheduler": json.dumps(scheduler_state),
                "history": json.dumps(history or []), "extra": json.dumps(extra or {})}
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    partial.replace(path)
    return path


def load_checkpoint(path: str | Path, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None) -> Checkpoint:
    """Restore a checkpoint written by :func:`save_checkpoint` into ``model`` (and optimizer,
    scheduler), in place.

    Returns:
        A :class:`Checkpoint` with ``step``, ``history`` and ``extra``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a checkpoint of this format, or one of another model.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first (resume needs a "
                                "checkpoint written by an earlier run).")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except Exception as err:  # noqa: BLE001 - safetensors raises several error types
        raise ValueError(f"{path}: not a readable safetensors checkpoint ({err}).") from None
    if metadata.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a helpers.finetune checkpoint (format "
                         f"{metadata.get('format')!r}).")
    weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())[:300]
        raise ValueError(f"{path} holds the weights of a different model: {detail}") from None
    if optimizer is not None:
        optimizer_tensors = {k: v for k, v in tensors.items() if k.startswith("optimizer.")}
        optimizer.load_state_dict(_unflatten_optimizer(optimizer_tensors,
                                                       json.loads(metadata["optimizer"])))
    scheduler_state = json.loads(metadata["scheduler"])
    if scheduler is not None and scheduler_state is not None:
        scheduler.load_state_dict({**scheduler.state_dict(), **scheduler_state})
    return Checkpoint(step=int(metadata["step"]), history=json.loads(metadata["history"]),
                      extra=json.loads(metadata["extra"]))
