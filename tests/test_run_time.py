"""helpers.run_time: a measured batch, extrapolated, printed as one honest line."""

from __future__ import annotations

import time

import pytest

from helpers import run_time
from helpers.run_time import (
    Estimate,
    Part,
    announce,
    format_seconds,
    measure,
    time_call,
    training_estimate,
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


class FakeModel:
    """train_on_batch / predict_on_batch that advance a fake clock and record their batches."""

    def __init__(self, clock, step_seconds, predict_seconds):
        self.clock, self.step_seconds, self.predict_seconds = clock, step_seconds, predict_seconds
        self.trained, self.predicted = [], []

    def train_on_batch(self, x, y):
        self.trained.append((len(x), len(y)))
        self.clock.now += self.step_seconds.pop(0)

    def predict_on_batch(self, x):
        self.predicted.append(len(x))
        self.clock.now += self.predict_seconds


def test_training_estimate_times_one_step_and_one_prediction(monkeypatch):
    clock = FakeClock([])
    monkeypatch.setattr(run_time.time, "perf_counter", clock.perf_counter)
    model = FakeModel(clock, step_seconds=[5.0, 1.6], predict_seconds=0.4)   # first step: warm-up
    x, y = list(range(100)), list(range(100))
    estimate = training_estimate(model, x, y, batch_size=16, epochs=3, train_images=900,
                                 eval_images=3 * 100 + 200)
    assert model.trained == [(16, 16), (16, 16)] and model.predicted == [16]
    (train, evaluate) = estimate.parts
    assert (train.count, train.unit, evaluate.count, evaluate.unit) == (
        2700, "training image", 500, "evaluated image")
    assert train.seconds_each == pytest.approx(0.1)               # the faster, second step
    assert evaluate.seconds_each == pytest.approx(0.025)
    assert estimate.seconds == pytest.approx(270 + 12.5)
    only_training = training_estimate(FakeModel(clock, [1.0, 1.0], 0.0), x, y, batch_size=10,
                                      epochs=2, train_images=50)
    assert [(p.count, p.unit) for p in only_training.parts] == [(100, "training image")]
    assert only_training.seconds == pytest.approx(10.0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        training_estimate(model, x, y, batch_size=0, epochs=1, train_images=1)
