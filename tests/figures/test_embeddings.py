"""helpers.figures.embeddings: figures have the promised layout and reject mismatched input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from helpers.figures.embeddings import retrieval_rows, similarity_heatmap

IMAGE = Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8))


def test_similarity_heatmap_labels_and_annotates():
    sim = torch.tensor([[1.0, 0.2, -0.1], [0.2, 1.0, 0.5]])
    fig = similarity_heatmap(sim, ["a", "b"], ["x", "y", "z"], title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        ["1.00", "0.20", "-0.10", "0.20", "1.00", "0.50"])
    assert ax.get_title() == "t"
    assert len(similarity_heatmap(sim.numpy(), ["a", "b"], ["x", "y", "z"],
                                  annotate=False).axes[0].texts) == 0


def test_similarity_heatmap_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        similarity_heatmap(np.zeros((2, 3)), ["a", "b"])


def test_retrieval_rows_layout_and_titles():
    gallery = [IMAGE] * 5
    indices = torch.tensor([[4, 2], [0, 1], [3, 3]])
    scores = torch.tensor([[0.9, 0.8], [0.7, 0.6], [0.5, 0.4]])
    fig = retrieval_rows([IMAGE] * 3, gallery, indices, scores, query_titles=["p", "q", "r"],
                         gallery_titles=["g0", "g1", "g2", "g3", "g4"])
    assert len(fig.axes) == 3 * 3
    assert fig.axes[0].get_title() == "p"
    assert fig.axes[1].get_title() == "g4 · 0.90" and fig.axes[2].get_title() == "g2 · 0.80"
    plain = retrieval_rows([IMAGE], gallery, [[1]], [[0.5]])
    assert plain.axes[0].get_title() == "query 0" and plain.axes[1].get_title() == "0.50"


def test_retrieval_rows_rejects_bad_indices():
    with pytest.raises(ValueError, match="shape"):
        retrieval_rows([IMAGE] * 2, [IMAGE], [[0]], [[0.5]])
    with pytest.raises(ValueError, match="index into gallery"):
        retrieval_rows([IMAGE], [IMAGE] * 2, [[2]], [[0.5]])
