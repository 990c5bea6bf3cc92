"""Model-parameter randomisation (Adebayo et al., 2018, *Sanity Checks for Saliency Maps*).

An explanation of a prediction should depend on the weights that made the prediction. The
**cascade** re-initialises the model *from the top down*, one stage at a time, down to the
input: the classifier head, the final norm, the last block, the one below it, ..., the first
block, and last the embeddings (patch embedding, position embeddings, class token). After each
stage every map is recomputed and compared with the trained model's map by the Spearman rank
correlation (:func:`rank_correlation`). The **independent** variant
(:func:`independent_randomisation`) re-initialises one stage at a time, the rest trained.

A map that keeps ρ near ±1 while the weights that produced the prediction are destroyed explains
the image, not the model: the check asks for **|ρ| near 0**, and a strongly *negative* ρ (the
order reversed) is as much dependence on the image as a positive one. Adebayo et al. report ρ
of the signed maps and of their absolute values (:func:`map_similarity` gives both). A map that
is constant has no order: its ρ is undefined (NaN), not 0, and is reported as such.

Each stage is reset with the layer's own initialisation (``reset_parameters``): random for
linear and convolution weights; for a LayerNorm that is gain 1 and bias 0, its untrained state
(LayerNorm has no random initialisation). A parameter without one (class token, position
embeddings) gets a normal(0, 0.02) draw. By the last stage every parameter tensor is reset.
Draws are seeded; the random state of the CPU, and of every CUDA device the model is on, is
restored afterwards. Everything runs on a deep copy: the model you pass in is never modified.

Example::

    for stage, randomised in randomisation_cascade(loaded):
        rho = rank_correlation(rollout_of(randomised), original)    # (B,), NaN if constant
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.models.libraries import adapter_for, unwrap

__all__ = ["cascade_stages", "reinitialise", "randomisation_cascade", "independent_randomisation",
           "average_ranks", "rank_correlation", "map_similarity", "RankedMethod",
           "rank_by_abs_correlation"]


def _with_parameters(module: nn.Module | None) -> bool:
    return isinstance(module, nn.Module) and any(True for _ in module.parameters())


def _rest(model: nn.Module, taken: list[nn.Module]) -> nn.Module:
    """A container of every parameter of ``model`` that no stage in ``taken`` holds."""
    used = {id(p) for stage in taken for p in stage.parameters()}
    rest = nn.Module()
    claimed: set[int] = set()
    for name, sub in model.named_modules():
        params = list(sub.parameters())
        if sub is not model and params and all(id(p) not in used and id(p) not in claimed
                                               for p in params):
            rest.add_module(name.replace(".", "__"), sub)  # e.g. patch_embed (its conv)
            claimed.update(id(p) for p in params)
    for name, param in model.named_parameters():
        if id(param) not in used and id(param) not in claimed:
            rest.register_parameter(name.replace(".", "__"), param)  # e.g. pos_embed
            claimed.add(id(param))
    return rest


def cascade_stages(model: Any) -> list[tuple[str, nn.Module]]:
    """The stages of a ViT in the order the cascade randomises them, from the output down.

    Args:
        model: What :func:`helpers.models.load` returned, or a timm, torchvision or
            transformers ViT classifier.

    Returns:
        ``(name, module)`` pairs: ``("head", ...)``, ``("final norm", ...)``, ``("block 11",
        ...)``, ..., ``("block 0", ...)``, ``("embeddings", ...)``. Together they hold every
        parameter of the model, each once; ``"embeddings"`` collects what the others do not
        (patch embedding, position embeddings, class token).

    Raises:
        ValueError: not a ViT classifier of the three libraries.
    """
    module = unwrap(model)
    adapter = adapter_for(model)
    head, norms, blocks = adapter.classifier_parts(module)
    if not _with_parameters(head):
        raise ValueError(f"the {adapter.name} model has no classifier head to randomise; the "
                         "sanity check explains a classifier's predictions.")
    norm = nn.ModuleList([m for m in norms if _with_parameters(m)])
    stages = [("head", head)] + ([("final norm", norm)] if len(norm) else [])
    stages += [(f"block {i}", blocks[i]) for i in reversed(range(len(blocks)))]
    rest = _rest(module, [stage for _, stage in stages])
    return stages + ([("embeddings", rest)] if _with_parameters(rest) else [])


def _cuda_devices(module: nn.Module) -> list[int]:
    """CUDA devices whose generator a draw for ``module`` uses (seeded and restored)."""
    return sorted({p.device.index or 0 for p in module.parameters() if p.is_cuda})


def reinitialise(module: nn.Module, seed: int = 0) -> int:
    """Reset every parameter of ``module`` to a fresh initialisation, in place.

    Args:
        module: Any module (e.g. one stage of :func:`cascade_stages`).
        seed: Seed for the draw. The CPU generator and the generators of the CUDA devices
            the module is on are seeded inside and restored afterwards; no other generator
            is touched (``torch.manual_seed`` would reseed every CUDA device for good).

    Returns:
        How many parameter tensors were reset.
    """
    params = list(module.parameters())
    reached: set[int] = set()
    devices = _cuda_devices(module)
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.default_generator.manual_seed(seed)
        for index in devices:
            torch.cuda.default_generators[index].manual_seed(seed)
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


def _check_report(module: nn.Module, report: Sequence[str] | None) -> list[str]:
    names = [name for name, _ in cascade_stages(module)]
    wanted = names if report is None else list(report)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ValueError(f"report names unknown stages {unknown}; the stages are "
                         f"{', '.join(names)}.")
    return wanted


def _copy(loaded: Any) -> tuple[nn.Module, Any]:
    """A deep copy of the module and what to yield (a LoadedModel around it, if given one)."""
    module = unwrap(loaded)
    copied = copy.deepcopy(module).eval()
    holder = dataclasses.replace(loaded, model=copied) if dataclasses.is_dataclass(
        loaded) and getattr(loaded, "model", None) is module else copied
    return copied, holder


def randomisation_cascade(loaded: Any, seed: int = 0, report: Sequence[str] | None = None
                          ) -> Iterator[tuple[str, Any]]:
    """Re-initialise a *copy* of the model stage by stage, from the head down to the input.

    The stages accumulate: after ``"block 10"`` the head, the final norm and blocks 11 and 10
    are all random; after ``"embeddings"`` nothing trained is left.

    Args:
        loaded: What :func:`helpers.models.load` returned (or a module); never modified.
        seed: Seed of the first stage (stage ``i`` uses ``seed + i``).
        report: Names of the stages after which to yield (e.g. ``["head", "block 11",
            "embeddings"]``); every stage above them is still randomised. None yields after
            all.

    Yields:
        ``(stage name, randomised copy)``, the copy of the same type as ``loaded`` (a
        ``LoadedModel`` shares preprocessing and labels). The same copy is yielded each
        time, randomised one stage further.

    Raises:
        ValueError: a name in ``report`` is not a stage of the model.
    """
    wanted = _check_report(unwrap(loaded), report)
    copied, holder = _copy(loaded)
    stages = cascade_stages(copied)
    last = max(index for index, (name, _) in enumerate(stages) if name in wanted)
    for index, (name, stage) in enumerate(stages[:last + 1]):
        reinitialise(stage, seed + index)
        if name in wanted:
            yield name, holder


def independent_randomisation(loaded: Any, seed: int = 0, report: Sequence[str] | None = None
                              ) -> Iterator[tuple[str, Any]]:
    """Re-initialise one stage at a time in a *copy*, every other stage trained.

    Args:
        loaded: What :func:`helpers.models.load` returned (or a module); never modified.
        seed: Stage ``i`` (in cascade order) uses ``seed + i``, the same draw as the cascade.
        report: Names of the stages to randomise, one at a time (None: all of them).

    Yields:
        ``(stage name, copy with only that stage re-initialised)``; the same copy each
        time, its previous stage restored to the trained values first.
    """
    wanted = _check_report(unwrap(loaded), report)
    copied, holder = _copy(loaded)
    for index, (name, stage) in enumerate(cascade_stages(copied)):
        if name not in wanted:
            continue
        saved = [p.detach().clone() for p in stage.parameters()]
        reinitialise(stage, seed + index)
        try:
            yield name, holder
        finally:
            with torch.no_grad():
                for p, value in zip(stage.parameters(), saved, strict=True):
                    p.copy_(value)


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
        ranks[row] = (upper - (counts - 1) / 2)[inverse.reshape(-1)]
    return ranks.reshape(array.shape)


def rank_correlation(a: Any, b: Any) -> torch.Tensor:
    """Spearman rank correlation between two maps of each image.

    Args:
        a: (B, P) or (B, g, g) maps.
        b: The same shape.

    Returns:
        (B,) float64 correlations in [-1, 1]; NaN where either map is constant (its ranks
        carry no order, so the correlation is undefined).
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
    rho = np.where(norm > 0, (rank_a * rank_b).sum(-1) / np.where(norm > 0, norm, 1.0), np.nan)
    return torch.from_numpy(np.clip(rho, -1.0, 1.0))


