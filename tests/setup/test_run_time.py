"""helpers.setup.run_time and helpers.keras.estimate: a measured batch, extrapolated, one line."""

from __future__ import annotations

import time

import numpy as np
import pytest

from helpers.setup import run_time
from helpers.setup.run_time import (
    Estimate,
    Part,
    announce,
    format_seconds,
    measure,
    time_call,
)


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0 ms"), (0.035, "35 ms"), (2.74, "2.7 s"), (40.2, "40 s"), (408, "6.8 min"),
    (7200, "2.0 h"),
])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_format_seconds_rejects_nonsense(bad):
    with pytest.raises(ValueError, match="non-negative"):
        format_seconds(bad)


class FakeClock:
    """perf_counter that advances by a fixed step per call of the timed function."""

    def __init__(self, steps):
        self.now, self.steps = 0.0, list(steps)

    def perf_counter(self):
        return self.now

    def work(self):
        self.now += self.steps.pop(0)


def test_time_call_keeps_the_fastest_call(monkeypatch):
    clock = FakeClock([3.0, 1.0, 2.0])
    monkeypatch.setattr(run_time.time, "perf_counter", clock.perf_counter)
    assert time_call(clock.work, repeat=3) == 1.0
    assert clock.steps == []                                  # called exactly three times
    with pytest.raises(ValueError, match="at least 1"):
        time_call(clock.work, repeat=0)


def test_measure_extrapolates_per_item(monkeypatch):
    clock = FakeClock([2.0])                                  # a batch of 8 takes 2 s
    monkeypatch.setattr(run_time.time, "perf_counter", clock.perf_counter)
    estimate = measure(clock.work, batch=8, total=1500)
    assert estimate.parts == (Part(1500, 0.25, "image"),)
    assert estimate.seconds == pytest.approx(375.0)
    assert str(estimate) == ("about 6.2 min on this machine (1,500 images at 250 ms per image; "
                             "measured now)")


def test_measure_rejects_an_empty_batch():
    with pytest.raises(ValueError, match="batch must be >= 1"):
        measure(lambda: None, batch=0, total=10)
    with pytest.raises(ValueError, match="total >= 0"):
        measure(lambda: None, batch=1, total=-1)


def test_estimates_add_their_parts():
    train = Estimate((Part(2700, 0.05, "training image"),))
    val = Estimate((Part(300, 0.01, "validation image"),))
    both = train + val
    assert both.seconds == pytest.approx(2700 * 0.05 + 300 * 0.01)
    assert str(both) == ("about 2.3 min on this machine (2,700 training images at 50 ms per "
                         "training image + 300 validation images at 10 ms per validation image; "
                         "measured now)")
    assert str(Part(1, 2.0)) == "1 image at 2.0 s per image"
    with pytest.raises(TypeError):
        train + 1.0  # noqa: B018


def test_announce_prints_a_real_measurement(capsys):
    estimate = announce(lambda: time.sleep(0.02), batch=2, total=10, unit="step")
    line = capsys.readouterr().out.strip()
    assert line == str(estimate)
    assert line.startswith("about ") and line.endswith("(10 steps at "
                                                       f"{format_seconds(estimate.parts[0].seconds_each)}"
                                                       " per step; measured now)")
    assert 0.01 <= estimate.parts[0].seconds_each < 0.5        # 20 ms / 2 items, not a constant


@pytest.mark.api
def test_training_estimate_times_a_gradient_and_leaves_the_weights_alone():
    from helpers.keras.estimate import keras, training_estimate  # sets the torch backend first

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="gelu"),
                              keras.layers.Dropout(0.5), keras.layers.Dense(4)])
    x = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    y = np.arange(32) % 4
    before = [np.array(w) for w in model.get_weights()]
    backward_passes = []
    model.trainable_weights[0].value.register_hook(lambda grad: backward_passes.append(grad))

    estimate = training_estimate(model, x, y, batch_size=8, epochs=3, train_images=100,
                                 eval_images=50)

    assert len(backward_passes) == 2                          # two gradients were computed ...
    assert all(w.value.grad is None for w in model.trainable_weights)   # ... and cleared
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)               # nothing was applied
    assert [(p.count, p.unit) for p in estimate.parts] == [(300, "training image"),
                                                             (50, "evaluated image")]
    assert all(p.seconds_each > 0 for p in estimate.parts)
    only_training = training_estimate(model, x, y, batch_size=8, epochs=2, train_images=10)
    assert [(p.count, p.unit) for p in only_training.parts] == [(20, "training image")]
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        training_estimate(model, x, y, batch_size=0, epochs=1, train_images=1)
