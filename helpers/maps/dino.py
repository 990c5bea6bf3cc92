"""The maps of DINO's paper (Caron et al., 2021) and the seed's token-norm map, as pure functions.

Every function takes tensors a ViT produced and returns per-patch maps on the g x g patch grid:

* :func:`token_norm_map`: the seed's picture, the length of each patch token of
  ``forward_features`` (B, N, D);
* :func:`cls_attention_maps`: DINO's Figure 1, the class token's attention to the patches in the
  last layer, per head, from captured attention (B, heads, N, N);
* :func:`mass_threshold_mask`: the fewest patches holding a share (DINO: 60 %) of any
  non-negative weights (..., P);
* :func:`patch_pca`, :func:`pca_rgb`, :func:`pca_foreground_mask`: PCA of the patch features,
  the first three components as colours and a foreground mask from the first;
* :func:`image_maps`: one forward pass of a timm ViT, then all of the above.

Token 0 is the class token (``num_prefix_tokens=1``); the remaining tokens are the patches in
row-major order, so ``g = sqrt(N - 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "mass_threshold_mask",
    "cls_attention_maps",
    "token_norm_map",
    "PatchPCA",
    "patch_pca",
    "pca_rgb",
    "pca_foreground_mask",
    "ImageMaps",
    "image_maps",
]

ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)


# --------------------------------------------------------------------------- mass threshold


def mass_threshold_mask(weights: ArrayT, keep: float = 0.6) -> ArrayT:
    """The fewest patches whose summed weight reaches ``keep`` of the total, per row.

    DINO's paper draws each head's CLS attention as the set of patches that holds 60 % of its
    mass: sort the weights from largest to smallest, add them up, and stop as soon as the
    running sum reaches ``keep · total``. A patch is kept when the patches ranked *before* it
    still hold less than that share. Ties are broken by position (the earlier patch first), so
    every row keeps exactly the minimal number of patches.

    Args:
        weights: (..., num_patches) non-negative weights (torch tensor or numpy array), e.g.
            attention of shape (B, heads, num_patches). Each row needs a positive sum.
        keep: Share of each row's total weight to cover, in (0, 1].

    Returns:
        Boolean mask of the same shape and kind as ``weights`` (a tensor on the same device,
        or a numpy array): ``True`` for the kept patches.

    Raises:
        ValueError: ``keep`` outside (0, 1]; ``weights`` with no last dimension, an empty last
            dimension, NaN or infinite values, negative values, or a row that sums to zero.
    """
    if isinstance(keep, bool) or not isinstance(keep, int | float | np.floating | np.integer) \
            or not 0.0 < float(keep) <= 1.0:
        raise ValueError(f"keep must be a number in (0, 1] (the share of the attention mass to "
                         f"keep, e.g. 0.6); got {keep!r}.")
    as_numpy = isinstance(weights, np.ndarray)
    if not as_numpy and not isinstance(weights, torch.Tensor):
        raise ValueError(f"weights must be a torch tensor or numpy array of shape "
                         f"(..., num_patches); got {type(weights).__name__}.")
    w = torch.from_numpy(np.asarray(weights)) if as_numpy else weights.detach()
    if w.ndim == 0 or w.shape[-1] == 0:
        raise ValueError(f"weights must have shape (..., num_patches) with num_patches >= 1; "
                         f"got {tuple(w.shape)}.")
    if w.dtype == torch.bool or w.is_complex():
        raise ValueError(f"weights must hold real numbers; got dtype {w.dtype}.")
    w = w.to(torch.float64)  # (..., P): cumulative sums in double precision
    if not torch.isfinite(w).all():
        raise ValueError(f"weights of shape {tuple(w.shape)} contain NaN or infinite values.")
    if (w < 0).any():
        raise ValueError(f"weights must be non-negative (attention probabilities, norms); the "
                         f"smallest of shape {tuple(w.shape)} is {float(w.min()):.3g}.")
    ordered, order = torch.sort(w, dim=-1, descending=True, stable=True)  # (..., P) each
    running = ordered.cumsum(dim=-1)  # (..., P): mass of the top 1, 2, ... patches
    total = running[..., -1:]  # (..., 1)
    if (total <= 0).any():
        rows = int((total <= 0).sum())
        raise ValueError(f"every row of weights must have a positive sum; {rows} row(s) of "
                         f"weights of shape {tuple(w.shape)} are all zero.")
    before = running - ordered  # (..., P): mass of the patches ranked before each one
    kept_sorted = before < float(keep) * total  # (..., P): a prefix of each sorted row
    mask = torch.zeros_like(kept_sorted).scatter(-1, order, kept_sorted)  # (..., P)
    return mask.numpy() if as_numpy else mask.to(weights.device)


# --------------------------------------------------------------------------- grids


def _grid_side(num_patches: int, what: str) -> int:
    side = math.isqrt(num_patches)
    if num_patches < 1 or side * side != num_patches:
        raise ValueError(f"{what}: {num_patches} patch tokens do not form a square g x g grid "
                         "(check num_prefix_tokens).")
    return side


def cls_attention_maps(attentions: Sequence[torch.Tensor] | torch.Tensor, layer: int = -1,
                       num_prefix_tokens: int = 1) -> torch.Tensor:
    """How the class token attends to each patch, per head: DINO's attention maps.

    Row 0 of a layer's attention is the class token's query; its entries for the patch keys
    (``1:``), laid out on the patch grid, are the maps of DINO's Figure 1. The class token's
    attention to itself (and to any other prefix token) is left out, so a map sums to
    ``1 - attention[0, 0]``, not to 1.

    Args:
        attentions: One tensor per layer, each (B, heads, N, N), as
            :func:`helpers.maps.capture.capture_attention` collects them; or one layer's
            (B, heads, N, N) tensor.
        layer: Which layer of the list (default the last one, as in DINO).
        num_prefix_tokens: Tokens before the patches (1: the class token).

    Returns:
        (B, heads, g, g) float tensor, with g = sqrt(N - num_prefix_tokens).

    Raises:
        ValueError: an empty list, a layer index out of range, or a tensor that is not
            (B, heads, N, N) with a square patch grid.
    """
    if isinstance(attentions, torch.Tensor):
        attention = attentions
    else:
        if not attentions:
            raise ValueError("attentions is empty: run the forward pass inside "
                             "capture_attention(model) first.")
        if not -len(attentions) <= layer < len(attentions):
            raise ValueError(f"layer must be in [-{len(attentions)}, {len(attentions)}); "
                             f"got {layer}.")
        attention = attentions[layer]
    if not isinstance(attention, torch.Tensor) or attention.ndim != 4 \
            or attention.shape[-1] != attention.shape[-2]:
        shape = tuple(attention.shape) if isinstance(attention, torch.Tensor) \
            else type(attention).__name__
        raise ValueError(f"attention must have shape (B, heads, N, N); got {shape}.")
    batch, heads, tokens, _ = attention.shape
    if not 0 <= num_prefix_tokens < tokens:
        raise ValueError(f"num_prefix_tokens must be in [0, {tokens}); got {num_prefix_tokens}.")
    side = _grid_side(tokens - num_prefix_tokens, "attention")
    cls_row = attention[:, :, 0, num_prefix_tokens:]  # (B, heads, P): query = class token
    return cls_row.detach().float().reshape(batch, heads, side, side)  # (B, heads, g, g)


def token_norm_map(tokens: torch.Tensor, num_prefix_tokens: int = 1) -> torch.Tensor:
    """The seed's map: the length (L2 norm) of every patch token's output vector.

    Args:
        tokens: (B, N, D) output of ``model.forward_features`` (class token first).
        num_prefix_tokens: Tokens before the patches (1: the class token).

    Returns:
        (B, g, g) float tensor of norms, with g = sqrt(N - num_prefix_tokens).

    Raises:
        ValueError: ``tokens`` is not (B, N, D) with a square patch grid.
    """
    if not isinstance(tokens, torch.Tensor) or tokens.ndim != 3:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) \
            else type(tokens).__name__
        raise ValueError(f"tokens must have shape (B, N, D) (forward_features output); "
                         f"got {shape}.")
    batch, count, _ = tokens.shape
    if not 0 <= num_prefix_tokens < count:
        raise ValueError(f"num_prefix_tokens must be in [0, {count}); got {num_prefix_tokens}.")
    side = _grid_side(count - num_prefix_tokens, "tokens")
    norms = tokens[:, num_prefix_tokens:].detach().float().norm(dim=-1)  # (B, P)
    return norms.reshape(batch, side, side)  # (B, g, g)


# --------------------------------------------------------------------------- PCA


@dataclass(frozen=True)
class PatchPCA:
    """Principal components of patch features, fitted jointly over every given image.

    Attributes:
        scores: (B, P, k) coordinates of each patch along the components.
        components: (k, D) unit directions, the first one explaining the most variance.
        mean: (D,) the feature mean that was subtracted.
        explained: (k,) share of the total variance each component explains.
        grid: g, the side of the patch grid (P = g²).
    """

    scores: torch.Tensor
    components: torch.Tensor
    mean: torch.Tensor
    explained: torch.Tensor
    grid: int


def _as_batch(features: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if not isinstance(features, torch.Tensor) or features.ndim not in (2, 3):
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) \
            else type(features).__name__
        raise ValueError(f"features must have shape (B, P, D) or (P, D) (patch tokens only, "
                         f"e.g. forward_features(x)[:, 1:]); got {shape}.")
    single = features.ndim == 2
    return (features[None] if single else features), single


def patch_pca(features: torch.Tensor, n_components: int = 3) -> PatchPCA:
    """Fit PCA to the patch features of one or more images (all patches pooled).

    Signs: a principal direction is only defined up to sign, so one is chosen by rule.

    * Component 1 is flipped so that the **border** patches (the outer ring of the grid) score
      below zero on average. Photos usually have background at their edges, so the object
      ends up on the positive side and :func:`pca_foreground_mask` can keep ``score > 0``.
      This is a heuristic: an object that fills the frame can be called background.
    * The other components follow scikit-learn's rule: the largest-magnitude loading of each
      direction is made positive (only so the colours are reproducible).

    Args:
        features: (B, P, D) or (P, D) patch tokens (no class token), P = g².
        n_components: k, how many components to keep (at most min(B·P, D)).

    Returns:
        A :class:`PatchPCA`; its ``scores`` are (B, P, k) (B = 1 for a (P, D) input).

    Raises:
        ValueError: a wrong shape, non-finite values, P not square, or too many components.
    """
    batch_features, _ = _as_batch(features)
    batch, patches, dim = batch_features.shape
    side = _grid_side(patches, "features")
    if not isinstance(n_components, int) or not 1 <= n_components <= min(batch * patches, dim):
        raise ValueError(f"n_components must be an integer in [1, {min(batch * patches, dim)}] "
                         f"for features of shape {tuple(features.shape)}; got {n_components!r}.")
    x = batch_features.detach().to(torch.float64).reshape(batch * patches, dim)  # (B·P, D)
    if not torch.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values.")
    mean = x.mean(dim=0)  # (D,)
    centred = x - mean  # (B·P, D)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)  # vh: (min, D)
    components = vh[:n_components].clone()  # (k, D)
    # scikit-learn's sign rule first, then the border rule for component 1.
    biggest = components.abs().argmax(dim=1)  # (k,)
    signs = torch.sign(components.gather(1, biggest[:, None])[:, 0])  # (k,)
    components *= signs[:, None]
    scores = (centred @ components.T).reshape(batch, side, side, n_components)  # (B, g, g, k)
    border = torch.ones(side, side, dtype=torch.bool, device=scores.device)
    border[1:-1, 1:-1] = False  # (g, g): the outer ring of patches
    if scores[:, border, 0].mean() > 0:
        components[0] = -components[0]
        scores[..., 0] = -scores[..., 0]
    variance = singular**2  # (min,)
    explained = variance[:n_components] / variance.sum().clamp_min(1e-300)  # (k,)
    return PatchPCA(scores=scores.reshape(batch, patches, n_components).float(),
                    components=components.float(), mean=mean.float(),
                    explained=explained.float(), grid=side)


def pca_rgb(features: torch.Tensor) -> torch.Tensor:
    """The first three principal components of the patch features, shown as RGB colours.

    Each component is scaled to [0, 1] by its minimum and maximum over *all* given patches,
    so colours mean the same thing across the images of one call.

    Args:
        features: (B, P, D) or (P, D) patch tokens, P = g².

    Returns:
        (B, g, g, 3) float tensor in [0, 1], or (g, g, 3) for a (P, D) input.
    """
    batch_features, single = _as_batch(features)
    rgb = _rgb(patch_pca(batch_features, n_components=3))  # (B, g, g, 3)
    return rgb[0] if single else rgb


def _rgb(pca: PatchPCA) -> torch.Tensor:
    scores = pca.scores[..., :3]  # (B, P, 3)
    low = scores.amin(dim=(0, 1))  # (3,)
    high = scores.amax(dim=(0, 1))  # (3,)
    rgb = ((scores - low) / (high - low).clamp_min(1e-12)).clamp(0, 1)  # (B, P, 3)
    return rgb.reshape(len(scores), pca.grid, pca.grid, 3)  # (B, g, g, 3)


def pca_foreground_mask(features: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Foreground patches: those scoring above ``threshold`` on the first principal component.

    The component's sign is chosen so the border patches score negative on average (see
    :func:`patch_pca`); since the scores are centred, ``threshold=0`` splits at the mean.

    Args:
        features: (B, P, D) or (P, D) patch tokens, P = g².
        threshold: Cut on the first component's score.

    Returns:
        (B, g, g) boolean tensor, or (g, g) for a (P, D) input.
    """
    batch_features, single = _as_batch(features)
    mask = _foreground(patch_pca(batch_features, n_components=1), threshold)  # (B, g, g)
    return mask[0] if single else mask


