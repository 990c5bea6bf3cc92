"""helpers.explorers.picker: photos computed once each, behind a dropdown and an upload button."""

from __future__ import annotations

import pytest
from PIL import Image
from uploads import png_bytes, send_upload, upload_value, upload_value_v7

from helpers.data.images import load_image
from helpers.explorers.picker import PhotoPicker, uploaded_files

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


def _png(color: tuple[int, int, int]) -> bytes:
    return png_bytes(Image.new("RGB", (8, 6), color))


@pytest.fixture
def picker() -> tuple[PhotoPicker, list]:
    seen: list = []

    def compute(image):  # decodes the photo, as the explorers' slow paths do
        seen.append(image)
        load_image(image)
        return ("computed", len(seen))

    red, blue = Image.new("RGB", (4, 4), "red"), Image.new("RGB", (4, 4), "blue")
    return PhotoPicker({"red": red, "blue": blue}, compute), seen


def test_first_photo_at_once_others_on_first_use_then_cached(picker):
    photos, seen = picker
    assert photos.computed == 1 and photos.dropdown.value == "red"
    assert photos.dropdown.options == ("red", "blue")
    assert photos.get("blue") == ("computed", 2)
    assert photos.get("blue") == ("computed", 2) and photos.get("red") == ("computed", 1)
    assert photos.computed == 2 and len(seen) == 2


def test_unknown_photo_and_no_photos_say_what_exists(picker):
    photos, _ = picker
    with pytest.raises(ValueError, match="unknown photo 'green'; the explorer has red, blue"):
        photos.get("green")
    with pytest.raises(ValueError, match="photos must name at least one photo"):
        PhotoPicker({}, lambda image: image)


def test_add_makes_labels_unique_and_selects(picker):
    photos, seen = picker
    assert photos.add("red", _png((250, 0, 0))) == "red (2)"
    assert photos.add("red", _png((250, 0, 0))) == "red (3)"
    assert photos.dropdown.value == "red (3)" and photos.dropdown.options[-1] == "red (3)"
    assert photos.computed == 3 and isinstance(seen[-1], bytes)  # decoded by compute, once


def test_upload_adds_a_photo_and_a_bad_file_leaves_a_notice(picker):
    photos, _ = picker
    send_upload(photos.upload, "cat.png", _png((0, 200, 0)))
    assert photos.dropdown.value == "upload: cat.png" and photos.computed == 2
    assert photos.take_notice() == ""
    send_upload(photos.upload, "notes.png", b"hello, not a picture")
    notice = photos.take_notice()
    assert notice.startswith("could not use notes.png:") and "not an image" in notice
    assert photos.take_notice() == ""  # said once
    assert photos.dropdown.value == "upload: cat.png" and photos.computed == 2


@pytest.mark.parametrize("value_of", [upload_value, upload_value_v7],
                         ids=["ipywidgets8", "ipywidgets7"])
def test_uploaded_files_reads_both_ipywidgets_dialects(value_of):
    content = _png((0, 0, 250))
    assert uploaded_files(value_of("blue.png", content)) == [("blue.png", content)]
    assert uploaded_files(()) == [] and uploaded_files({}) == []
    with pytest.raises(ValueError, match="not a FileUpload value from ipywidgets 7 or 8"):
        uploaded_files([{"filename": "x.png"}])


def test_an_ipywidgets_7_upload_reaches_the_handler(picker):
    """What Colab's ipywidgets 7 front end delivers, handed to the picker's observer."""
    photos, _ = picker
    photos._on_upload(upload_value_v7("dog.png", _png((9, 9, 9))))
    assert photos.dropdown.value == "upload: dog.png" and photos.computed == 2


def test_an_upload_is_decoded_once_and_handed_to_the_explorer_once(picker, monkeypatch):
    """The one upload path: the picker hands the upload's value to its taker once; the taker
    adds it with add_upload, and the file is decoded only by the slow path."""
    photos, _ = picker
    import helpers.data.images as images

    decoded, handed = [], []
    real = images.load_image
    monkeypatch.setattr(images, "load_image",
                        lambda src, **kw: decoded.append(1) or real(src, **kw))

    def compute(image):
        return images.load_image(image)

    counting = PhotoPicker({"red": Image.new("RGB", (4, 4), "red")}, compute)
    counting.when_uploaded(lambda value: handed.append(counting.add_upload(value)))
    decoded.clear()
    send_upload(counting.upload, "cat.png", _png((0, 200, 0)))
    assert handed == [True] and len(decoded) == 1
    assert counting.dropdown.value == "upload: cat.png"
    assert photos.add_upload(()) is False  # nothing uploaded: nothing to redraw
