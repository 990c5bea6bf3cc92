"""helpers.figures.vit.attention_distance_figure: a dot per layer and head, and the uniform line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from helpers.figures.vit import attention_distance_figure


def test_one_dot_per_layer_and_head_and_the_uniform_line():
    distances = torch.arange(12.0).reshape(4, 3) * 10  # (L, heads)
    fig = attention_distance_figure(distances, uniform=116.0, image_size=224, title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.collections) == 3  # one scatter per head
    for head, collection in enumerate(ax.collections):
        offsets = np.asarray(collection.get_offsets())
        np.testing.assert_array_equal(offsets[:, 0], [0, 1, 2, 3])  # layers from 0
        np.testing.assert_array_equal(offsets[:, 1], distances[:, head].numpy())
    assert [tuple(line.get_ydata()) for line in ax.lines] == [(116.0, 116.0)]
    assert ax.get_ylim()[1] == pytest.approx(224 * 1.05)
    assert ax.get_title() == "t"


def test_bad_shape():
    with pytest.raises(ValueError, match=r"\(L, heads\)"):
        attention_distance_figure(np.zeros(5))
