"""Deletion and insertion curves (Petsiuk et al., 2018): does a map point at what the model uses?

A map ranks the patches of an image. **Deletion** removes them from the most to the least
important and tracks the probability of the explained class after every step: a faithful map
makes it fall fast (small area under the curve). **Insertion** starts from an image with every
patch removed and reveals the patches in the same order: a faithful map makes it rise fast
(large area). *Removed* is one of :data:`helpers.evaluation.removal.REMOVALS`: a fill (blur, mean
colour, grey) or no token at all; by default RISE's own pairing
(:data:`~helpers.evaluation.removal.RISE_REMOVAL`: deletion to grey, insertion from blur).

With P patches and ``steps`` steps (``steps`` divides P), step ``k`` removes (or reveals) the
top ``k · P / steps`` patches, so the curve has ``steps + 1`` points at the fractions
``k / steps`` and its area is the trapezoid rule on them (:func:`curve_auc`).

**Ties.** Many maps give several patches the same value: Grad-CAM's ReLU zeros, occlusion's
windows (every patch of a window shares its value), a constant map. A stable sort would remove
tied patches in reading order, from the top-left. :func:`patch_order` breaks ties at random
(seeded), and :func:`perturbation_curves` averages ``draws`` such orders, so a constant map
is a random order and its expected curve is the random map's.

Every step of every image of every map is an independent forward pass, so
:func:`perturbation_curves` builds them all as one stream, computes each distinct perturbed
image once (the two ends of every curve, and every step that another map or tie-breaking draw
shares), and runs the stream in batches with the fused attention kernel.

Example::

    result = deletion_insertion(loaded, pixels, {"rollout": rollout, "random": noise}, classes)
    result.interval("deletion", "rollout")                   # mean AUC and its 95 % interval
    result.interval("deletion", "rollout", against="random") # paired difference
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from helpers.evaluation.reliability import bootstrap_interval
from helpers.evaluation.removal import (
    FILLS,
    REMOVALS,
    RISE_REMOVAL,
    kept_tokens,
    perturb,
    removal_baseline,
    token_site,
)
from helpers.models.libraries import attention_kernel, logits_of, unwrap

__all__ = [
    "MODES",
    "BASELINES",
    "patch_tiling",
    "patch_order",
    "tied_share",
    "keep_masks",
    "perturbation_curves",
    "curve_fractions",
    "curve_auc",
    "FaithfulnessResult",
    "deletion_insertion",
    # re-exported from helpers.evaluation.removal and helpers.evaluation.reliability
    "removal_baseline",
    "perturb",
    "bootstrap_interval",
]

MODES = ("deletion", "insertion")
#: The fills (kept under its old name): what a removed patch becomes if it stays in the image.
BASELINES = FILLS


def patch_tiling(pixels: torch.Tensor, maps: torch.Tensor) -> tuple[int, int]:
    """The g x g patch grid that ``maps`` lays over ``pixels``, checked.

    Args:
        pixels: (B, 3, H, W) images.
        maps: (B, P) or (B, g, g) one map per image.

    Returns:
        ``(g, patch)``: patches per side and pixels per patch side.

    Raises:
        ValueError: the maps do not match the batch, do not tile the images, or hold NaN.
    """
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[1] != 3 \
            or 0 in pixels.shape:
        shape = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ValueError(f"pixels must have shape (B, 3, H, W); got {shape}. Use "
                         "loaded.batch(images) to make one.")
    if not isinstance(maps, torch.Tensor) or maps.ndim not in (2, 3) or 0 in maps.shape:
        shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(f"maps must have shape (B, P) or (B, g, g); got {shape}.")
    if maps.shape[0] != pixels.shape[0]:
        raise ValueError(f"maps must hold one map per image: pixels has {pixels.shape[0]} "
                         f"images but maps has {maps.shape[0]}.")
    patches = maps[0].numel()
    side = math.isqrt(patches)
    height, width = pixels.shape[-2:]
    if side * side != patches or height != width or height % side:
        raise ValueError(f"each map's {patches} values must form a square g x g grid that "
                         f"tiles the {height} x {width} images; got maps {tuple(maps.shape)}.")
    if bool(torch.isnan(maps).any()):
        raise ValueError("maps hold NaN: a patch order needs a number for every patch.")
    return side, height // side


def patch_order(maps: torch.Tensor, seed: int | None = 0) -> torch.Tensor:
    """Patch indices from the most to the least important, ties broken at random.

    Args:
        maps: (B, P) or (B, g, g).
        seed: Seed of the tie-breaking; None keeps tied patches in index (reading) order,
            which removes tied patches from the top-left first.

    Returns:
        (B, P) int64 indices.
    """
    flat = maps.detach().flatten(1).float().cpu()  # (B, P)
    if seed is None:
        return torch.argsort(-flat, dim=-1, stable=True)
    generator = torch.Generator().manual_seed(seed)
    shuffle = torch.rand(flat.shape, generator=generator).argsort(dim=-1)  # (B, P) permutations
    ranked = torch.argsort(-flat.gather(1, shuffle), dim=-1, stable=True)  # ties: shuffled order
    return shuffle.gather(1, ranked)


def tied_share(maps: torch.Tensor) -> torch.Tensor:
    """(B,) the share of each map's patches whose value another patch of the map shares."""
    flat = maps.detach().flatten(1).float().cpu()
    values = flat.sort(dim=-1).values
    same = values[:, 1:] == values[:, :-1]  # (B, P - 1)
    tied = torch.zeros_like(flat, dtype=torch.bool)
    tied[:, 1:] |= same
    tied[:, :-1] |= same
    return tied.double().mean(-1)


