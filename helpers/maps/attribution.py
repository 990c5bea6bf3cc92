"""One patch map per image from each explanation method, timed, for the faithfulness tests.

Every map is (B, P): one value per patch, row by row, higher = more important for the
explained class (the model's own top class unless told otherwise). The methods:

- **random**: seeded noise, the baseline every other method must beat;
- **edges (image only)**: the Sobel edge strength of each patch, a control that never looks
  at the model (Adebayo et al.'s edge detector);
- **last-layer attention**: the class token's attention row of the last layer, heads averaged;
- **rollout (mean)**, **rollout (max, discard 0.9)**: :mod:`helpers.maps.rollout`;
- **gradient rollout** as vit-explain's ``grad_rollout`` computes it: per layer the heads of
  ∇A ⊙ A averaged, *then* negatives clamped, the lowest 90 % of each layer's entries discarded,
  rolled out (residual added, rows re-normalised); **Chefer relevance**: negatives clamped in
  each head, then averaged (Ā), and propagated by ``R ← R + Ā R`` (no re-normalisation). Both
  from one batched backward pass (:mod:`helpers.maps.gradients`);
- **Grad-CAM**: the ``grad-cam`` package (pytorch-grad-cam) on timm's
  ``blocks[-1].norm1``, tokens reshaped to the patch grid with its ``vit_reshape_transform``;
- **occlusion**: captum's ``Occlusion``: slide a grey window (0 after normalisation) over the
  image and record the drop in the class probability, many windows per forward pass.

:func:`explanation_maps` computes them all in chunks of images and times each one. Methods that
share a pass are each charged the whole pass (what the method would cost on its own): the
attention methods one forward pass, the gradient methods one forward and backward pass.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from helpers.maps.capture import capture_attention
from helpers.maps.gradients import (
    _differentiable,
    grad_weighted_attention,
    relevance_propagation,
    rollout_fused,
)
from helpers.maps.rollout import attention_rollout
from helpers.models.libraries import adapter_for, attention_kernel, logits_of, require_timm, unwrap

__all__ = ["METHODS", "GRADIENT_DISCARD", "MethodMaps", "random_maps", "edge_maps",
           "last_layer_attention", "own_class_gradients", "grad_cam_maps", "occlusion_maps",
           "explanation_maps"]

METHODS = ("random", "edges (image only)", "last-layer attention", "rollout (mean)",
           "rollout (max, discard 0.9)", "gradient rollout", "Chefer relevance", "Grad-CAM",
           "occlusion")
_ATTENTION = METHODS[2:5]
#: The share of each layer's entries gradient rollout discards (vit-explain's default).
GRADIENT_DISCARD = 0.9
_GRADIENT = METHODS[5:7]


@dataclass(frozen=True)
class MethodMaps:
    """Each method's maps of a batch, and what they cost.

    Attributes:
        maps: Method -> (B, P) float32 maps on the CPU.
        seconds: Method -> seconds for the whole batch.
        classes: (B,) the explained class of each image.
        probabilities: (B,) the model's probability for it.
    """

    maps: dict[str, torch.Tensor]
    seconds: dict[str, float]
    classes: torch.Tensor
    probabilities: torch.Tensor

    def seconds_per_image(self, method: str) -> float:
        """Seconds one image cost ``method``."""
        return self.seconds[method] / len(self.classes)


def _grid(pixels: torch.Tensor, patch: int) -> int:
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[1] != 3:
        shape = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ValueError(f"pixels must have shape (B, 3, H, W); got {shape}.")
    height, width = pixels.shape[-2:]
    if height != width or height % patch:
        raise ValueError(f"images must be square and tile into {patch}-pixel patches; got "
                         f"{height} x {width}.")
    return height // patch


def _patch_size(module: nn.Module) -> int:
    return adapter_for(module).patch_size(module)


def random_maps(batch: int, patches: int, seed: int = 0) -> torch.Tensor:
    """(B, P) uniform noise, seeded: the map that knows nothing."""
    if batch < 1 or patches < 1:
        raise ValueError(f"batch and patches must be positive; got {batch}, {patches}.")
    return torch.rand(batch, patches, generator=torch.Generator().manual_seed(seed))


def edge_maps(pixels: torch.Tensor, patch: int = 16) -> torch.Tensor:
    """(B, P) mean Sobel edge strength per patch of the grey image; the model is not used."""
    grid = _grid(pixels, patch)
    grey = pixels.detach().float().mean(dim=1, keepdim=True)  # (B, 1, H, W)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=grey.device)
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")  # no false edges at the border
    gx = F.conv2d(padded, kx.view(1, 1, 3, 3))
    gy = F.conv2d(padded, kx.T.reshape(1, 1, 3, 3))
    strength = (gx ** 2 + gy ** 2).sqrt()  # (B, 1, H, W)
    return F.avg_pool2d(strength, patch).reshape(len(pixels), grid * grid).cpu()


def last_layer_attention(attentions: Sequence[torch.Tensor]) -> torch.Tensor:
    """(B, P) the class token's attention to the patches in the last layer, heads averaged."""
    if not attentions or attentions[-1].ndim != 4:
        raise ValueError("attentions must be a non-empty list of (B, heads, N, N) tensors.")
    return attentions[-1].float().mean(dim=1)[:, 0, 1:]  # (B, N - 1)


