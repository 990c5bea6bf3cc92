"""The environment variables through which the course finds local data.

Nothing is read at import time: every function looks at ``os.environ`` when called,
so a notebook or test can change a variable and see the effect at once.

| variable | meaning |
|---|---|
| ``VIT_NOTEBOOKS_WEIGHTS`` | folder with ``vit_tiny_patch16_224.safetensors`` (offline stand-in) |
| ``VIT_NOTEBOOKS_DATA`` | folder holding ``cifar10_test.npz`` for offline training and probes |
| ``VIT_NOTEBOOKS_OFFLINE`` | ``1`` forces offline mode without probing the network |
| ``VIT_NOTEBOOKS_SMOKE`` | ``1`` shrinks epochs and data so CI runs every cell quickly |
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "WEIGHTS_ENV",
    "DATA_ENV",
    "OFFLINE_ENV",
    "SMOKE_ENV",
    "STAND_IN_FILENAME",
    "flag",
    "weights_dir",
    "data_dir",
    "stand_in_checkpoint",
    "smoke",
]

WEIGHTS_ENV = "VIT_NOTEBOOKS_WEIGHTS"
DATA_ENV = "VIT_NOTEBOOKS_DATA"
OFFLINE_ENV = "VIT_NOTEBOOKS_OFFLINE"
SMOKE_ENV = "VIT_NOTEBOOKS_SMOKE"

#: File name of the real ImageNet ViT-Tiny/16 checkpoint (timm layout) used offline.
STAND_IN_FILENAME = "vit_tiny_patch16_224.safetensors"

_TRUE = {"1", "true", "yes", "on"}


def flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to a true value (1/true/yes/on)."""
    return os.environ.get(name, "").strip().lower() in _TRUE


def _folder(variable: str) -> Path | None:
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"{variable}={value!r} is not a folder. Point it at the folder that holds the "
            f"course files (e.g. ../shared/weights) or unset it."
        )
    return path


def weights_dir() -> Path | None:
    """The folder named by ``VIT_NOTEBOOKS_WEIGHTS``, or None when the variable is unset.

    Raises:
        FileNotFoundError: the variable is set but names no folder.
    """
    return _folder(WEIGHTS_ENV)


def data_dir() -> Path | None:
    """The folder named by ``VIT_NOTEBOOKS_DATA``, or None when the variable is unset.

    Raises:
        FileNotFoundError: the variable is set but names no folder.
    """
    return _folder(DATA_ENV)


def stand_in_checkpoint() -> Path | None:
    """Path of the offline stand-in checkpoint, or None when there is none to use."""
    folder = weights_dir()
    if folder is None:
        return None
    path = folder / STAND_IN_FILENAME
    return path if path.is_file() else None


def smoke() -> bool:
    """Whether ``VIT_NOTEBOOKS_SMOKE`` asks for the short CI-sized runs."""
    return flag(SMOKE_ENV)