def _foreground(pca: PatchPCA, threshold: float = 0.0) -> torch.Tensor:
    first = pca.scores[..., 0].reshape(len(pca.scores), pca.grid, pca.grid)  # (B, g, g)
    return first > threshold  # (B, g, g)


# --------------------------------------------------------------------------- one pass, every map


@dataclass(frozen=True)
class ImageMaps:
    """Every map of this module for a batch of photos, from one forward pass.

    Attributes:
        photos: (B, H, W, 3) float array in [0, 1]: the crops the model saw.
        tokens: (B, N, D) ``forward_features`` output (class token first).
        attention: (B, heads, g, g) last layer's class-token attention to the patches.
        norms: (B, g, g) token-norm maps.
        rgb: (B, g, g, 3) first three principal components as colours (one PCA per photo).
        foreground: (B, g, g) boolean foreground mask from the first principal component.
        explained: (B, 3) variance share of the three components, per photo.
    """

    photos: np.ndarray
    tokens: torch.Tensor
    attention: torch.Tensor
    norms: torch.Tensor
    rgb: torch.Tensor
    foreground: torch.Tensor
    explained: torch.Tensor


def image_maps(loaded: object, images: Sequence[object]) -> ImageMaps:
    """Run a timm ViT once on ``images`` and compute every map of this module.

    Args:
        loaded: What :func:`helpers.models.load` returned for a timm ViT (it needs
            ``model.forward_features`` and ``model.num_prefix_tokens``).
        images: B photos, anything :func:`helpers.data.images.load_image` accepts.

    Returns:
        An :class:`ImageMaps` (tensors on the CPU).
    """
    from helpers.data.preprocessing import pixels_to_image
    from helpers.maps.capture import capture_attention

    model = loaded.model
    if not hasattr(model, "forward_features"):
        raise ValueError(f"image_maps needs a timm ViT (with forward_features); got "
                         f"{type(model).__name__}.")
    prefix = int(getattr(model, "num_prefix_tokens", 1))
    pixels = loaded.batch(list(images))  # (B, 3, H, W)
    with capture_attention(loaded) as attentions, torch.inference_mode():
        tokens = model.forward_features(pixels).float().cpu()  # (B, N, D)
    patches = tokens[:, prefix:]  # (B, P, D)
    # One PCA per photo: fitted jointly, the first component tends to tell the photos apart
    # instead of object from background.
    pcas = [patch_pca(one, n_components=3) for one in patches]  # B x scores (1, P, 3)
    return ImageMaps(
        photos=np.stack([pixels_to_image(p, loaded.preprocess) for p in pixels]),
        tokens=tokens,
        attention=cls_attention_maps([a.cpu() for a in attentions], num_prefix_tokens=prefix),
        norms=token_norm_map(tokens, num_prefix_tokens=prefix),
        rgb=torch.cat([_rgb(pca) for pca in pcas]),  # (B, g, g, 3)
        foreground=torch.cat([_foreground(pca) for pca in pcas]),  # (B, g, g)
        explained=torch.stack([pca.explained for pca in pcas]),  # (B, 3)
    )
