"""Checks for the exercises that end each notebook.

Each check takes a student's answer (usually a function), runs it on inputs it makes
itself, compares with a reference solution, and returns a :class:`CheckResult` that
prints as one line: pass or fail, and the largest error seen.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

__all__ = ["CheckResult", "failure"]


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
