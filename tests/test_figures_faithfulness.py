"""Notebook 08's figures: each returns a Figure with one panel per mode or metric, keeps one colour
per method (the random map grey and dashed), and refuses malformed input."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from helpers.figures.faithfulness import (
    ablation_figure,
    baseline_figure,
    cascade_figure,
    curves_figure,
    method_colours,
    results_figure,
)

METHODS = ["random", "rollout (mean)", "occlusion"]


def test_colours_are_stable_and_random_is_grey():
    colours = method_colours(METHODS)
    assert colours["random"] == "0.45" and colours["rollout (mean)"] != colours["occlusion"]
    assert method_colours(["occlusion", "random", "rollout (mean)"])["random"] == "0.45"


def test_curves_and_baselines():
    curves = {mode: {m: torch.rand(5, 8) for m in METHODS} for mode in ("deletion", "insertion")}
    fig = curves_figure(curves, title="t")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    dashed = [line for line in fig.axes[0].lines if line.get_label() == "random"]
    assert dashed and dashed[0].get_linestyle() == "--"
    assert len(fig.axes[0].lines) == len(METHODS)
    aucs = {mode: {"blur": dict.fromkeys(METHODS, 0.3), "mean fill": dict.fromkeys(METHODS, 0.4)}
            for mode in ("deletion", "insertion")}
    assert len(baseline_figure(aucs).axes) == 2
    with pytest.raises(ValueError, match="exactly two baselines"):
        baseline_figure({"deletion": {"blur": {}}})
    with pytest.raises(ValueError, match="at least one method"):
        curves_figure({"deletion": {}})
    assert not plt.get_fignums()  # no pyplot figure was opened


def test_results_cascade_and_ablation():
    rows = [{"method": m, "deletion": (0.3, 0.2, 0.4), "insertion": None} for m in METHODS]
    fig = results_figure(rows, [("deletion", "deletion AUC"), ("insertion", "insertion AUC")])
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 0  # nothing measured: nothing drawn
    fig = cascade_figure(["head", "block 1", "block 0"], {m: torch.rand(3, 4) for m in METHODS})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["head", "+ block 1",
                                                                      "+ block 0"]
    with pytest.raises(ValueError, match=r"must have shape \(3, B\)"):
        cascade_figure(["head", "block 1", "block 0"], {"random": torch.rand(2, 4)})
    fig = ablation_figure([1, 3], {"top-ranked": torch.rand(2, 5),
                                   "random heads": torch.rand(2, 5)})
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="at least one count"):
        ablation_figure([], {})
