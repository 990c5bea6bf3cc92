"""helpers.finetune.folders: ImageFolder on your own photos, checked before any training. Each
problem is named with its path and what to do; all problems come in one error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers.finetune.folders import (
    FolderProblem,
    check_image_folder,
    images_needed,
    load_image_folder,
    write_image_folder,
)


def _photo(path, colour=(200, 30, 30), size=(20, 12)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


@pytest.fixture
def good(tmp_path):
    for name, colour in (("cat", (200, 30, 30)), ("dog", (30, 30, 200))):
        for i in range(5):
            _photo(tmp_path / "photos" / name / f"{i}.jpg", colour)
    (tmp_path / "photos" / "cat" / ".DS_Store").write_bytes(b"\0")     # hidden: ignored
    return tmp_path / "photos"


def _problems(root, **kwargs):
    with pytest.raises(FolderProblem) as info:
        check_image_folder(root, **kwargs)
    assert "nothing was trained" in str(info.value)
    return info.value.problems


def test_a_good_folder_passes_and_loads_split_per_class(good):
    summary = check_image_folder(good)
    assert summary.classes == ("cat", "dog") and summary.counts == (5, 5)
    assert "2 classes, 10 images" in str(summary)
    train, val, _ = load_image_folder(good, size=16, val_fraction=0.2)
    assert len(train) == 8 and len(val) == 2 and train.images.shape[1:] == (3, 16, 16)
    assert sorted(val.labels.tolist()) == [0, 1]                 # one of each class
    red = train.images[train.labels == 0].float().mean((0, 2, 3))
    assert red[0] > 150 and red[2] < 60                          # cats are the red ones


def test_missing_folder_and_no_classes(tmp_path):
    [problem] = _problems(tmp_path / "nowhere")
    assert "no such folder" in problem and str(tmp_path / "nowhere") in problem
    (tmp_path / "empty").mkdir()
    [problem] = _problems(tmp_path / "empty")
    assert "no class folders" in problem


def test_single_class(good):
    import shutil
    shutil.rmtree(good / "dog")
    [problem] = _problems(good)
    assert "only one class ('cat')" in problem and "at least two" in problem


def test_empty_class_folder(good):
    (good / "bird").mkdir()
    [problem] = _problems(good)
    assert str(good / "bird") in problem and "holds no image" in problem


def test_non_image_and_unreadable_files(good):
    (good / "cat" / "notes.txt").write_text("not a photo")
    (good / "dog" / "IMG_1.heic").write_bytes(b"\0" * 10)
    (good / "dog" / "broken.jpg").write_bytes(b"this is text, not a JPEG")
    data = (good / "cat" / "0.jpg").read_bytes()
    (good / "cat" / "cut.jpg").write_bytes(data[: len(data) // 2])          # truncated
    problems = _problems(good)
    assert len(problems) == 4
    text = "\n".join(problems)
    for name in ("notes.txt", "IMG_1.heic", "broken.jpg", "cut.jpg"):
        assert str(good) in text and name in text
    assert "Convert it to JPEG or PNG" in text and "cannot be read as an image" in text


def test_too_few_images_for_the_validation_split(good):
    for i in range(3, 5):
        (good / "dog" / f"{i}.jpg").unlink()
    [problem] = _problems(good, val_fraction=0.2)
    assert str(good / "dog") in problem and "has 3 images" in problem
    assert "at least 5 per class" in problem
    assert check_image_folder(good, val_fraction=0.5).counts == (5, 3)


def test_stray_files_and_hidden_folders(good):
    _photo(good / "loose.jpg")
    (good / ".ipynb_checkpoints").mkdir()
    problems = _problems(good)
    assert any("loose.jpg" in p and "belongs to no class" in p for p in problems)
    assert any(".ipynb_checkpoints" in p and "hidden folder" in p for p in problems)


def test_every_problem_is_listed_at_once(good):
    (good / "bird").mkdir()
    (good / "cat" / "notes.txt").write_text("x")
    assert len(_problems(good)) == 2


def test_images_needed():
    assert images_needed(0.2) == 5 and images_needed(0.5) == 2 and images_needed(0.25) == 4
    assert images_needed(0.9) == 2
    with pytest.raises(ValueError, match="val_fraction"):
        images_needed(0.0)


def test_write_image_folder_round_trips(tmp_path):
    images = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (10, 20, 30, 40, 50, 60)])
    root = write_image_folder(tmp_path / "made", images, [0, 1, 0, 1, 0, 1], ["a", "b"])
    summary = check_image_folder(root, val_fraction=0.5)
    assert summary.classes == ("a", "b") and summary.counts == (3, 3)
