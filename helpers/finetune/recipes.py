"""A whole fine-tuning recipe in one call, for side-by-side runs and the benchmark script.

A :class:`Recipe` says which method to use and every choice around it; :func:`run_recipe`
carries it out from the pretrained model to a test accuracy and times all of it:

1. linear probe: one frozen pass over the training images (the last blocks' tokens), a
   logistic regression, the test images through the same frozen pass;
2. every other method: LP-FT: a probe fitted on ``lp_images`` training images becomes the new
   head, then the loop (:func:`~helpers.finetune.loop.fit`) trains what the method unfreezes,
   for a number of steps given, or as many as fit in a time budget (measured on a copy of
   the model first); finally the test images, flip-averaged if asked.

The clock runs from the first image to the last prediction: feature passes, probe fitting and
the final test all count. Only the optional validation evaluations for the training curve
(``eval_every``) are excluded.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from helpers.finetune.data import ImageSplit, PixelPipeline
from helpers.finetune.evaluation import evaluate
from helpers.finetune.features import Features, extract_features, fit_probe
from helpers.finetune.loop import History, TrainConfig, fit
from helpers.finetune.methods import METHODS, finetuning_copy, prepare
from helpers.finetune.precision import Precision

__all__ = ["Recipe", "RecipeResult", "run_recipe", "steps_for_budget", "estimate_recipes"]


@dataclass(frozen=True)
class Recipe:
    """Everything a run needs besides the data.

    Attributes:
        method: One of :data:`~helpers.finetune.methods.METHODS`.
        size: Input side in pixels (224: the pretrained model's own; smaller: fewer patches).
        patch_drop: Share of patch tokens dropped in each training step (PatchDropout).
        lp_images: Training images of the probe whose head fine-tuning starts from (LP-FT);
            0 starts from a random head.
        probe_blocks: Last blocks the linear-probe method reads.
        probe_l2: L2 strength of every probe.
        blocks: k, for ``"last k blocks"``.
        rank: r, for ``"LoRA"``.
        lr: Peak learning rate of the backbone parameters.
        head_lr: Peak learning rate of the head.
        batch_size: Images per step.
        flip_test: Average each test image's prediction with its mirror image's.
        config: Other :class:`~helpers.finetune.loop.TrainConfig` fields (warm-up, label
            smoothing, weight decay, clipping, seed).
    """

    method: str
    size: int = 224
    patch_drop: float = 0.75
    lp_images: int = 1000
    probe_blocks: int = 4
    probe_l2: float = 10.0
    blocks: int = 4
    rank: int = 8
    lr: float = 1e-4
    head_lr: float = 1e-3
    batch_size: int = 64
    flip_test: bool = False
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}; got {self.method!r}.")

    def with_(self, **changes: Any) -> Recipe:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass
class RecipeResult:
    """What a recipe gave.

    Attributes:
        recipe: The recipe.
        accuracy: Test accuracy.
        seconds: Wall-clock seconds of the whole recipe (curve evaluations excluded).
        trainable: Parameters the method trained (the probe's for the linear probe).
        history: The training run (records of the curve); None for the linear probe.
        model: The trained model (the frozen model with the probe as its head for the probe).
        images_seen: Training images that went through a training step.
        cpu_seconds: Process CPU seconds over the same span (all threads).
        features: The linear probe's frozen features (``"train"``, ``"test"``, and ``"val"``
            when given), to reuse; None for the other methods.
    """

    recipe: Recipe
    accuracy: float
    seconds: float
    trainable: int
    history: History | None
    model: Any
    images_seen: int
    cpu_seconds: float
    features: dict[str, Features] | None = None


def steps_for_budget(seconds_left: float, seconds_per_step: float, minimum: int = 1) -> int:
    """How many steps of ``seconds_per_step`` fit in ``seconds_left`` (at least ``minimum``)."""
    if seconds_per_step <= 0:
        raise ValueError(f"seconds_per_step must be positive; got {seconds_per_step}.")
    return max(minimum, int(seconds_left / seconds_per_step))


def _time_steps(model: torch.nn.Module, train: ImageSplit, config: TrainConfig,
                pipeline: PixelPipeline, precision: Precision | None) -> float:
    """Seconds per step, measured on a copy (3 steps; the first, warming caches, not counted)."""
    trial = copy.deepcopy(model)
    history = fit(trial, train, replace(config, steps=1, eval_every=0), pipeline,
                  precision=precision, progress=False)
    first = history.seconds
    history = fit(trial, train, replace(config, steps=2, eval_every=0, seed=config.seed + 1),
                  pipeline, precision=precision, progress=False)
    del trial
    return history.seconds / 2 if history.seconds > 0 else first


def run_recipe(recipe: Recipe, pretrained: Any, train: ImageSplit, test: ImageSplit, *,
               precision: Precision | None = None, steps: int | None = None,
               seconds: float | None = None, val: ImageSplit | None = None,
               eval_every: int = 0, head: torch.nn.Linear | None = None,
               progress: bool = True) -> RecipeResult:
    """Carry out ``recipe`` from ``pretrained`` to a test accuracy.

    Args:
        recipe: What to do.
        pretrained: What :func:`helpers.models.load` returned for timm (never modified).
        train: Training images (the probe's, too).
        test: Test images.
        precision: Autocast setting.
        steps: Training steps (fixed); or None with ``seconds`` (neither for the probe).
        seconds: A wall-clock budget for the whole recipe: training runs until the time left
            (after the probe pass, less the final test's measured cost) is used up, with the
            warm-up and cosine driven by the clock, so the rate has annealed when it stops.
        val: Evaluated every ``eval_every`` steps for the training curve (clock paused).
        eval_every: Steps between curve evaluations (0: only at the end).
        head: A head fitted already (e.g. on the linear probe's features) to start from
            instead of fitting one on ``recipe.lp_images`` images here.
        progress: Show tqdm bars.
    """
    if recipe.method != "linear probe" and (steps is None) == (seconds is None):
        raise ValueError("give exactly one of steps (fixed) or seconds (a budget).")
    clock, cpu = time.perf_counter(), time.process_time()
    num_classes = len(train.classes)
    base = finetuning_copy(pretrained, num_classes, size=recipe.size, patch_drop=recipe.patch_drop)
    pipeline = PixelPipeline.for_model(base, size=recipe.size)
    if recipe.method == "linear probe":
        return _linear_probe(recipe, base, train, test, val, pipeline, precision, clock, cpu,
                             progress)
    if head is None and recipe.lp_images:
        lp = extract_features(base, train.subset(recipe.lp_images), pipeline, blocks=1,
                              precision=precision)
        head = fit_probe(lp.pre_logits, lp.labels, num_classes, recipe.probe_l2).as_head()
    model = prepare(finetuning_copy(base, num_classes, head=head), recipe.method,
                    blocks=recipe.blocks, rank=recipe.rank)
    config = TrainConfig(**{"steps": steps or 1, "batch_size": recipe.batch_size,
                            "lr": recipe.lr, "head_lr": recipe.head_lr,
                            "eval_every": eval_every, **recipe.config})
    limit = None
    if seconds is not None:  # train until the time is up, the schedule driven by the clock
        per_step = _time_steps(model, train, config, pipeline, precision)
        test_cost = _test_seconds(model, test, pipeline, precision, recipe.flip_test)
        limit = max(seconds - (time.perf_counter() - clock) - 1.1 * test_cost, per_step)
        config = replace(config, steps=3 * steps_for_budget(limit, per_step))  # a bound only
    history = fit(model, train, config, pipeline, val=val, precision=precision,
                  time_limit_s=limit, schedule_by_time=seconds is not None, progress=progress,
                  name=recipe.method)
    result = evaluate(model, test, pipeline, precision, flip=recipe.flip_test)
    elapsed = time.perf_counter() - clock - history.eval_seconds
    return RecipeResult(recipe, result.accuracy, elapsed, history.trainable, history, model,
                        history.steps * min(config.batch_size, len(train)),
                        time.process_time() - cpu)


def _test_seconds(model: torch.nn.Module, test: ImageSplit, pipeline: PixelPipeline,
                  precision: Precision | None, flip: bool) -> float:
    """The final test's cost, extrapolated from one batch."""
    sample = test.subset(min(len(test), 50))
    result = evaluate(model, sample, pipeline, precision, flip=flip)
    return result.seconds * len(test) / len(sample)


def _linear_probe(recipe: Recipe, base: torch.nn.Module, train: ImageSplit, test: ImageSplit,
                  val: ImageSplit | None, pipeline: PixelPipeline, precision: Precision | None,
                  clock: float, cpu: float, progress: bool) -> RecipeResult:
    blocks = recipe.probe_blocks
    found = extract_features(base, train, pipeline, blocks, precision, progress=progress)
    probe = fit_probe(found.blocks, found.labels, len(train.classes), recipe.probe_l2)
    tested = extract_features(base, test, pipeline, blocks, precision)
    flipped = (extract_features(base, test, pipeline, blocks, precision, flip=True).blocks
               if recipe.flip_test else None)
    accuracy = probe.accuracy(tested.blocks, tested.labels, flipped)
    trainable = probe.linear.weight.numel() + probe.linear.bias.numel()
    # the model itself keeps a head fitted on its own pre-logits (for explanations)
    head = fit_probe(found.pre_logits, found.labels, len(train.classes), recipe.probe_l2)
    model = finetuning_copy(base, len(train.classes), head=head.as_head())
    history = History(name=recipe.method, trainable=trainable)
    seconds = time.perf_counter() - clock
    features = {"train": found, "test": tested}
    if val is not None:  # the curve's one point, like the other methods' (clock stopped)
        start = time.perf_counter()
        features["val"] = extract_features(base, val, pipeline, blocks, precision)
        history.records.append({"step": 0, "seconds": seconds, "loss": None, "accuracy":
                                probe.accuracy(features["val"].blocks, features["val"].labels)})
        history.eval_seconds = time.perf_counter() - start
    history.seconds = seconds
    return RecipeResult(recipe, accuracy, seconds, trainable, history,
                        prepare(model, "linear probe"), 0, time.process_time() - cpu, features)


def estimate_recipes(recipes: list[Recipe], pretrained: Any, train: ImageSplit,
                     test: ImageSplit, *, steps: int, precision: Precision | None = None,
                     val: ImageSplit | None = None, eval_every: int = 0,
                     head_given: bool = False) -> Any:
    """How long :func:`run_recipe` will take for each recipe with ``steps`` steps, measured now.

    ``head_given``: the runs get a fitted head (no probe pass on ``lp_images`` images).

    Times one forward pass of a batch through the frozen model (the images of feature passes
    and evaluations) and one training step of each method (the faster of two, on a copy), then
    extrapolates. Returns a :class:`helpers.setup.run_time.Estimate`; print it.
    """
    from helpers.setup.run_time import Estimate, Part, time_call

    sizes = {r.size for r in recipes}
    if len(sizes) != 1:
        raise ValueError(f"the recipes must share one input size to be estimated together; "
                         f"got {sorted(sizes)}.")
    base = finetuning_copy(pretrained, len(train.classes), size=sizes.pop())
    pipeline = PixelPipeline.for_model(base)
    sample = test.subset(min(len(test), 32))
    per_image = time_call(lambda: evaluate(base, sample, pipeline, precision), repeat=2) / len(
        sample)
    images = 0
    parts = []
    evaluations = (steps // eval_every if eval_every else 0) + 1
    for recipe in recipes:
        flips = 2 if recipe.flip_test else 1
        if recipe.method == "linear probe":
            images += len(train) + flips * len(test) + (len(val) if val is not None else 0)
            continue
        images += flips * len(test) + (evaluations * len(val) if val is not None else 0)
        if recipe.lp_images and not head_given:
            images += min(recipe.lp_images, len(train))  # the probe pass of LP-FT
        model = prepare(finetuning_copy(base, len(train.classes), patch_drop=recipe.patch_drop),
                        recipe.method, blocks=recipe.blocks, rank=recipe.rank)
        config = TrainConfig(steps=1, batch_size=recipe.batch_size, lr=recipe.lr)
        step = time_call(lambda model=model, config=config: fit(
            model, train, config, pipeline, precision=precision, progress=False), repeat=2)
        parts.append(Part(steps, step, f"{recipe.method} step"))
    return Estimate((Part(images, per_image, "image"), *parts))
