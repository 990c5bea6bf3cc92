"""Checks for the exercises that end each notebook.

Each check takes a student's answer (usually a function), runs it on inputs it makes
itself, compares with a reference solution, and returns a :class:`CheckResult` that
prints as one line: pass or fail, and the largest error seen.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import torch

__all__ = ["CheckResult", "failure", "unanswered", "shape_of", "wrong_shape", "max_error"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one exercise check.

    Attributes:
        name: The exercise.
        passed: Whether the answer is right.
        max_error: Largest absolute difference from the reference (0.0 for exact answers).
        message: What went wrong, or a short confirmation.
    """

    name: str
    passed: bool
    max_error: float
    message: str

    def __str__(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"[{mark}] {self.name}: {self.message} (max error {self.max_error:.2e})"

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython display
        printer.text(str(self))

    def __bool__(self) -> bool:
        return self.passed


def failure(name: str, err: BaseException) -> CheckResult:
    """A failing result for an answer that raised ``err``, naming the error and its line."""
    where = traceback.extract_tb(err.__traceback__)[-1]
    return CheckResult(name, False, float("inf"),
                       f"your function raised {type(err).__name__}: {err} (line {where.lineno})")


def unanswered(name: str) -> CheckResult:
    """A failing result for an exercise whose function still returns None."""
    return CheckResult(name, False, float("inf"),
                       "your function returned None: replace the ... with your code")


def shape_of(value: object) -> object:
    """A tensor's shape as a tuple, or the type name of anything else (for messages)."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def wrong_shape(name: str, got: object, want: tuple[int, ...], case: str) -> CheckResult | None:
    """A failing result when ``got`` is not a tensor of shape ``want``; None when it is."""
    if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(want):
        return None
    return CheckResult(name, False, float("inf"),
                       f"{case}: expected a tensor of shape {tuple(want)}, got {shape_of(got)}")


def max_error(name: str, got: object, want: torch.Tensor, case: str) -> float | CheckResult:
    """The largest absolute difference from ``want``, or a failing result for a wrong type or
    shape."""
    wrong = wrong_shape(name, got, tuple(want.shape), case)
    if wrong is not None:
        return wrong
    return float((got.double() - want.double()).abs().max())
