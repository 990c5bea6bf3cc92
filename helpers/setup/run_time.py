"""Honest run-time estimates: time a little of the work on this machine, extrapolate.

A notebook cell that can run for minutes on a CPU first times one batch of its own work
and prints one line, for example::

    about 6.8 min on this machine (1,500 images at 0.27 s per image; measured now)

so a student knows whether to wait or to switch to a GPU. Nothing here is a fixed claim:
every number comes from a measurement taken the moment the line is printed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Part", "Estimate", "format_seconds", "time_call", "measure", "announce"]


def format_seconds(seconds: float) -> str:
    """A duration as a person reads it: ``"35 ms"``, ``"2.7 s"``, ``"40 s"``, ``"6.8 min"``.

    Args:
        seconds: Non-negative duration.

    Returns:
        Milliseconds below 1 s, seconds below 100 s (one decimal below 10 s), minutes
        below 100 min, hours above.
    """
    if seconds < 0 or seconds != seconds:  # negative or NaN
        raise ValueError(f"seconds must be a non-negative number; got {seconds!r}.")
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 100 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Part:
    """One kind of work in an estimate: ``count`` items of ``seconds_each``.

    Attributes:
        count: How many items the cell will process (e.g. images, over all epochs).
        seconds_each: Measured seconds per item.
        unit: What an item is, singular (``"image"``, ``"training image"``).
    """

    count: int
    seconds_each: float
    unit: str = "image"

    @property
    def seconds(self) -> float:
        """Seconds for all ``count`` items."""
        return self.count * self.seconds_each

    def __str__(self) -> str:
        units = self.unit if self.count == 1 else f"{self.unit}s"
        return f"{self.count:,} {units} at {format_seconds(self.seconds_each)} per {self.unit}"


@dataclass(frozen=True)
class Estimate:
    """A measured extrapolation: the sum of one or more :class:`Part`.

    ``str(estimate)`` is the one line a notebook prints; ``a + b`` adds two estimates.
    """

    parts: tuple[Part, ...]

    @property
    def seconds(self) -> float:
        """Estimated seconds for all parts."""
        return sum(part.seconds for part in self.parts)

    def __add__(self, other: Estimate) -> Estimate:
        if not isinstance(other, Estimate):
            return NotImplemented
        return Estimate(self.parts + other.parts)

    def __str__(self) -> str:
        detail = " + ".join(str(part) for part in self.parts)
        return f"about {format_seconds(self.seconds)} on this machine ({detail}; measured now)"


def _synchronize() -> None:
    """Wait for queued GPU work, so a timing covers it (no-op without CUDA)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], repeat: int = 1) -> float:
    """Wall-clock seconds of ``fn()``: the fastest of ``repeat`` calls.

    Args:
        fn: The work to time, with no arguments (wrap it in a ``lambda``).
        repeat: Calls to make; the fastest counts (the others absorb one-off costs).

    Returns:
        Seconds, GPU work included.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1; got {repeat}.")
    best = float("inf")
    for _ in range(repeat):
        _synchronize()
        start = time.perf_counter()
        fn()
        _synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def measure(fn: Callable[[], object], batch: int, total: int, unit: str = "image",
            repeat: int = 1) -> Estimate:
    """Time ``fn`` (which processes ``batch`` items) and extrapolate to ``total`` items.

    Args:
        fn: One batch of the real work, e.g. ``lambda: model(images[:8])``.
        batch: Items that one call of ``fn`` processes.
        total: Items the cell will process.
        unit: What an item is, singular.
        repeat: Calls to make; the fastest counts.

    Returns:
        The estimate; print it or add it to another.
    """
    if batch < 1 or total < 0:
        raise ValueError(f"batch must be >= 1 and total >= 0; got batch={batch}, total={total}.")
    return Estimate((Part(total, time_call(fn, repeat) / batch, unit),))


def announce(fn: Callable[[], object], batch: int, total: int, unit: str = "image",
             repeat: int = 1) -> Estimate:
    """:func:`measure`, then print its one line; returns the estimate."""
    estimate = measure(fn, batch, total, unit, repeat)
    print(estimate)
    return estimate
