"""What the rollout and DINO explorers share through helpers.explorers.picker: an upload becomes a
photo shown at once, a bad upload is reported in the status line, unknown photos are named."""

from __future__ import annotations

import pytest
from uploads import png_bytes, upload_value

from helpers.explorers.dino import DinoExplorer
from helpers.explorers.rollout import RolloutExplorer

#: kind -> (class, constructor options, its per-photo accessor, a control move that redraws)
EXPLORERS = {
    "dino": (DinoExplorer, {"size": 2.0, "dpi": 40}, "layers", {"head": 1}),
    "rollout": (RolloutExplorer, {"top_k": 2, "size": 1.5, "dpi": 40}, "inputs", {"discard": 50}),
}


@pytest.fixture(params=sorted(EXPLORERS))
def kind(request) -> str:
    return request.param


@pytest.fixture()
def explorer(kind, tiny_random_timm, photos):
    cls, options, _, _ = EXPLORERS[kind]
    return cls(tiny_random_timm, {"chelsea": photos["chelsea"], "coffee": photos["coffee"]},
               **options)


def test_upload_adds_and_shows_the_photo(explorer, photos):
    content = png_bytes(photos["rocket"])
    explorer.upload.value = upload_value("rocket.png", content)
    assert explorer.picker.value == "upload: rocket.png"
    assert explorer.picker.options[-1] == "upload: rocket.png"
    assert explorer.computed == 2
    assert explorer.explorer.status.value.startswith("upload: rocket.png ·")
    explorer.upload.value = upload_value("rocket.png", content)
    assert explorer.picker.value == "upload: rocket.png (2)"


def test_a_bad_upload_is_reported_in_the_status(kind, explorer):
    explorer.upload.value = upload_value("notes.png", b"hello, not a picture")
    status = explorer.explorer.status.value
    assert status.startswith("could not use notes.png:") and "not an image" in status
    assert explorer.picker.value == "chelsea" and explorer.computed == 1
    explorer.set(**EXPLORERS[kind][3])
    assert not explorer.explorer.status.value.startswith("could not")


def test_no_photos_and_unknown_photos_are_refused(kind, tiny_random_timm, explorer):
    cls, _, accessor, _ = EXPLORERS[kind]
    with pytest.raises(ValueError, match="at least one photo"):
        cls(tiny_random_timm, {})
    with pytest.raises(ValueError, match="unknown photo 'dog'"):
        getattr(explorer, accessor)("dog")
