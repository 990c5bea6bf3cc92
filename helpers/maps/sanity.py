"""Model-parameter randomisation (Adebayo et al., 2018, *Sanity Checks for Saliency Maps*).

An explanation of a prediction should depend on the weights that made the prediction. The
check re-initialises the model *from the top down*, one stage at a time (the classifier head,
then the last block, then the one below it, ...), recomputes each map after every stage, and
measures how similar it still is to the map of the trained model with the Spearman rank
correlation (:func:`rank_correlation`). A map that barely changes while the weights that
produced the prediction are destroyed explains the image, not the model.

:func:`randomisation_cascade` works on a deep copy: the model you pass in is never modified.
Each stage's parameters are reset with PyTorch's default initialisation
(``reset_parameters``; any parameter without one gets a normal(0, 0.02) draw), seeded, without
touching the global random state. Patch embedding, position embeddings and the final norm stay.

Example::

    for stage, randomised in randomisation_cascade(loaded):
        rho = rank_correlation(rollout_of(randomised), original)    # (B,)
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.models.libraries import hf_layers, library_of, unwrap

__all__ = ["cascade_stages", "reinitialise", "randomisation_cascade", "average_ranks",
           "rank_correlation"]


def cascade_stages(model: Any) -> list[tuple[str, nn.Module]]:
    """The stages of a ViT in the order the cascade randomises them: head first, then blocks
    from the last to the first.

    Args:
        model: What :func:`helpers.models.load` returned, or a timm, torchvision or
            transformers ViT classifier.

    Returns:
        ``(name, module)`` pairs: ``("head", ...)``, ``("block 11", ...)``, ..., ``("block 0",
        ...)``.

    Raises:
        ValueError: not a ViT classifier of the three libraries.
    """
    module = unwrap(model)
    library = library_of(module)
    if library == "timm":
        head, blocks = module.head, list(module.blocks)
    elif library == "torchvision":
        head, blocks = module.heads, list(module.encoder.layers)
    else:
        head, blocks = getattr(module, "classifier", None), list(hf_layers(module))
    if not isinstance(head, nn.Module) or not any(True for _ in head.parameters()):
        raise ValueError(f"the {library} model has no classifier head to randomise; the "
                         "sanity check explains a classifier's predictions.")
    return [("head", head)] + [(f"block {i}", blocks[i]) for i in reversed(range(len(blocks)))]


def reinitialise(module: nn.Module, seed: int = 0) -> int:
    """Reset every parameter of ``module`` to a fresh random initialisation, in place.

    Args:
        module: Any module (e.g. one stage of :func:`cascade_stages`).
        seed: Seed for the draw; the global random state is left as it was.

    Returns:
        How many parameter tensors were reset.
    """
    params = list(module.parameters())
    reached: set[int] = set()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for sub in module.modules():
            reset = getattr(sub, "reset_parameters", None) or getattr(sub, "_reset_parameters",
                                                                       None)
            if callable(reset):
                reset()
                reached.update(id(p) for p in sub.parameters(recurse=False))
        for p in params:  # parameters of modules without a reset (e.g. a bare nn.Parameter)
            if id(p) not in reached:
                nn.init.normal_(p, std=0.02)
    return len(params)


def randomisation_cascade(loaded: Any, seed: int = 0, report: Sequence[str] | None = None
                          ) -> Iterator[tuple[str, Any]]:
    """Re-initialise a *copy* of the model stage by stage, from the head down.

    The stages accumulate: after ``"block 10"`` the head and blocks 11 and 10 are all random.

    Args:
        loaded: What :func:`helpers.models.load` returned (or a module); never modified.
        seed: Seed of the first stage (stage ``i`` uses ``seed + i``).
        report: Names of the stages after which to yield (e.g. ``["head", "block 11",
            "block 0"]``); every stage above them is still randomised. None yields after all.

    Yields:
        ``(stage name, randomised copy)``, the copy of the same type as ``loaded`` (a
        ``LoadedModel`` shares preprocessing and labels). The same copy is yielded each
        time, randomised one stage further.

    Raises:
        ValueError: a name in ``report`` is not a stage of the model.
    """
    module = unwrap(loaded)
    names = [name for name, _ in cascade_stages(module)]
    wanted = names if report is None else list(report)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ValueError(f"report names unknown stages {unknown}; the stages are "
                         f"{', '.join(names)}.")
    copied = copy.deepcopy(module).eval()
    holder = dataclasses.replace(loaded, model=copied) if dataclasses.is_dataclass(
        loaded) and getattr(loaded, "model", None) is module else copied
    stages = cascade_stages(copied)
    last = max(names.index(name) for name in wanted)
    for index, (name, stage) in enumerate(stages[:last + 1]):
        reinitialise(stage, seed + index)
        if name in wanted:
            yield name, holder


def average_ranks(values: Any) -> np.ndarray:
    """Ranks 1..P along the last axis, tied values sharing the mean of their ranks.

    Args:
        values: (..., P) numbers.

    Returns:
        (..., P) float64 ranks.
    """
    array = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values,
                       dtype=np.float64)
    flat = array.reshape(-1, array.shape[-1])  # (rows, P)
    ranks = np.empty_like(flat)
    for row, data in enumerate(flat):
        _, inverse, counts = np.unique(data, return_inverse=True, return_counts=True)
        upper = np.cumsum(counts)  # the last rank (1-based) of each distinct value
        ranks[row] = (upper - (counts - 1) / 2)[inverse]
    return ranks.reshape(array.shape)


def rank_correlation(a: Any, b: Any) -> torch.Tensor:
    """Spearman rank correlation between two maps of each image.

    Args:
        a: (B, P) or (B, g, g) maps.
        b: The same shape.

    Returns:
        (B,) float64 correlations in [-1, 1]; 0 where either map is constant (its ranks
        carry no order to compare).
    """
    shape_a = tuple(a.shape) if hasattr(a, "shape") else type(a).__name__
    shape_b = tuple(b.shape) if hasattr(b, "shape") else type(b).__name__
    if shape_a != shape_b or len(shape_a) not in (2, 3) or 0 in shape_a:
        raise ValueError(f"a and b must be maps of the same shape (B, P) or (B, g, g); got "
                         f"{shape_a} and {shape_b}.")
    rank_a = average_ranks(np.asarray(a).reshape(shape_a[0], -1) if not isinstance(
        a, torch.Tensor) else a.reshape(shape_a[0], -1))
    rank_b = average_ranks(np.asarray(b).reshape(shape_b[0], -1) if not isinstance(
        b, torch.Tensor) else b.reshape(shape_b[0], -1))
    rank_a -= rank_a.mean(-1, keepdims=True)
    rank_b -= rank_b.mean(-1, keepdims=True)
    norm = np.sqrt((rank_a ** 2).sum(-1) * (rank_b ** 2).sum(-1))  # (B,)
    rho = np.where(norm > 0, (rank_a * rank_b).sum(-1) / np.where(norm > 0, norm, 1.0), 0.0)
    return torch.from_numpy(np.clip(rho, -1.0, 1.0))