def _check_steps(steps: Any, patches: int) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1 or patches % steps:
        divisors = [d for d in range(1, patches + 1) if patches % d == 0]
        raise ValueError(f"steps must be a positive integer that divides the {patches} "
                         f"patches ({', '.join(map(str, divisors))}); got {steps!r}.")


def keep_masks(maps: torch.Tensor, steps: int, mode: str = "deletion", seed: int | None = 0
               ) -> torch.Tensor:
    """Which patches still show the image at each step of a deletion or insertion curve.

    Args:
        maps: (B, P) or (B, g, g) one map per image.
        steps: Number of steps; must divide P.
        mode: ``"deletion"`` (remove the most important first) or ``"insertion"`` (reveal
            the most important first).
        seed: Tie-breaking seed of :func:`patch_order`.

    Returns:
        (B, steps + 1, P) booleans, True where the patch shows the original image.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    flat = maps.flatten(1)  # (B, P)
    patches = flat.shape[-1]
    _check_steps(steps, patches)
    order = patch_order(flat, seed)
    rank = torch.empty_like(order)  # rank[b, p]: place of patch p in the order
    rank.scatter_(1, order, torch.arange(patches).expand_as(rank).contiguous())
    counts = torch.arange(steps + 1) * (patches // steps)  # (S + 1,) patches moved per step
    moved = rank[:, None, :] < counts[None, :, None]  # (B, S + 1, P)
    return ~moved if mode == "deletion" else moved


def _classes(classes: Any, batch: int) -> torch.Tensor:
    indices = torch.as_tensor(classes).reshape(-1).long() if not isinstance(
        classes, int) else torch.full((batch,), classes)
    if indices.numel() != batch:
        raise ValueError(f"classes must give one class per image ({batch}); got "
                         f"{indices.numel()}.")
    return indices


def _scores(module: torch.nn.Module, images: torch.Tensor, classes: torch.Tensor
            ) -> torch.Tensor:
    """The probability of each image's class: (n, 3, H, W), (n,) -> (n,)."""
    output = module(images)
    logits = logits_of(output)  # (n, classes)
    if int(classes.min()) < 0 or int(classes.max()) >= logits.shape[-1]:
        bad = sorted({c for c in classes.tolist() if not 0 <= c < logits.shape[-1]})
        raise ValueError(f"classes must lie in [0, {logits.shape[-1]}); got {bad}.")
    return logits.float().softmax(-1).gather(1, classes[:, None].to(logits.device))[:, 0]


def _replacement(pixels: torch.Tensor, removal: Any) -> torch.Tensor | None:
    """The fill images for ``removal``, or None for token removal."""
    if isinstance(removal, str) and removal == "tokens":
        return None
    if isinstance(removal, str) and removal in FILLS:
        return removal_baseline(pixels, removal)
    if isinstance(removal, torch.Tensor) and removal.shape == pixels.shape:
        return removal.to(pixels.device)
    got = tuple(removal.shape) if isinstance(removal, torch.Tensor) else removal
    raise ValueError(f"baseline must be one of {', '.join(REMOVALS)}, None (RISE's pairing) "
                     f"or a tensor of shape {tuple(pixels.shape)}; got {got!r}.")


