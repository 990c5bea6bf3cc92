"""What every explorer shares through helpers.explorers.base and .picker: one API (set, status,
figure, last_draw_s, add_photo, inputs), an upload becomes a photo shown at once, a bad upload is
reported in the status line, unknown photos are named."""

from __future__ import annotations

import pytest
from uploads import png_bytes, send_upload

from helpers.explorers.attention import AttentionExplorer
from helpers.explorers.dino import DinoExplorer
from helpers.explorers.faithfulness import FaithfulnessExplorer
from helpers.explorers.rollout import RolloutExplorer

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api

#: kind -> (class, constructor options, its per-photo inputs' class, a control move that redraws)
EXPLORERS = {
    "attention": (AttentionExplorer, {"size": 2.0}, "AttentionInputs", {"head": 1}),
    "dino": (DinoExplorer, {"size": 2.0, "dpi": 40}, "DinoInputs", {"head": 1}),
    "rollout": (RolloutExplorer, {"top_k": 2, "size": 1.5, "dpi": 40}, "RolloutInputs",
                {"discard": 50}),
    "faithfulness": (FaithfulnessExplorer, {"steps": 4, "occlusion_window": 112, "size": 1.5,
                                            "dpi": 40}, "FaithfulnessInputs", {"step": 1}),
}


@pytest.fixture(params=sorted(EXPLORERS))
def kind(request) -> str:
    return request.param


@pytest.fixture()
def explorer(kind, tiny_random_timm, photos):
    cls, options, _, _ = EXPLORERS[kind]
    return cls(tiny_random_timm, {"chelsea": photos["chelsea"], "coffee": photos["coffee"]},
               **options)


def test_upload_adds_and_shows_the_photo(kind, explorer, photos):
    content = png_bytes(photos["rocket"])
    redraws = explorer.redraws
    send_upload(explorer.upload, "rocket.png", content)
    assert explorer.redraws == redraws + 1  # one upload path, one redraw
    assert explorer.picker.value == "upload: rocket.png"
    assert explorer.picker.options[-1] == "upload: rocket.png"
    assert explorer.computed == 2
    if kind != "attention":  # whose status starts with the layer, not the photo
        assert explorer.status.startswith("upload: rocket.png ·")
    send_upload(explorer.upload, "rocket.png", content)
    assert explorer.picker.value == "upload: rocket.png (2)"


def test_a_bad_upload_is_reported_in_the_status(kind, explorer):
    send_upload(explorer.upload, "notes.png", b"hello, not a picture")
    status = explorer.status
    assert status.startswith("could not use notes.png:") and "not an image" in status
    assert explorer.picker.value == "chelsea" and explorer.computed == 1
    explorer.set(**EXPLORERS[kind][3])
    assert not explorer.status.startswith("could not")


def test_no_photos_and_unknown_photos_are_refused(kind, tiny_random_timm, explorer):
    cls, _, inputs_class, _ = EXPLORERS[kind]
    with pytest.raises(ValueError, match="at least one photo"):
        cls(tiny_random_timm, {})
    with pytest.raises(ValueError, match="unknown photo 'dog'"):
        explorer.inputs("dog")
    assert type(explorer.inputs("chelsea")).__name__ == inputs_class  # one name per idea


def test_every_explorer_answers_the_same_calls(kind, explorer, photos):
    """The README's promise: set(**controls), .status, .figure, .last_draw_s, add_photo."""
    from matplotlib.figure import Figure

    from helpers.explorers.base import Explorer

    assert isinstance(explorer, Explorer) and isinstance(explorer.figure, Figure)
    redraws = explorer.redraws
    seconds = explorer.set(**EXPLORERS[kind][3])
    assert explorer.redraws == redraws + 1 and seconds == explorer.last_draw_s > 0
    assert isinstance(explorer.status, str) and "drawn in" in explorer.status
    with pytest.raises(ValueError, match="unknown control 'volume'"):
        explorer.set(volume=3)
    label = explorer.add_photo("rocket", photos["rocket"])
    assert label == "rocket" and explorer.picker.value == "rocket" and explorer.computed == 2
    assert explorer.set(image="chelsea") >= 0 and explorer.computed == 2
    with pytest.raises(ValueError, match="unknown photo 'dog'"):
        explorer.set(image="dog")
