"""Keras 3 on the torch backend: the one Keras quirk the course must handle first.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, and Google Colab imports it with
TensorFlow. Every module of :mod:`helpers.keras` calls :func:`ensure_torch_backend` before it
imports keras, so the backend is set (if unset) in time, or a clear error says how to fix it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["ensure_torch_backend"]


def ensure_torch_backend() -> None:
    """Make sure keras runs (or will run) on the torch backend.

    Sets ``KERAS_BACKEND=torch`` when it is unset and keras is not imported yet.

    Raises:
        RuntimeError: keras was already imported with another backend, or
            ``KERAS_BACKEND`` names another backend.
    """
    if "keras" in sys.modules:
        backend = sys.modules["keras"].backend.backend()
        if backend != "torch":
            raise RuntimeError(
                f"keras was already imported with the {backend!r} backend; this course needs "
                "'torch'. Restart the kernel and run the setup cell (or set "
                "os.environ['KERAS_BACKEND'] = 'torch') before anything imports keras.")
        return
    os.environ.setdefault("KERAS_BACKEND", "torch")
    if os.environ["KERAS_BACKEND"] != "torch":
        raise RuntimeError(
            f"KERAS_BACKEND={os.environ['KERAS_BACKEND']!r}, but this course needs 'torch'. "
            "Set os.environ['KERAS_BACKEND'] = 'torch' before importing keras.")
