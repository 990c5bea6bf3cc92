"""Shape checks shared by the numeric helpers: a wrong tensor gets a sentence, not a traceback."""

from __future__ import annotations

from typing import Any

__all__ = ["require_nonempty"]


def require_nonempty(name: str, value: Any, expected: str) -> None:
    """Raise a ValueError when ``value`` (a tensor or array) has a dimension of size 0.

    Args:
        name: The argument's name, for the message.
        value: Anything with a ``.shape``.
        expected: The shape the caller documents, e.g. ``"(L, N, N)"``.

    Raises:
        ValueError: naming the argument, the expected shape and the shape it got.
    """
    shape = tuple(value.shape)
    if 0 in shape:
        raise ValueError(f"{name} must have shape {expected} with every size at least 1; "
                         f"got {shape}.")
