"""Deletion and insertion curves (Petsiuk et al., 2018): does a map point at what the model uses?

A map ranks the patches of an image. **Deletion** removes them from the most to the least
important and tracks the probability of the explained class after every step: a faithful map
makes it fall fast (small area under the curve). **Insertion** starts from an image with every
patch removed and reveals the patches in the same order: a faithful map makes it rise fast
(large area). *Removed* means replaced by a baseline image (:func:`removal_baseline`): a blurred
copy of the photo, the photo's mean colour, or grey (0 after normalisation).

With P patches and ``steps`` steps (``steps`` divides P), step ``k`` removes (or reveals) the
top ``k · P / steps`` patches, so the curve has ``steps + 1`` points at the fractions
``k / steps`` and its area is the trapezoid rule on them (:func:`curve_auc`).

Every step of every image of every map is an independent forward pass, so
:func:`perturbation_curves` builds them all as one stream of perturbed images and runs it in
batches of ``batch_size``, with the fused attention kernel (no attention maps are needed here);
the two ends of each curve (nothing removed, everything removed) are the same for every map and
are computed once per image.

Example::

    curves = perturbation_curves(loaded, pixels, {"rollout": rollout, "random": noise},
                                 classes, mode="deletion", steps=14, baseline="blur")
    curve_auc(curves["rollout"])                 # (B,): one area per image
    bootstrap_interval(curve_auc(curves["rollout"]))   # mean and 95 % interval over images
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from helpers.models.libraries import attention_kernel, unwrap

__all__ = [
    "MODES",
    "BASELINES",
    "patch_tiling",
    "removal_baseline",
    "patch_order",
    "keep_masks",
    "perturb",
    "perturbation_curves",
    "curve_fractions",
    "curve_auc",
    "bootstrap_interval",
]

MODES = ("deletion", "insertion")
#: What a removed patch becomes: a blurred copy, the image's mean colour, or 0 (grey).
BASELINES = ("blur", "mean", "grey")


def _check_pixels(pixels: Any) -> None:
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[1] != 3 \
            or 0 in pixels.shape:
        shape = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ValueError(f"pixels must have shape (B, 3, H, W); got {shape}. Use "
                         "loaded.batch(images) to make one.")


def patch_tiling(pixels: torch.Tensor, maps: torch.Tensor) -> tuple[int, int]:
    """The g x g patch grid that ``maps`` lays over ``pixels``, checked.

    Args:
        pixels: (B, 3, H, W) images.
        maps: (B, P) or (B, g, g) one map per image.

    Returns:
        ``(g, patch)``: patches per side and pixels per patch side.

    Raises:
        ValueError: the maps do not match the batch or do not tile the images.
    """
    _check_pixels(pixels)
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
    return side, height // side


def removal_baseline(pixels: torch.Tensor, kind: str = "blur", sigma: float = 10.0
                     ) -> torch.Tensor:
    """What the removed patches of each image are replaced with.

    Args:
        pixels: (B, 3, H, W) preprocessed images.
        kind: ``"blur"``: a Gaussian blur of the image (Petsiuk et al.'s insertion start);
            ``"mean"``: each image's mean colour; ``"grey"``: 0 after normalisation, i.e. the
            normalisation's mean colour (mid grey for mean = std = 0.5).
        sigma: Standard deviation of the blur, in pixels.

    Returns:
        (B, 3, H, W) baseline images.
    """
    _check_pixels(pixels)
    if kind == "blur":
        return _gaussian_blur(pixels, sigma)
    if kind == "mean":
        return pixels.mean(dim=(-2, -1), keepdim=True).expand_as(pixels).clone()
    if kind == "grey":
        return torch.zeros_like(pixels)
    raise ValueError(f"baseline must be one of {', '.join(BASELINES)} or a (B, 3, H, W) "
                     f"tensor; got {kind!r}.")


def _gaussian_blur(pixels: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders: two 1-D passes instead of one 2-D one."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive; got {sigma!r}.")
    radius = min(math.ceil(3 * sigma), min(pixels.shape[-2:]) - 1)  # reflect needs pad < side
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=pixels.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(pixels.dtype)  # (2r + 1,)
    channels = pixels.shape[1]
    x = torch.nn.functional.pad(pixels, (radius, radius, radius, radius), mode="reflect")
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1),
                                   groups=channels)  # along rows
    return torch.nn.functional.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1),
                                      groups=channels)  # along columns: (B, 3, H, W)


def patch_order(maps: torch.Tensor) -> torch.Tensor:
    """Patch indices from the most to the least important, ties in index order.

    Args:
        maps: (B, P) or (B, g, g).

    Returns:
        (B, P) int64 indices.
    """
    flat = maps.detach().flatten(1).float()  # (B, P)
    return torch.argsort(-flat, dim=-1, stable=True)


def _check_steps(steps: Any, patches: int) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1 or patches % steps:
        divisors = [d for d in range(1, patches + 1) if patches % d == 0]
        raise ValueError(f"steps must be a positive integer that divides the {patches} "
                         f"patches ({', '.join(map(str, divisors))}); got {steps!r}.")


def keep_masks(maps: torch.Tensor, steps: int, mode: str = "deletion") -> torch.Tensor:
    """Which patches still show the image at each step of a deletion or insertion curve.

    Args:
        maps: (B, P) or (B, g, g) one map per image.
        steps: Number of steps; must divide P.
        mode: ``"deletion"`` (remove the most important first) or ``"insertion"`` (reveal
            the most important first).

    Returns:
        (B, steps + 1, P) booleans, True where the patch shows the original image.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    flat = maps.flatten(1)  # (B, P)
    patches = flat.shape[-1]
    _check_steps(steps, patches)
    rank = torch.empty_like(patch_order(flat))  # rank[b, p]: place of patch p in the order
    rank.scatter_(1, patch_order(flat), torch.arange(patches).expand_as(rank).contiguous())
    counts = torch.arange(steps + 1) * (patches // steps)  # (S + 1,) patches moved per step
    moved = rank[:, None, :] < counts[None, :, None]  # (B, S + 1, P)
    return ~moved if mode == "deletion" else moved


def perturb(pixels: torch.Tensor, baseline: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Images whose patches show ``pixels`` where ``keep`` is True and ``baseline`` elsewhere.

    Args:
        pixels: (B, 3, H, W) images.
        baseline: (B, 3, H, W) what removed patches become.
        keep: (B, P) or (B, g, g) booleans.

    Returns:
        (B, 3, H, W) perturbed images.
    """
    side, patch = patch_tiling(pixels, keep)
    grid = keep.reshape(-1, 1, side, side)  # (B, 1, g, g)
    mask = grid.repeat_interleave(patch, dim=-2).repeat_interleave(patch, dim=-1)  # (B,1,H,W)
    return torch.where(mask.to(pixels.device), pixels, baseline.to(pixels.device))


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
    logits = output.logits if hasattr(output, "logits") else output  # (n, classes)
    if int(classes.min()) < 0 or int(classes.max()) >= logits.shape[-1]:
        bad = sorted({c for c in classes.tolist() if not 0 <= c < logits.shape[-1]})
        raise ValueError(f"classes must lie in [0, {logits.shape[-1]}); got {bad}.")
    return logits.float().softmax(-1).gather(1, classes[:, None].to(logits.device))[:, 0]


def perturbation_curves(loaded: Any, pixels: torch.Tensor,
                        maps: Mapping[str, torch.Tensor] | torch.Tensor, classes: Any, *,
                        mode: str = "deletion", steps: int = 14,
                        baseline: str | torch.Tensor = "blur", batch_size: int = 64,
                        fused: bool = True, progress: bool = False
                        ) -> dict[str, torch.Tensor] | torch.Tensor:
    """Deletion or insertion curves of one or several maps, batched.

    Args:
        loaded: What :func:`helpers.models.load` returned, or any classifier module.
        pixels: (B, 3, H, W) preprocessed images.
        maps: (B, P) or (B, g, g) maps, or name -> such maps (several methods at once).
        classes: (B,) the class to follow in each image (or one int for all).
        mode: ``"deletion"`` or ``"insertion"``.
        steps: Number of steps; must divide P (e.g. 7, 14, 28 for 196 patches).
        baseline: One of :data:`BASELINES` or a (B, 3, H, W) tensor of replacement pixels.
        batch_size: Perturbed images per forward pass.
        fused: Run the model with its fused attention kernel (faster; outputs differ from
            the explicit softmax by float rounding only). The setting is restored afterwards.
        progress: Show a tqdm progress bar over the forward passes.

    Returns:
        (B, steps + 1) class probabilities, or name -> such curves when ``maps`` is a mapping.
        Point 0 is the untouched image for deletion and the fully removed one for insertion.

    Raises:
        ValueError: wrong shapes, steps that do not divide P, an unknown mode or baseline,
            or classes out of range.
    """
    named = dict(maps) if isinstance(maps, Mapping) else {"map": maps}
    if not named:
        raise ValueError("maps must hold at least one map.")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    for name, value in named.items():
        try:
            patch_tiling(pixels, value)
        except ValueError as err:
            raise ValueError(f"maps[{name!r}]: {err}") from None
    module = unwrap(loaded)
    device = next(module.parameters()).device
    batch = pixels.shape[0]
    target = _classes(classes, batch)
    if isinstance(baseline, str):
        replacement = removal_baseline(pixels, baseline)
    elif isinstance(baseline, torch.Tensor) and baseline.shape == pixels.shape:
        replacement = baseline.to(pixels.device)
    else:
        got = tuple(baseline.shape) if isinstance(baseline, torch.Tensor) else baseline
        raise ValueError(f"baseline must be one of {', '.join(BASELINES)} or a tensor of "
                         f"shape {tuple(pixels.shape)}; got {got!r}.")
    masks = {name: keep_masks(value, steps, mode) for name, value in named.items()}
    # Jobs: (image, keep mask). The two ends of every curve are shared by all maps.
    patches = next(iter(masks.values())).shape[-1]
    ends = torch.stack([torch.ones(batch, patches, dtype=torch.bool),
                        torch.zeros(batch, patches, dtype=torch.bool)], dim=1)  # (B, 2, P)
    inner = torch.stack([m[:, 1:-1] for m in masks.values()], dim=1)  # (B, M, S - 1, P)
    keep = torch.cat([ends.reshape(-1, patches), inner.reshape(-1, patches)])  # (jobs, P)
    image = torch.cat([torch.arange(batch).repeat_interleave(2),
                       torch.arange(batch).repeat_interleave(inner.shape[1] * inner.shape[2])])
    scores = torch.empty(len(keep))
    chunks = range(0, len(keep), batch_size)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"{mode} curves", unit="batch")
    with torch.inference_mode(), attention_kernel(module, fused=fused):
        for start in chunks:
            index = image[start:start + batch_size]  # (n,)
            images = perturb(pixels[index], replacement[index], keep[start:start + batch_size])
            scores[start:start + batch_size] = _scores(
                module, images.to(device), target[index]).cpu()
    full, empty = scores[:2 * batch].reshape(batch, 2).unbind(-1)  # (B,) each
    inner_scores = scores[2 * batch:].reshape(batch, len(masks), steps - 1)  # (B, M, S - 1)
    first, last = (full, empty) if mode == "deletion" else (empty, full)
    curves = {name: torch.cat([first[:, None], inner_scores[:, m], last[:, None]], dim=-1)
              for m, name in enumerate(masks)}  # (B, S + 1) each
    return curves if isinstance(maps, Mapping) else curves["map"]


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


def bootstrap_interval(values: Any, confidence: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float, float]:
    """Mean of per-image values and its percentile bootstrap interval (resampling images).

    Args:
        values: (N,) one number per image (e.g. an AUC, or a paired difference).
        confidence: Coverage of the interval.
        resamples: Bootstrap resamples.
        seed: Seed of the resampling (the interval is reproducible).

    Returns:
        ``(mean, low, high)``.
    """
    data = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if data.numel() == 0:
        raise ValueError("values must hold at least one number.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}.")
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(data), (resamples, len(data)), generator=generator)
    means = data[picks].mean(dim=-1)  # (resamples,)
    tail = (1 - confidence) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1 - tail], dtype=torch.float64))
    return float(data.mean()), float(low), float(high)