def perturbation_curves(loaded: Any, pixels: torch.Tensor,
                        maps: Mapping[str, torch.Tensor] | torch.Tensor, classes: Any, *,
                        mode: str = "deletion", steps: int = 14,
                        baseline: str | torch.Tensor | None = None, draws: int = 1,
                        seed: int = 0, batch_size: int = 64, fused: bool = True,
                        progress: bool = False) -> dict[str, torch.Tensor] | torch.Tensor:
    """Deletion or insertion curves of one or several maps, batched.

    Args:
        loaded: What :func:`helpers.models.load` returned, or any classifier module (token
            removal needs a ViT of timm, torchvision or transformers).
        pixels: (B, 3, H, W) preprocessed images.
        maps: (B, P) or (B, g, g) maps, or name -> such maps (several methods at once).
        classes: (B,) the class to follow in each image (or one int for all).
        mode: ``"deletion"`` or ``"insertion"``.
        steps: Number of steps; must divide P (e.g. 7, 14, 28 for 196 patches).
        baseline: How a patch is removed: one of :data:`helpers.evaluation.removal.REMOVALS`
            (``"tokens"`` leaves its token out), a (B, 3, H, W) tensor of fill pixels, or None
            for RISE's pairing (grey for deletion, blur for insertion).
        draws: Tie-breaking orders to average (seeds ``seed`` .. ``seed + draws - 1``); maps
            without ties give the same curve every draw, computed once.
        seed: Seed of the first tie-breaking order.
        batch_size: Perturbed images per forward pass.
        fused: Run the model with its fused attention kernel (faster; outputs differ from
            the explicit softmax by float rounding only). The setting is restored afterwards.
        progress: Show a tqdm progress bar over the forward passes.

    Returns:
        (B, steps + 1) class probabilities, or name -> such curves when ``maps`` is a mapping.
        Point 0 is the untouched image for deletion and the fully removed one for insertion.

    Raises:
        ValueError: wrong shapes, steps that do not divide P, an unknown mode or removal,
            classes out of range, or token removal on a model that does not support it.
    """
    named = dict(maps) if isinstance(maps, Mapping) else {"map": maps}
    if not named:
        raise ValueError("maps must hold at least one map.")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    for label, value in (("batch_size", batch_size), ("draws", draws)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{label} must be a positive integer; got {value!r}.")
    for name, value in named.items():
        try:
            patch_tiling(pixels, value)
        except ValueError as err:
            raise ValueError(f"maps[{name!r}]: {err}") from None
    module = unwrap(loaded)
    device = next(module.parameters()).device
    batch = pixels.shape[0]
    target = _classes(classes, batch)
    replacement = _replacement(pixels, RISE_REMOVAL[mode] if baseline is None else baseline)
    if replacement is None:
        token_site(module)  # a clear error now, not after the first batch
    masks = torch.stack([torch.stack([keep_masks(value, steps, mode, seed + d)
                                      for d in range(draws)], dim=1)
                         for value in named.values()], dim=1)  # (B, M, D, S + 1, P)
    patches = masks.shape[-1]
    # Each distinct (image, keep mask) is one job: shared ends, and steps shared by maps/draws.
    image_of = torch.arange(batch).view(-1, 1, 1, 1).expand(masks.shape[:-1])  # (B, M, D, S+1)
    rows = torch.cat([image_of.reshape(-1, 1), masks.reshape(-1, patches).long()], dim=1)
    jobs, inverse = torch.unique(rows, dim=0, return_inverse=True)  # (J, 1 + P), (rows,)
    if replacement is None:  # token removal: a batch holds sequences of one length
        kept = jobs[:, 1:].sum(-1)
        chunks = [chunk for count in kept.unique()
                  for chunk in (kept == count).nonzero()[:, 0].split(batch_size)]
    else:
        chunks = list(torch.arange(len(jobs)).split(batch_size))
    scores = torch.empty(len(jobs))
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"{mode} curves", unit="batch")
    with torch.inference_mode(), attention_kernel(module, fused=fused):
        for chunk in chunks:
            index = jobs[chunk, 0]  # (n,) image of each job
            keep = jobs[chunk, 1:].bool()  # (n, P)
            if replacement is None:
                with kept_tokens(module, keep) as cuts:
                    scores[chunk] = _scores(module, pixels[index].to(device),
                                            target[index]).cpu()
                if not cuts:
                    raise RuntimeError("token removal never reached its cut: the model's "
                                       "layout is not the one helpers.evaluation.removal expects.")
            else:
                images = perturb(pixels[index], replacement[index], keep)
                scores[chunk] = _scores(module, images.to(device), target[index]).cpu()
    curves = scores[inverse].reshape(masks.shape[:-1]).mean(dim=2)  # (B, M, S + 1)
    named_curves = {name: curves[:, m] for m, name in enumerate(named)}  # (B, S + 1) each
    return named_curves if isinstance(maps, Mapping) else named_curves["map"]


