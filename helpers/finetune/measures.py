"""Notebook 08's measures applied to two models of the same images: before and after fine-tuning.

This is the one module of :mod:`helpers.finetune` that calls :mod:`helpers.maps.attribution`,
:mod:`helpers.evaluation.faithfulness` and :mod:`helpers.evaluation.sanity`; if their functions
change, only this file follows.

For each model, each image and each method (rollout, gradient rollout, and the random map as the
floor every method must beat), explaining the image's true class:

* deletion and insertion AUC (blurred removal, as notebook 08), and the paired difference from
  the random map on the same model and image: a probability-scale AUC depends on how confident
  the model is, the difference from random much less;
* the first stage of the randomisation cascade: Spearman's ρ between each map and the same map
  after the classifier head is re-initialised (1: the map ignores the head).

Every number comes with a 95 % bootstrap interval over images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["MEASURED_METHODS", "ModelMeasures", "measure_model", "compare_measures"]

#: The methods measured: the two rollouts of notebook 05 and the random reference.
MEASURED_METHODS = ("random", "rollout (mean)", "gradient rollout")


@dataclass(frozen=True)
class ModelMeasures:
    """Per-image measures of one model's maps.

    Attributes:
        name: Which model (``"before"``, ``"after"``).
        maps: method -> (N, P) maps.
        auc: ``"deletion"`` / ``"insertion"`` -> method -> (N,) areas.
        rho_head: method -> (N,) rank correlation after the head is re-initialised.
        probability: (N,) the model's probability of the explained class.
    """

    name: str
    maps: dict[str, torch.Tensor]
    auc: dict[str, dict[str, torch.Tensor]]
    rho_head: dict[str, torch.Tensor]
    probability: torch.Tensor


def measure_model(loaded: Any, pixels: torch.Tensor, classes: torch.Tensor, name: str,
                  steps: int = 14, methods: Sequence[str] = MEASURED_METHODS) -> ModelMeasures:
    """Maps, deletion/insertion areas and the cascade's first stage for one model.

    Args:
        loaded: A ``LoadedModel`` (or timm ViT) whose head predicts ``classes``' classes.
        pixels: (N, 3, H, W) preprocessed images.
        classes: (N,) the class explained in each image.
        name: Label of the model in tables.
        steps: Steps of the curves (must divide the number of patches).
        methods: Which of :data:`helpers.maps.attribution.METHODS` to measure.
    """
    from helpers.evaluation.faithfulness import MODES, curve_auc, perturbation_curves
    from helpers.evaluation.sanity import randomisation_cascade, rank_correlation
    from helpers.maps.attribution import explanation_maps

    found = explanation_maps(loaded, pixels, classes, methods=list(methods))
    auc = {mode: {m: curve_auc(c) for m, c in perturbation_curves(
        loaded, pixels, found.maps, classes, mode=mode, steps=steps, baseline="blur").items()}
        for mode in MODES}
    _, randomised = next(iter(randomisation_cascade(loaded, report=["head"])))
    after_head = explanation_maps(randomised, pixels, classes, methods=list(methods)).maps
    rho = {m: rank_correlation(found.maps[m], after_head[m]) for m in methods}
    return ModelMeasures(name, found.maps, auc, rho, found.probabilities)


def _interval(values: torch.Tensor) -> tuple[float, float, float]:
    from helpers.evaluation.faithfulness import bootstrap_interval

    return bootstrap_interval(values)


def compare_measures(before: ModelMeasures, after: ModelMeasures,
                     methods: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per measure and method: the value before, after, and after − before.

    Rows (each value a ``(mean, low, high)`` 95 % bootstrap interval over images):

    * ``"deletion AUC − random"`` (lower is better), ``"insertion AUC − random"`` (higher);
    * ``"ρ after the head"`` (the first cascade stage; lower means the map reads the head).

    The change is the paired per-image difference, so its interval says whether fine-tuning
    moved the measure beyond the image-to-image noise.
    """
    names = [m for m in (methods or before.maps) if m != "random"]
    rows = []
    measures: Mapping[str, Any] = {
        "deletion AUC − random ↓": lambda r, m: r.auc["deletion"][m] - r.auc["deletion"]["random"],
        "insertion AUC − random ↑": lambda r, m: r.auc["insertion"][m]
        - r.auc["insertion"]["random"],
        "ρ after the head": lambda r, m: r.rho_head[m].double(),
    }
    for measure, value in measures.items():
        for method in names:
            first, second = value(before, method), value(after, method)
            rows.append({"measure": measure, "method": method, before.name: _interval(first),
                         after.name: _interval(second), "change": _interval(second - first)})
    return rows
