"""Notebook 08's figures: each returns a Figure with one panel per method, mode or metric, keeps
one colour per method (the random map grey and dashed), draws 95 % bootstrap intervals (NaN
left out), and refuses malformed input."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from helpers.figures.faithfulness import (
    ablation_figure,
    cascade_figure,
    curves_figure,
    mean_and_interval,
    method_colours,
    removal_figure,
    results_figure,
)

METHODS = ["random", "rollout (mean)", "occlusion"]


def test_colours_are_stable_and_random_is_grey():
    colours = method_colours(METHODS)
    assert colours["random"] == "0.45" and colours["rollout (mean)"] != colours["occlusion"]
    assert method_colours(["occlusion", "random", "rollout (mean)"])["random"] == "0.45"


def test_mean_and_interval_is_the_bootstrap_of_the_mean_and_skips_nan():
    from helpers.evaluation.reliability import bootstrap_interval

    values = np.random.default_rng(0).normal(size=(64, 3))
    mean, low, high = mean_and_interval(values)
    assert mean.shape == low.shape == (3,) and (low < mean).all() and (mean < high).all()
    _, want_low, want_high = bootstrap_interval(values[:, 0])  # another resampler, same idea
    assert abs(low[0] - want_low) < 0.05 and abs(high[0] - want_high) < 0.05
    values[:10, 1] = np.nan
    assert np.isfinite(mean_and_interval(values)[0]).all()


def test_curves_as_small_multiples_and_removal_kinds():
    curves = {mode: {m: torch.rand(5, 8) for m in METHODS} for mode in ("deletion", "insertion")}
    fig = curves_figure(curves, title="t", columns=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 4 and not fig.axes[3].axison
    assert [ax.get_title() for ax in fig.axes[:3]] == METHODS
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 4  # + random's two
    aucs = {mode: {kind: dict.fromkeys(METHODS, 0.3) for kind in ("blur", "mean", "tokens")}
            for mode in ("deletion", "insertion")}
    fig = removal_figure(aucs)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == len(METHODS)
    assert [line.get_linestyle() for line in fig.axes[0].lines][0] == "--"  # random
    with pytest.raises(ValueError, match="at least two removal kinds"):
        removal_figure({"deletion": {"blur": {}}})
    with pytest.raises(ValueError, match="at least one method"):
        curves_figure({"deletion": {}})
    assert not plt.get_fignums()  # no pyplot figure was opened


def test_results_cascade_and_ablation():
    rows = [{"method": m, "deletion": (0.3, 0.2, 0.4), "insertion": None} for m in METHODS]
    fig = results_figure(rows, [("deletion", "deletion AUC"), ("insertion", "insertion AUC")])
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 0  # nothing measured: nothing drawn
    fig = cascade_figure(["head", "block 1", "block 0"], {m: torch.rand(3, 4) * 2 - 1.5
                                                          for m in METHODS})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["head", "+ block 1",
                                                                      "+ block 0"]
    assert fig.axes[0].get_ylim() == (-1.05, 1.05)  # ρ = -1 is not clipped
    fig = cascade_figure(["head", "block 0"], {"Grad-CAM": torch.full((2, 4), float("nan"))},
                         cumulative=False)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["head", "block 0"]
    with pytest.raises(ValueError, match=r"must have shape \(3, B\)"):
        cascade_figure(["head", "block 1", "block 0"], {"random": torch.rand(2, 4)})
    fig = ablation_figure([1, 3], {
        panel: {"top-ranked": torch.rand(2, 5), "random heads": torch.rand(2, 5)}
        for panel in ("to zero", "to the mean")})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    with pytest.raises(ValueError, match="at least one count"):
        ablation_figure([], {})