def curve_fractions(steps: int) -> torch.Tensor:
    """(steps + 1,) the fraction of patches removed (or revealed) at each point."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    return torch.arange(steps + 1, dtype=torch.float64) / steps


def curve_auc(curves: torch.Tensor) -> torch.Tensor:
    """Area under deletion or insertion curves over the fraction of patches, in [0, 1].

    Args:
        curves: (..., steps + 1) scores at evenly spaced fractions 0, 1/steps, ..., 1.

    Returns:
        (...) areas by the trapezoid rule.
    """
    if not isinstance(curves, torch.Tensor) or curves.ndim < 1 or curves.shape[-1] < 2:
        shape = tuple(curves.shape) if isinstance(curves, torch.Tensor) else type(curves).__name__
        raise ValueError(f"curves must have shape (..., steps + 1) with at least 2 points; "
                         f"got {shape}.")
    steps = curves.shape[-1] - 1
    values = curves.double()
    return (values[..., :-1] + values[..., 1:]).sum(-1) / (2 * steps)


@dataclass(frozen=True)
class FaithfulnessResult:
    """Deletion and insertion curves of several maps on the same images, and their areas.

    Attributes:
        curves: Mode -> method -> (B, steps + 1) class probabilities.
        removal: Mode -> how patches were removed (one of the removal kinds).
        steps: Steps per curve.
    """

    curves: dict[str, dict[str, torch.Tensor]]
    removal: dict[str, str]
    steps: int

    def auc(self, mode: str, method: str) -> torch.Tensor:
        """(B,) the area under each image's curve."""
        return curve_auc(self.curves[mode][method])

    def interval(self, mode: str, method: str, against: str | None = None,
                 confidence: float = 0.95) -> tuple[float, float, float]:
        """Mean AUC and its bootstrap interval over images; with ``against``, the paired
        difference ``method - against`` (e.g. against ``"random"``)."""
        values = self.auc(mode, method)
        if against is not None:
            values = values - self.auc(mode, against)
        return bootstrap_interval(values, confidence)


def deletion_insertion(loaded: Any, pixels: torch.Tensor, maps: Mapping[str, torch.Tensor],
                       classes: Any, *, steps: int = 14,
                       removal: str | Mapping[str, str] | None = None, draws: int = 1,
                       seed: int = 0, batch_size: int = 64, progress: bool = False
                       ) -> FaithfulnessResult:
    """Both curves of every map, ready for AUCs and intervals: the one call to evaluate maps.

    Args:
        loaded: What :func:`helpers.models.load` returned (or a classifier module).
        pixels: (B, 3, H, W) preprocessed images.
        maps: Method -> (B, P) maps; include ``"random"`` to compare against it.
        classes: (B,) the class each image is explained for.
        steps: Steps per curve (divides P).
        removal: One removal kind for both curves, mode -> kind, or None for RISE's pairing.
        draws: Tie-breaking orders to average (see :func:`perturbation_curves`).
        seed: Seed of the first tie-breaking order.
        batch_size: Perturbed images per forward pass.
        progress: Show progress bars.

    Returns:
        :class:`FaithfulnessResult`.
    """
    kinds = dict(RISE_REMOVAL) if removal is None else (
        dict.fromkeys(MODES, removal) if isinstance(removal, str) else dict(removal))
    if set(kinds) != set(MODES) or any(k not in REMOVALS for k in kinds.values()):
        raise ValueError(f"removal must be one of {', '.join(REMOVALS)}, a mapping of "
                         f"{' and '.join(MODES)} to them, or None; got {removal!r}.")
    curves = {mode: perturbation_curves(loaded, pixels, maps, classes, mode=mode, steps=steps,
                                        baseline=kinds[mode], draws=draws, seed=seed,
                                        batch_size=batch_size, progress=progress)
              for mode in MODES}
    return FaithfulnessResult(curves=curves, removal=kinds, steps=steps)
