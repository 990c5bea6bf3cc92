"""helpers.data.preprocessing: the stages redo the processor exactly, recipes read the right
numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from helpers.data.preprocessing import (
    PreprocessingRecipe,
    Stage,
    interpolation_name,
    processor_from_recipe,
    processor_from_timm_config,
    processor_stages,
    recipe_of,
    recipes_markdown,
)
from helpers.figures.preprocessing import stages_figure
from helpers.tolerances import assert_same_maths

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """427 x 640 photo: resizing its shorter side to 248 leaves an odd margin to crop."""
    from helpers.data.images import sample_images

    return sample_images()["rocket"]


def _processors():
    from transformers import ViTImageProcessor

    return {
        "google defaults": ViTImageProcessor(),
        # what a timm recipe asks for (ViTImageProcessor in transformers 5, Bit's in 4)
        "shortest edge + crop": processor_from_recipe(PreprocessingRecipe(
            "timm-like", 248, (224, 224), "bicubic", (0.5,) * 3, (0.5,) * 3)),
        "no normalise": ViTImageProcessor(size={"height": 64, "width": 96}, do_normalize=False),
        "imagenet stats": ViTImageProcessor(image_mean=[0.485, 0.456, 0.406],
                                            image_std=[0.229, 0.224, 0.225]),
    }


@pytest.mark.parametrize("which", list(_processors()))
def test_stages_end_exactly_where_the_processor_does(photo, which):
    processor = _processors()[which]
    stages = processor_stages(processor, photo)
    want = processor(images=photo, return_tensors="pt")["pixel_values"][0]  # (3, h, w)
    assert stages[0].name == "input" and stages[0].tensor.dtype == torch.uint8
    assert stages[-1].tensor.shape == want.shape
    assert_same_maths(stages[-1].tensor, want)  # our arithmetic vs the processor's


def test_stage_names_and_notes_carry_the_processors_numbers(photo):
    stages = processor_stages(_processors()["shortest edge + crop"], photo)
    assert [s.name for s in stages] == ["input", "resize", "center crop", "rescale", "normalize"]
    assert "shorter side 248" in stages[1].note and "bicubic" in stages[1].note
    assert stages[1].tensor.shape == (3, 248, 371)  # 248 * 640 / 427 = 371.7, rounded down
    assert "1/255" in stages[3].note
    assert 0.0 <= float(stages[3].tensor.min()) and float(stages[3].tensor.max()) <= 1.0
    assert "mean=(0.5, 0.5, 0.5)" in stages[4].note
    assert float(stages[4].tensor.min()) < 0.0  # normalised to [-1, 1]
    no_norm = processor_stages(_processors()["no normalise"], photo)
    assert [s.name for s in no_norm] == ["input", "resize", "rescale"]


def test_stages_reject_non_images():
    with pytest.raises(ValueError, match="PIL image"):
        processor_stages(_processors()["google defaults"], np.zeros((8, 8, 3)))


def test_recipes_from_three_libraries():
    import timm
    from timm.data import create_transform, resolve_data_config
    from torchvision.models import ViT_B_16_Weights

    hf = recipe_of(_processors()["google defaults"], "hf")
    assert hf == PreprocessingRecipe("hf", (224, 224), None, "bilinear", (0.5,) * 3, (0.5,) * 3)
    assert (hf.describe_resize(), hf.describe_crop()) == ("224 x 224", "none")
    tv = recipe_of(ViT_B_16_Weights.IMAGENET1K_V1.transforms())
    assert (tv.resize, tv.crop, tv.interpolation) == (256, (224, 224), "bilinear")
    assert tv.describe_resize() == "shorter side 256"
    assert tv.mean == pytest.approx((0.485, 0.456, 0.406))
    config = resolve_data_config({}, model=timm.create_model("vit_tiny_patch16_224"))
    tm = recipe_of(config, "timm")
    assert tm == PreprocessingRecipe("timm", 248, (224, 224), "bicubic", (0.5,) * 3, (0.5,) * 3)
    assert recipe_of(create_transform(**config), "timm") == tm  # the Compose says the same
    assert recipe_of(processor_from_timm_config(config), "timm") == tm
    assert recipe_of(processor_from_recipe(tv), tv.name) == tv
    table = recipes_markdown([hf, tv, tm])
    assert table.splitlines()[0].startswith("| | hf |") and len(table.splitlines()) == 7
    assert "| resize | 224 x 224 | shorter side 256 | shorter side 248 |" in table
    with pytest.raises(ValueError, match="image processor"):
        recipe_of(object())


def test_processor_from_timm_config_matches_timms_transform():
    import timm
    from timm.data import create_transform, resolve_data_config

    from helpers.data.images import sample_images

    config = resolve_data_config({}, model=timm.create_model("vit_tiny_patch16_224"))
    processor = processor_from_timm_config(config)
    transform = create_transform(**config)
    image = sample_images()["chelsea"]  # 451 x 300: an even margin, so no one-pixel shift
    ours = processor(images=image, return_tensors="pt")["pixel_values"][0]
    theirs = transform(image)  # (3, 224, 224)
    assert ours.shape == theirs.shape == (3, 224, 224)
    assert (ours - theirs).abs().mean() < 1e-3  # PIL and torch bicubic differ by a hair
    with pytest.raises(ValueError, match="input_size"):
        processor_from_timm_config({"mean": (0.5,) * 3})


def test_interpolation_names():
    from torchvision.transforms import InterpolationMode

    assert interpolation_name(2) == "bilinear"
    assert interpolation_name(Image.Resampling.BICUBIC) == "bicubic"
    assert interpolation_name(InterpolationMode.BICUBIC) == "bicubic"
    assert interpolation_name("Bilinear") == "bilinear"


def test_stages_figure_draws_image_and_histogram_per_stage(photo):
    stages = processor_stages(_processors()["google defaults"], photo)
    fig = stages_figure(stages)
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * len(stages)
    assert fig.axes[0].get_title().startswith("input")
    with pytest.raises(ValueError):
        stages_figure([])
    single = stages_figure([Stage("x", torch.zeros(3, 4, 4), "zeros")])
    assert len(single.axes) == 2