def map_similarity(trained: torch.Tensor, randomised: torch.Tensor) -> dict[str, torch.Tensor]:
    """Spearman ρ between two maps of each image, as Adebayo et al. report it.

    Args:
        trained: (B, P) maps of the trained model.
        randomised: (B, P) maps of the randomised one.

    Returns:
        ``{"signed": (B,), "absolute": (B,)}``: ρ of the maps and of their absolute values;
        NaN where a map is constant.
    """
    return {"signed": rank_correlation(trained, randomised),
            "absolute": rank_correlation(trained.abs(), randomised.abs())}


@dataclasses.dataclass(frozen=True)
class RankedMethod:
    """One method's place in the sanity check.

    Attributes:
        method: The method's name.
        mean_abs: Mean |ρ| over its defined values (NaN when none is defined).
        undefined: How many of its values are undefined (a constant map).
        total: How many values there are.
    """

    method: str
    mean_abs: float
    undefined: int
    total: int


def rank_by_abs_correlation(correlations: Mapping[str, Any]) -> list[RankedMethod]:
    """Methods ranked by how much their maps changed: smallest mean |ρ| first.

    A ρ near -1 is as much "unchanged" as one near +1 (the same order, reversed), so the rank
    uses |ρ|. A method with any undefined ρ (its map was constant) is flagged: it comes after
    every method whose ρ is always defined, never first because a collapsed map has no ρ.

    Args:
        correlations: Method -> (...) ρ values (e.g. (stages, B)), NaN where undefined.

    Returns:
        :class:`RankedMethod` per method, best first.
    """
    ranked = []
    for method, values in correlations.items():
        rho = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
        defined = rho[~torch.isnan(rho)]
        mean = float(defined.abs().mean()) if defined.numel() else float("nan")
        ranked.append(RankedMethod(method, mean, rho.numel() - defined.numel(), rho.numel()))
    return sorted(ranked, key=lambda r: (r.undefined > 0, np.isnan(r.mean_abs), r.mean_abs))
