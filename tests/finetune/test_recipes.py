"""helpers.finetune.recipes: a whole method from the pretrained model to a test accuracy, with
fixed steps or inside a time budget; the linear probe keeps its features; estimates come from
measured steps."""

from __future__ import annotations

import pytest
import torch
from tiny_vits import tiny_timm

from helpers.finetune.data import ImageSplit
from helpers.finetune.precision import Precision
from helpers.finetune.recipes import Recipe, estimate_recipes, run_recipe, steps_for_budget
from helpers.models.loaded import LoadedModel

FLOAT32 = Precision("cpu", None, "tests")


@pytest.fixture(scope="module")
def pretrained() -> LoadedModel:
    return LoadedModel("timm", "tiny", tiny_timm(), lambda image: image, [], "random: tiny",
                       "random")


@pytest.fixture(scope="module")
def splits() -> tuple[ImageSplit, ImageSplit]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (30, 3, 16, 16), dtype=torch.uint8, generator=generator)
    split = ImageSplit(images, torch.arange(30) % 3, ("a", "b", "c"))
    return split.subset(index=torch.arange(20)), split.subset(index=torch.arange(20, 30))


def _recipe(method: str, **changes) -> Recipe:
    defaults = dict(size=32, probe_blocks=2, blocks=1, rank=2, batch_size=8, lp_images=12)
    return Recipe(method, **{**defaults, **changes})


def test_probe_recipe_keeps_features_and_a_head(pretrained, splits):
    train, test = splits
    state = {k: v.clone() for k, v in pretrained.model.state_dict().items()}
    result = run_recipe(_recipe("linear probe", flip_test=True), pretrained, train, test,
                        precision=FLOAT32, val=test, progress=False)
    assert 0.0 <= result.accuracy <= 1.0 and result.images_seen == 0
    assert result.trainable == (2 * 2 * 48) * 3 + 3
    assert set(result.features) == {"train", "test", "val"}
    assert result.history.records[0]["step"] == 0 and result.seconds > 0
    assert result.model.head.out_features == 3
    assert all(not p.requires_grad for p in result.model.parameters())
    assert all(torch.equal(v, pretrained.model.state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize("method", ["head only", "LoRA", "full"])
def test_training_recipes_run_fixed_steps(pretrained, splits, method):
    train, test = splits
    result = run_recipe(_recipe(method), pretrained, train, test, precision=FLOAT32, steps=3,
                        val=test, eval_every=2, progress=False)
    assert result.history.steps == 3 and [r["step"] for r in result.history.records] == [2, 3]
    assert result.images_seen == 3 * 8 and 0.0 <= result.accuracy <= 1.0
    assert result.cpu_seconds > 0 and result.features is None


def test_a_given_head_replaces_the_probe_stage(pretrained, splits):
    train, test = splits
    head = torch.nn.Linear(48, 3)
    torch.nn.init.zeros_(head.weight)
    result = run_recipe(_recipe("head only", lp_images=0), pretrained, train, test,
                        precision=FLOAT32, steps=1, head=head, progress=False)
    assert result.model.head.weight.abs().max() > 0          # one step moved the zero head


def test_a_budget_chooses_the_steps(pretrained, splits):
    train, test = splits
    result = run_recipe(_recipe("full"), pretrained, train, test, precision=FLOAT32,
                        seconds=20.0, progress=False)
    assert result.history.steps >= 1
    with pytest.raises(ValueError, match="exactly one of steps"):
        run_recipe(_recipe("full"), pretrained, train, test, steps=2, seconds=1.0)
    with pytest.raises(ValueError, match="method must be one of"):
        Recipe("everything")


def test_steps_for_budget():
    assert steps_for_budget(10.0, 0.5) == 20 and steps_for_budget(0.1, 1.0) == 1
    with pytest.raises(ValueError, match="positive"):
        steps_for_budget(1.0, 0.0)


def test_estimates_are_measured_per_method(pretrained, splits):
    train, test = splits
    recipes = [_recipe("linear probe"), _recipe("head only"), _recipe("full")]
    estimate = estimate_recipes(recipes, pretrained, train, test, steps=5, precision=FLOAT32,
                                val=test, eval_every=5)
    units = [part.unit for part in estimate.parts]
    assert units == ["image", "head only step", "full step"]
    images = len(train) + len(test) + len(test) + 2 * (len(test) + 2 * len(test))
    assert estimate.parts[0].count == images + 2 * 12          # + the probe pass of LP-FT
    assert estimate.parts[1].count == 5
    given = estimate_recipes(recipes, pretrained, train, test, steps=5, precision=FLOAT32,
                             val=test, eval_every=5, head_given=True)
    assert given.parts[0].count == images
    assert str(estimate).startswith("about ")
    with pytest.raises(ValueError, match="share one input size"):
        estimate_recipes([_recipe("full"), _recipe("full", size=48)], pretrained, train, test,
                         steps=1)