def own_class_gradients(loaded: Any, pixels: torch.Tensor, classes: Any
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every layer's attention and its gradient for each image's own class, one backward pass.

    :func:`helpers.maps.gradients.attention_gradients` differentiates every listed class for
    every image; here image ``b`` needs only ``classes[b]``. Images in a batch do not interact,
    so one backward pass of ``Σ_b logit[b, classes[b]]`` gives each image its own gradient.

    Args:
        loaded: What :func:`helpers.models.load` returned (any library), or its module.
        pixels: (B, 3, H, W) preprocessed images.
        classes: (B,) one class per image.

    Returns:
        ``(attentions, gradients, logits)``: (L, B, heads, N, N) twice, and (B, classes).
    """
    module = unwrap(loaded)
    target = torch.as_tensor(classes).reshape(-1).long()
    if target.numel() != len(pixels):
        raise ValueError(f"classes must give one class per image ({len(pixels)}); got "
                         f"{target.numel()}.")
    inputs = pixels.detach().to(next(module.parameters()).device).requires_grad_(True)
    with _frozen(module), torch.enable_grad(), capture_attention(module, detach=False) as maps:
        output = module(inputs)
        logits = logits_of(output)  # (B, classes)
        if int(target.min()) < 0 or int(target.max()) >= logits.shape[-1]:
            raise ValueError(f"classes must lie in [0, {logits.shape[-1]}).")
        score = logits.gather(1, target[:, None].to(logits.device)).sum()
        grads = torch.autograd.grad(score, [_differentiable(m) for m in maps])
    attentions = torch.stack([m.detach() for m in maps])  # (L, B, heads, N, N)
    gradients = torch.stack([g.reshape(m.shape) for g, m in zip(grads, maps, strict=True)])
    return attentions, gradients, logits.detach()


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Parameters need no gradient inside (gradients flow from the input); restored after."""
    saved = [(p, p.requires_grad) for p in module.parameters()]
    try:
        for p, _ in saved:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


def grad_cam_maps(loaded: Any, pixels: torch.Tensor, classes: Any,
                  target_layer: nn.Module | None = None) -> torch.Tensor:
    """Grad-CAM of a timm ViT through the ``grad-cam`` package, on the patch grid.

    The package hooks ``target_layer``, reshapes its (B, 1 + P, D) tokens into a (B, D, g, g)
    "feature map" (``vit_reshape_transform``, class token dropped), weights each channel by
    its mean gradient and sums: ``ReLU(Σ_c mean(∂y/∂A_c) · A_c)``. The map is read at patch
    resolution (the package's ``get_cam_image``), before it would be resized to the photo.

    Args:
        loaded: What :func:`helpers.models.load` returned for timm (or a timm ViT).
        pixels: (B, 3, H, W) preprocessed images.
        classes: (B,) the class to explain in each image.
        target_layer: The layer to read; default ``blocks[-1].norm1``.

    Returns:
        (B, P) non-negative maps (all zeros where the layer's patch tokens get no gradient).

    Raises:
        ValueError: not a timm ViT with one class token, or wrong shapes.
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from pytorch_grad_cam.utils.reshape_transforms import vit_reshape_transform

    needs = ("grad_cam_maps supports timm ViTs with one class token (its target layer is "
             "blocks[-1].norm1); got {name} from {library}. Load one with load('timm').")
    module = unwrap(loaded)
    needs = needs.replace("{name}", type(module).__name__)
    module = require_timm(module, needs)
    if getattr(module, "num_prefix_tokens", None) != 1:
        raise ValueError(needs.format(library="timm"))
    grid = _grid(pixels, _patch_size(module))
    layer = module.blocks[-1].norm1 if target_layer is None else target_layer
    targets = [ClassifierOutputTarget(int(c)) for c in torch.as_tensor(classes).reshape(-1)]
    if len(targets) != len(pixels):
        raise ValueError(f"classes must give one class per image ({len(pixels)}); got "
                         f"{len(targets)}.")
    reshape = functools.partial(vit_reshape_transform, height=grid, width=grid)
    inputs = pixels.detach().to(next(module.parameters()).device).requires_grad_(True)
    cam = GradCAM(model=module, target_layers=[layer], reshape_transform=reshape)
    try:
        with _frozen(module), torch.enable_grad():
            cam(input_tensor=inputs, targets=targets)  # forward, backward, hooks
            store = cam.activations_and_grads
            patch_cam = cam.get_cam_image(inputs, layer, targets, store.activations[0].numpy(),
                                          store.gradients[0].numpy())  # (B, g, g)
    finally:
        cam.activations_and_grads.release()  # the package's hooks come off
        cam.outputs = None
    return torch.from_numpy(np.maximum(patch_cam, 0)).float().reshape(len(pixels), -1)


def occlusion_maps(loaded: Any, pixels: torch.Tensor, classes: Any, window: int = 16,
                   images_per_pass: int = 128) -> torch.Tensor:
    """Occlusion through captum: the class probability lost when a grey window covers a patch.

    Args:
        loaded: What :func:`helpers.models.load` returned, or any classifier module.
        pixels: (B, 3, H, W) preprocessed images.
        classes: (B,) the class to explain in each image.
        window: Side of the occluding square in pixels (a multiple of the patch size); it
            moves by its own side, so (H / window)² forward passes per image.
        images_per_pass: Occluded images per forward pass (captum's ``perturbations_per_eval``
            is this divided by the batch size).

    Returns:
        (B, P) probability drops per patch (a window's drop is given to all its patches).
    """
    from captum.attr import Occlusion

    module = unwrap(loaded)
    patch = _patch_size(module)
    grid = _grid(pixels, patch)
    if not isinstance(window, int) or window < patch or window % patch or (
            pixels.shape[-1] % window):
        raise ValueError(f"window must be a multiple of the {patch}-pixel patch that divides "
                         f"{pixels.shape[-1]}; got {window!r}.")
    target = torch.as_tensor(classes).reshape(-1).long()
    if target.numel() != len(pixels):
        raise ValueError(f"classes must give one class per image ({len(pixels)}); got "
                         f"{target.numel()}.")
    device = next(module.parameters()).device

    def probabilities(x: torch.Tensor) -> torch.Tensor:
        output = module(x)
        return logits_of(output).float().softmax(-1)

    with torch.no_grad(), attention_kernel(module, fused=True):
        drops = Occlusion(probabilities).attribute(
            pixels.detach().to(device), sliding_window_shapes=(3, window, window),
            strides=(3, window, window), baselines=0.0, target=target.to(device),
            perturbations_per_eval=max(1, images_per_pass // len(pixels)))  # (B, 3, H, W)
    return F.avg_pool2d(drops[:, :1].float(), patch).reshape(len(pixels), grid * grid).cpu()


def _top_class(logits: torch.Tensor) -> torch.Tensor:
    return logits.argmax(dim=-1)


def explanation_maps(loaded: Any, pixels: torch.Tensor, classes: Any = None,
                     methods: Sequence[str] = METHODS, occlusion_window: int = 16,
                     batch_size: int = 16, seed: int = 0, progress: bool = False) -> MethodMaps:
    """Every method's map of every image, computed in chunks of ``batch_size`` and timed.

    Args:
        loaded: What :func:`helpers.models.load` returned (Grad-CAM needs timm).
        pixels: (B, 3, H, W) preprocessed images.
        classes: (B,) classes to explain; None explains each image's top class.
        methods: Which of :data:`METHODS` to compute.
        occlusion_window: Side of the occlusion window in pixels.
        batch_size: Images per chunk (the gradient pass holds every layer's attention and
            its gradient).
        seed: Seed of the random maps.
        progress: Show a tqdm progress bar over the chunks.

    Returns:
        :class:`MethodMaps`.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty selection of {list(METHODS)}; got "
                         f"unknown {unknown}." if unknown else "methods must not be empty.")
    module = unwrap(loaded)
    patch = _patch_size(module)
    grid = _grid(pixels, patch)
    maps: dict[str, list[torch.Tensor]] = {m: [] for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    chosen, probs = [], []
    starts = range(0, len(pixels), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="maps", unit="chunk")
    for start in starts:
        x = pixels[start:start + batch_size].to(next(module.parameters()).device)
        clock = time.perf_counter()
        with torch.inference_mode(), capture_attention(module) as attentions:
            output = module(x)
        logits = logits_of(output).float()
        shared = time.perf_counter() - clock  # the attention methods' forward pass
        target = _top_class(logits) if classes is None else torch.as_tensor(
            classes).reshape(-1)[start:start + batch_size].long()
        chosen.append(target.cpu())
        probs.append(logits.softmax(-1).gather(1, target[:, None].to(logits.device))[:, 0].cpu())
        for method in methods:
            clock = time.perf_counter()
            if method == "random":
                value = random_maps(len(x), grid * grid, seed + start)
            elif method == "edges (image only)":
                value = edge_maps(x, patch)
            elif method in _ATTENTION:
                value = (last_layer_attention(attentions) if method == _ATTENTION[0] else
                         attention_rollout(attentions, "mean") if method == _ATTENTION[1] else
                         attention_rollout(attentions, "max", 0.9))
                value = value.cpu()
                seconds[method] += shared
            elif method in _GRADIENT:
                continue  # below, both from one backward pass
            elif method == "Grad-CAM":
                value = grad_cam_maps(module, x, target)
            else:
                value = occlusion_maps(module, x, target, occlusion_window)
            seconds[method] += time.perf_counter() - clock
            maps[method].append(value.float())
        wanted = [m for m in _GRADIENT if m in methods]
        if wanted:
            clock = time.perf_counter()
            attentions, gradients, _ = own_class_gradients(module, x, target)
            shared = time.perf_counter() - clock
            for method in wanted:
                clock = time.perf_counter()
                if method == "gradient rollout":  # vit-explain: average, clamp, discard 0.9
                    value = rollout_fused(grad_weighted_attention(
                        attentions, gradients, clamp_per_head=False), GRADIENT_DISCARD)
                else:  # Chefer: clamp each head, average, propagate
                    value = relevance_propagation(
                        grad_weighted_attention(attentions, gradients))[:, 0, 1:]
                seconds[method] += shared + time.perf_counter() - clock
                maps[method].append(value.float().cpu())
    return MethodMaps(maps={m: torch.cat(v) for m, v in maps.items()}, seconds=seconds,
                      classes=torch.cat(chosen), probabilities=torch.cat(probs))
