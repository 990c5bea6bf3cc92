"""helpers.finetune.schedules: the warm-up + cosine factor at chosen steps, and its LambdaLR."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.finetune.schedules import (
    make_scheduler,
    time_schedule,
    warmup_cosine,
    warmup_steps_for,
)


def test_warmup_climbs_linearly_to_one():
    # 10 warm-up steps: (s + 1) / 10, so the first step already moves and step 9 reaches 1
    assert [warmup_cosine(s, 100, 10) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]


def test_cosine_falls_from_one_towards_the_floor_after_the_last_step():
    total, warm = 110, 10                            # 100 steps after the warm-up
    assert warmup_cosine(warm, total, warm) == 1.0
    middle = warm + 50                               # half-way through the decay: cos(pi/2)
    assert warmup_cosine(middle, total, warm) == pytest.approx(0.5, abs=1e-12)
    last = 0.5 * (1 + math.cos(math.pi * 99 / 100))  # the last step still moves a little
    assert warmup_cosine(total - 1, total, warm) == pytest.approx(last, abs=1e-12) and last > 0
    assert warmup_cosine(total, total, warm) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(total, total, warm, floor=0.1) == pytest.approx(0.1)
    quarter = warm + 25
    expected = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.25))
    assert warmup_cosine(quarter, total, warm, floor=0.1) == pytest.approx(expected)


def test_the_factor_never_rises_after_the_warmup():
    values = [warmup_cosine(s, 50, 5) for s in range(50)]
    assert all(a >= b for a, b in zip(values[4:], values[5:], strict=False))
    assert min(values) >= 0.0 and max(values) == 1.0


def test_no_warmup_and_a_single_step():
    assert warmup_cosine(0, 10, 0) == 1.0
    assert warmup_cosine(0, 1, 0) == 1.0              # a one-step run takes it at the peak


@pytest.mark.parametrize(("args", "match"), [
    ((0, 0, 0), "total_steps"), ((0, 10, 10), "warmup_steps"), ((0, 10, -1), "warmup_steps"),
    ((-1, 10, 1), "step"), ((0, 10, 1, 1.5), "floor"),
])
def test_bad_arguments_are_named(args, match):
    with pytest.raises(ValueError, match=match):
        warmup_cosine(*args)


def test_warmup_steps_for_a_share_of_the_run():
    assert warmup_steps_for(100, 0.1) == 10
    assert warmup_steps_for(3, 0.1) == 1                 # at least one step
    assert warmup_steps_for(1, 0.1) == 0                 # a one-step run cannot warm up
    assert warmup_steps_for(100, 0.0) == 0


def test_the_scheduler_gives_every_group_the_same_shape():
    weights = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))]
    optimizer = torch.optim.AdamW([{"params": [weights[0]], "lr": 1e-3},
                                   {"params": [weights[1]], "lr": 1e-2}])
    scheduler = make_scheduler(optimizer, total_steps=20, warmup_steps=4)
    seen = []
    for _ in range(20):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    for step, (low, high) in enumerate(seen):
        factor = warmup_cosine(step, 20, 4)
        assert low == pytest.approx(1e-3 * factor) and high == pytest.approx(1e-2 * factor)
    assert 0 < seen[-1][0] < 1e-5


def test_time_schedule_has_the_same_shape_over_a_budget():
    assert time_schedule(0.0) == pytest.approx(1e-3)          # never exactly 0
    assert time_schedule(0.05) == pytest.approx(0.5)         # half-way through a 10 % warm-up
    assert time_schedule(0.1) == 1.0
    assert time_schedule(0.55) == pytest.approx(0.5)         # half-way through the cosine
    assert time_schedule(1.0) == pytest.approx(0.0, abs=1e-12)
    assert time_schedule(2.0, floor=0.2) == pytest.approx(0.2)   # past the budget: the floor
    with pytest.raises(ValueError, match="warmup"):
        time_schedule(0.5, warmup=1.0)
