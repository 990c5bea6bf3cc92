"""Checks for the exercises that end each notebook, and the one case runner they share.

Each notebook's checks live in a module named for its topic (``classification``,
``huggingface``, ``embeddings``, ``attention``, ``rollout``, ``keras_vit``, ``dino``, ...), beside
the reference solutions (``reference_*``; print one with ``inspect.getsource``). A check never
trusts the answer: it calls it on inputs it makes itself (seeded, several shapes), compares
with an independent reference, and returns a :class:`CheckResult` that prints as one line.

Every failure says the same three things: what was expected, what came, and a hint::

    [FAIL] patchify: images (2, 3, 32, 32), patch 16: expected shape (2, 4, 768), got
    (2, 768, 4). Hint: N patches of C·P·P values each, patches first

In the Korean edition (its setup sets ``VIT_NOTEBOOKS_LANGUAGE=ko``) the same line prints in
Korean, each part looked up in ``messages.ko.json`` (:mod:`helpers.setup.korean`).

A check is a list of :class:`Case` objects and a *judge* handed to :func:`run_check`, which calls
the answer on each case (clones of the inputs, so an answer that edits them in place cannot
spoil the reference), turns an exception or a ``None`` into a failure, and keeps the largest
error. The judge returns the case's error or raises :class:`WrongAnswer`; :func:`tensor_error`
and :func:`require_close` are the two judges most checks are built from.

A *predict, then verify* exercise asks for a number before the notebook computes it; its check
computes the number itself and hands both to :func:`check_prediction`, which fails in the same
shape (``expected 3.98 (within 15 %), got 16. Hint: ...``).
"""

from __future__ import annotations

import math
import os
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["CheckResult", "WrongAnswer", "Case", "fail", "failure", "unanswered", "shape_of",
           "tensor_error", "require_close", "require_equal", "run_check", "check_prediction"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one exercise check.

    Attributes:
        name: The exercise.
        passed: Whether the answer is right.
        max_error: Largest absolute difference from the reference (0.0 for exact answers,
            ``inf`` when the answer could not be compared).
        message: What was checked, or what was expected, what came and a hint.
    """

    name: str
    passed: bool
    max_error: float
    message: str
    #: A failure's (case, expected, got, hint), so the Korean edition can translate each part.
    parts: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        if os.environ.get("VIT_NOTEBOOKS_LANGUAGE") == "ko":  # the Korean edition's setup
            from helpers.setup.korean import check_line

            return check_line(self)
        mark = "PASS" if self.passed else "FAIL"
        error = f" (max error {self.max_error:.2e})" if math.isfinite(self.max_error) else ""
        return f"[{mark}] {self.name}: {self.message}{error}"

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython display
        printer.text(str(self))

    def __bool__(self) -> bool:
        return self.passed


class WrongAnswer(Exception):
    """Raised by a judge: the answer to one case is wrong.

    Args:
        expected: What a right answer looks like (``"shape (2, 4)"``).
        got: What came instead (``"shape (4, 2)"``).
        hint: What to try.
        error: The case's error, when one could be measured.
    """

    def __init__(self, expected: str, got: str, hint: str = "", error: float = math.inf):
        super().__init__(f"expected {expected}, got {got}")
        self.expected, self.got, self.hint, self.error = expected, got, hint, error


def fail(name: str, case: str, expected: str, got: str, hint: str = "",
         error: float = math.inf) -> CheckResult:
    """A failing result in the shape every check uses: case, expected, got, hint."""
    where = f"{case}: " if case else ""
    message = f"{where}expected {expected}, got {got}" + (f". Hint: {hint}" if hint else "")
    return CheckResult(name, False, float(error), message, (case, expected, got, hint))


def failure(name: str, err: BaseException) -> CheckResult:
    """A failing result for an answer that raised ``err``, naming the error and its line."""
    where = traceback.extract_tb(err.__traceback__)[-1]
    return fail(name, "", "your function to return an answer",
                f"{type(err).__name__}: {err} (your function raised it, line {where.lineno})",
                "read the error, fix that line, then run the check again")


def unanswered(name: str) -> CheckResult:
    """A failing result for an exercise whose function still returns None."""
    return fail(name, "", "an answer", "None (your function returned None)",
                "replace the ... with your code")


def shape_of(value: object) -> object:
    """A tensor's shape as a tuple, or the type name of anything else (for messages)."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def tensor_error(got: object, want: torch.Tensor, hint: str = "") -> float:
    """The largest absolute difference between ``got`` and ``want``, in float64.

    Raises:
        WrongAnswer: ``got`` is not a tensor of ``want``'s shape (with ``hint``).
    """
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        raise WrongAnswer(f"a tensor of shape {tuple(want.shape)}", f"{shape_of(got)}", hint)
    return float((got.detach().double() - want.detach().double()).abs().max())


def require_close(error: float, tolerance: float, hint: str,
                  expected: str = "the reference's values") -> float:
    """``error`` if it is within ``tolerance``.

    Raises:
        WrongAnswer: "wrong values", with ``hint``.
    """
    if not error <= tolerance:  # also catches NaN
        raise WrongAnswer(expected, "wrong values", hint, error)
    return error


def require_equal(got: Any, want: int, hint: str) -> float:
    """0.0 if ``got`` equals the exact count ``want``.

    Raises:
        WrongAnswer: with ``hint``; the error is the distance for a number, else infinite.
    """
    if got != want:
        error = abs(want - got) if isinstance(got, int | float) else math.inf
        raise WrongAnswer(str(want), repr(got), hint, error)
    return 0.0


@dataclass(frozen=True)
class Case:
    """One input for an answer.

    Attributes:
        label: How the case is named in messages (``"images (2, 3, 32, 32), patch 16"``).
        args: The answer's arguments (tensors and arrays are copied before each call).
        want: Anything the judge compares with (usually the reference answer).
    """

    label: str
    args: tuple
    want: Any = field(default=None, compare=False)


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, list | tuple):
        return type(value)(_copy(item) for item in value)
    copy = getattr(value, "copy", None)  # numpy arrays
    return copy() if callable(copy) and hasattr(value, "shape") else value


