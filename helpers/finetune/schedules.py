"""The learning-rate schedule of every fine-tuning run: a linear warm-up, then a cosine decay.

Fine-tuning starts from weights that already work. A large step on the first, still noisy
gradients (the new head is random or barely fitted) can wreck them, so the rate climbs from
almost nothing to its peak over the first few percent of the steps (the warm-up), then follows
half a cosine towards a floor (a share of the peak, 0 by default), reached just after the last
step.

:func:`warmup_cosine` is the factor that multiplies the peak rate at a step; it is what
``torch.optim.lr_scheduler.LambdaLR`` wants, and :func:`make_scheduler` wraps it so every
parameter group (e.g. a head with a larger rate than the blocks) follows the same shape.
"""

from __future__ import annotations

import math

import torch

__all__ = ["warmup_cosine", "warmup_steps_for", "make_scheduler", "time_schedule"]


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, floor: float = 0.0) -> float:
    """The factor (of the peak learning rate) for optimizer step ``step``.

    Step ``s`` (counted from 0) of the warm-up uses ``(s + 1) / warmup_steps``, so the first
    update already moves (a factor of 0 would waste a step) and the last warm-up step reaches 1.
    Afterwards the factor falls along half a cosine from 1 towards ``floor``, which it would
    reach at step ``total_steps``, one step after the last (the last step still moves; as
    PyTorch's ``CosineAnnealingLR`` with ``T_max = total_steps - warmup_steps``).

    Args:
        step: The optimizer step, 0-based.
        total_steps: Steps in the whole run (>= 1).
        warmup_steps: Steps of the linear warm-up (0 for none; < ``total_steps``).
        floor: The factor the cosine ends at, in [0, 1].

    Returns:
        A factor in [``floor``, 1] (in (0, 1] during the warm-up).

    Raises:
        ValueError: ``total_steps`` < 1, ``warmup_steps`` outside [0, total_steps),
            ``floor`` outside [0, 1] or a negative ``step``.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1; got {total_steps}.")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must lie in [0, total_steps = {total_steps}); got "
                         f"{warmup_steps}.")
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must lie in [0, 1]; got {floor}.")
    if step < 0:
        raise ValueError(f"step must be >= 0; got {step}.")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_steps_for(total_steps: int, fraction: float = 0.1) -> int:
    """Warm-up length: ``fraction`` of the run, at least one step where the run has two."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must lie in [0, 1); got {fraction}.")
    if total_steps < 2 or fraction == 0.0:
        return 0
    return min(total_steps - 1, max(1, round(fraction * total_steps)))


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                   floor: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` that applies :func:`warmup_cosine` to every parameter group.

    Call ``scheduler.step()`` after each ``optimizer.step()``. Its state (``state_dict()``)
    is one step counter, saved with a checkpoint so a resumed run continues the same curve.
    """
    warmup_cosine(0, total_steps, warmup_steps, floor)  # validate once, here, not mid-run

    def factor(step: int) -> float:
        return warmup_cosine(min(step, total_steps - 1), total_steps, warmup_steps, floor)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def time_schedule(fraction: float, warmup: float = 0.1, floor: float = 0.0) -> float:
    """The same shape over a share of a time budget: linear warm-up over the first ``warmup``
    of it, then half a cosine to ``floor`` when the time is up.

    Args:
        fraction: Share of the budget used so far (clipped to [0, 1]).
        warmup: Share of the budget spent warming up, in [0, 1).
        floor: The factor at the end.
    """
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"warmup must lie in [0, 1); got {warmup}.")
    fraction = min(max(fraction, 0.0), 1.0)
    if fraction < warmup:
        return max(fraction / warmup, 1e-3)  # never exactly 0: the first step still moves
    progress = (fraction - warmup) / (1.0 - warmup)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
