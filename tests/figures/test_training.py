"""Notebook 09's figures: accuracy against minutes (offsets added) and loss per step for each
method; the schedule with its warm-up marked; malformed input refused."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers.figures.training import accuracy_time_figure, schedule_figure
from helpers.finetune.schedules import warmup_cosine

RUNS = {
    "head only": [{"step": 5, "seconds": 30.0, "loss": 1.2, "accuracy": 0.6},
                  {"step": 10, "seconds": 60.0, "loss": 1.0, "accuracy": 0.7}],
    "linear probe": [{"step": 0, "seconds": 0.0, "loss": None, "accuracy": 0.8}],
}


def test_accuracy_against_minutes_with_offsets():
    fig = accuracy_time_figure(RUNS, offsets={"linear probe": 90.0}, title="t")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    left, right = fig.axes
    lines = {line.get_label(): line for line in left.get_lines()}
    assert np.allclose(lines["head only"].get_xdata(), [0.5, 1.0])
    assert np.allclose(lines["head only"].get_ydata(), [60, 70])
    assert np.allclose(lines["linear probe"].get_xdata(), [1.5])     # the feature pass counted
    assert [line.get_label() for line in right.get_lines()] == ["head only"]   # no loss: no line
    assert fig._suptitle.get_text() == "t"
    plt.close("all")
    with pytest.raises(ValueError, match="at least one"):
        accuracy_time_figure({})


def test_schedule_figure():
    factors = [warmup_cosine(s, 30, 3) for s in range(30)]
    fig = schedule_figure(factors, 3, title="warm-up + cosine")
    ax = fig.axes[0]
    assert np.allclose(ax.get_lines()[0].get_ydata(), factors)
    assert ax.get_lines()[1].get_xdata()[0] == 2.5                    # end of the warm-up
    with pytest.raises(ValueError, match="non-empty"):
        schedule_figure([], 0)