def run_check(name: str, answer: Callable[..., Any], cases: Iterable[Case],
              judge: Callable[[Case, Any], float], passed: str) -> CheckResult:
    """Call ``answer`` on every case and judge each result; stop at the first wrong one.

    Args:
        name: The exercise, as printed.
        answer: The student's function.
        cases: The inputs (a generator is fine: cases can be made lazily).
        judge: ``judge(case, result) -> error``: the case's error (0 for exact answers), or
            :class:`WrongAnswer` for a wrong one.
        passed: The message of a passing result.

    Returns:
        The :class:`CheckResult`: passing with the largest error, or failing with the first
        wrong case's expected / got / hint.
    """
    worst = 0.0
    for case in cases:
        try:
            result = answer(*[_copy(arg) for arg in case.args])
        except Exception as err:  # noqa: BLE001 - any error in the answer is a fail
            return failure(name, err)
        if result is None:
            return unanswered(name)
        try:
            worst = max(worst, float(judge(case, result)))
        except WrongAnswer as wrong:
            return fail(name, case.label, wrong.expected, wrong.got, wrong.hint, wrong.error)
    return CheckResult(name, True, worst, passed)


def _number(value: float) -> str:
    """A number for a message: whole numbers with thousands separators, others to 4 digits."""
    if math.isfinite(value) and float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.4g}"


def check_prediction(name: str, prediction: Any, truth: float, tolerance: float, hint: str, *,
                     relative: bool = True, what: str = "") -> CheckResult:
    """Judge a predicted number against the one the check computed (predict, then verify).

    Args:
        name: The exercise, as printed.
        prediction: The student's number (``...`` or ``None`` while unanswered).
        truth: The value the check computed.
        tolerance: Allowed difference: a share of ``truth`` when ``relative``, else absolute.
        hint: What to think about when the prediction is off.
        relative: Whether ``tolerance`` is relative to ``truth``.
        what: The quantity, as it is named in the messages (``"the cost ratio"``).

    Returns:
        The :class:`CheckResult`: passing when ``|prediction - truth|`` is within tolerance.
    """
    if prediction is Ellipsis or prediction is None:
        return fail(name, "", "a number", f"{prediction!r} (no prediction yet)",
                    "replace the ... with your prediction before you run the cell")
    allowed = tolerance * abs(truth) if relative else tolerance
    band = f"within {tolerance:.0%}" if relative else f"± {tolerance:g}"
    band = band if tolerance else "exactly"
    label = what or "the measured value"
    cases = [Case(label, (), truth)]

    def judge(case: Case, got: Any) -> float:
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise WrongAnswer("a number", repr(got)[:60], "write your prediction as a number, "
                              "e.g. 4 or 0.25") from None
        error = abs(value - case.want)
        if not error <= allowed:  # also catches NaN
            raise WrongAnswer(f"{_number(case.want)} ({band})", _number(value), hint, error)
        return error

    try:
        shown = _number(float(prediction))
    except (TypeError, ValueError):
        shown = repr(prediction)[:60]
    return run_check(name, lambda: prediction, cases, judge,
                     f"your {shown} is {band}{' of' if tolerance else ''} {label}, "
                     f"computed: {_number(truth)}")
