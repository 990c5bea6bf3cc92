"""Class-specific explanations: attention weighted by its gradient, then followed through layers.

Attention rollout (:mod:`helpers.maps.rollout`) gives one map per image, whatever class you ask
about. To ask "which patches made the model say *cat*?", weight every layer's attention by
its gradient with respect to that class's score: an entry that raises the score when it grows
gets a positive weight, one that lowers it a negative one. Two ways to combine the layers:

- **gradient rollout** (after vit-explain's ``grad_rollout``): per layer ``mean_h (∇A ⊙ A)⁺``,
  by default negatives clamped in each head before the heads are averaged
  (``clamp_per_head=False`` averages first and clamps afterwards, as vit-explain does; its
  command line also discards the lowest 90 %), then the same rollout as for plain attention
  (residual added, rows re-normalised, last layer on the left).
- **relevance propagation** (Chefer, Gur & Wolf, 2021, *Generic Attention-model
  Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers*):
  ``Ā_l = mean_h (∇A_l ⊙ A_l)⁺`` and ``R ← R + Ā_l · R``, starting from ``R = I``; no
  re-normalisation, so layers with large gradients count more.

The gradients come from :func:`helpers.maps.capture.capture_attention` with ``detach=False``:
one forward pass with autograd on, then ``torch.autograd.grad`` for every class at once (one
batched backward pass), taken with respect to the captured tensors themselves. They therefore
pair with the right layer by construction (vit-explain's backward hooks collect them last layer
first, and zip them with the attentions first layer first: its issue #6).

Example::

    cat = gradient_rollout(loaded, photo, class_index=281)          # (196,)
    both = attention_gradients(loaded, loaded.batch([photo]), [281, 967])
    maps = rollout_fused(grad_weighted_attention(both.attentions, both.gradients[1]))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from helpers.maps.capture import capture_attention
from helpers.maps.rollout import attention_rollout, fuse_heads
from helpers.models.libraries import logits_of, unwrap
from helpers.shapes import require_nonempty

__all__ = [
    "AttentionGradients",
    "attention_gradients",
    "grad_weighted_attention",
    "rollout_fused",
    "relevance_propagation",
    "gradient_rollout",
    "chefer_relevance",
]


@dataclass(frozen=True)
class AttentionGradients:
    """Every layer's attention and its gradient with respect to some class scores.

    Attributes:
        attentions: (L, B, heads, N, N) attention probabilities, first layer first.
        gradients: (C, L, B, heads, N, N): ``gradients[c, l]`` is the derivative of each
            image's logit for ``class_indices[c]`` with respect to ``attentions[l]``.
        logits: (B, classes) the model's output for the batch.
        class_indices: The C classes, in the order of ``gradients``.
    """

    attentions: torch.Tensor
    gradients: torch.Tensor
    logits: torch.Tensor
    class_indices: tuple[int, ...]


def _differentiable(attention: torch.Tensor) -> torch.Tensor:
    """The tensor to differentiate for one captured map.

    torchvision's ``nn.MultiheadAttention`` multiplies the values by a (B·heads, N, N) tensor
    and returns ``.view(B, heads, N, N)`` of it; that view is made *after* the product, so the
    logits do not depend on it, only on its base. For a pure reshape the base's gradient,
    reshaped, is the view's gradient (also when the view itself is what is used downstream).
    """
    base = attention._base
    if (base is not None and base.numel() == attention.numel() and base.is_contiguous()
            and attention.is_contiguous()):
        return base
    return attention


def attention_gradients(loaded: Any, pixels: torch.Tensor,
                        class_indices: Sequence[int] | Callable[[torch.Tensor], Sequence[int]]
                        ) -> AttentionGradients:
    """Run the model once with autograd on and differentiate each class score w.r.t. attention.

    Works for what :func:`helpers.models.load` returns from torchvision, transformers or timm
    (or the library's own module). Images in a batch do not interact, so differentiating the sum
    of the batch's logits for a class gives every image its own gradient; all classes share one
    batched backward pass (``torch.autograd.grad(..., is_grads_batched=True)``).

    Args:
        loaded: What :func:`helpers.models.load` returned (or an ``nn.Module``).
        pixels: (B, 3, H, W) preprocessed images, e.g. ``loaded.batch(images)``.
        class_indices: The classes to explain, C >= 1 of them; or a function that picks them
            from the (B, classes) logits of this very forward pass (e.g. the top classes), so
            choosing the classes costs no second forward pass.

    Returns:
        :class:`AttentionGradients`, all tensors detached and on the model's device.

    Raises:
        ValueError: ``pixels`` is not (B, 3, H, W), or a class index is out of range.
        RuntimeError: a layer's attention is not on the path to the logits.
    """
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[1] != 3:
        shape = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ValueError(f"pixels must have shape (B, 3, H, W); got {shape}. Use "
                         "loaded.batch(images) to make one.")
    model = unwrap(loaded)
    device = next(model.parameters()).device
    # requires_grad on the input: the graph is built even if the weights are frozen
    inputs = pixels.detach().to(device).requires_grad_(True)  # (B, 3, H, W)
    with torch.enable_grad(), capture_attention(loaded, detach=False) as maps:
        output = model(inputs)
        logits = logits_of(output)  # (B, classes)
        chosen = class_indices(logits.detach()) if callable(class_indices) else class_indices
        classes = [int(c) for c in chosen]
        if not classes:
            raise ValueError("class_indices must name at least one class; got an empty "
                             "sequence.")
        bad = [c for c in classes if not 0 <= c < logits.shape[-1]]
        if bad:
            raise ValueError(f"class_indices must lie in [0, {logits.shape[-1]}); got {bad}.")
        targets = [_differentiable(m) for m in maps]
        # one backward pass for all classes: a batch of one-hot output gradients (vmap)
        one_hot = torch.zeros(len(classes), *logits.shape, device=logits.device)  # (C, B, classes)
        one_hot[torch.arange(len(classes)), :, classes] = 1.0
        grads = torch.autograd.grad(logits, targets, grad_outputs=one_hot,
                                    is_grads_batched=True, allow_unused=True)
        missing = [i for i, g in enumerate(grads) if g is None]
        if missing:
            raise RuntimeError(f"the attention of layers {missing} is not on the path to the "
                               "logits, so it has no gradient; the library returned a copy of "
                               "its probabilities instead of the tensor it uses.")
        gradients = torch.stack([g.reshape(len(classes), *m.shape)
                                 for g, m in zip(grads, maps, strict=True)], dim=1)
    return AttentionGradients(
        attentions=torch.stack([m.detach() for m in maps]),  # (L, B, heads, N, N)
        gradients=gradients.detach(),  # (C, L, B, heads, N, N)
        logits=logits.detach(),  # (B, classes)
        class_indices=tuple(classes))


def grad_weighted_attention(attentions: torch.Tensor, gradients: torch.Tensor,
                            head_fusion: str = "mean", clamp_per_head: bool = True
                            ) -> torch.Tensor:
    """Attention times its gradient, negatives clamped, heads fused.

    Args:
        attentions: (..., heads, N, N) probabilities.
        gradients: Same shape: the class score's gradient with respect to them.
        head_fusion: ``"mean"`` (the method's own choice), ``"max"`` or ``"min"``.
        clamp_per_head: True clamps each head before fusing (Chefer et al.'s
            ``E_h[(∇A ⊙ A)⁺]``); False fuses first and clamps the fused map (vit-explain's
            ``grad_rollout``: positive and negative heads cancel before the clamp).

    Returns:
        (..., N, N) non-negative class-specific maps, one per layer and image.
    """
    if attentions.shape != gradients.shape:
        raise ValueError(f"attentions and gradients must have the same shape; got "
                         f"{tuple(attentions.shape)} and {tuple(gradients.shape)}.")
    if attentions.ndim < 3:
        raise ValueError(f"attentions must have shape (..., heads, N, N); got "
                         f"{tuple(attentions.shape)}.")
    if clamp_per_head:
        return fuse_heads((gradients * attentions).clamp_min(0), head_fusion)  # (..., N, N)
    return fuse_heads(gradients * attentions, head_fusion).clamp_min(0)  # (..., N, N)


def rollout_fused(fused: Sequence[torch.Tensor] | torch.Tensor, discard_ratio: float = 0.0
                  ) -> torch.Tensor:
    """Attention rollout of maps whose heads are already fused (e.g. gradient-weighted).

    Args:
        fused: (L, B, N, N), or one (B, N, N) tensor per layer, first layer first.
        discard_ratio: Fraction in [0, 1) of each map's lowest entries to drop.

    Returns:
        (B, N - 1) class-token row over the patches, as
        :func:`helpers.maps.rollout.attention_rollout`.
    """
    layers = _fused_layers(fused)
    return attention_rollout([m.unsqueeze(1) for m in layers], "mean", discard_ratio)


def relevance_propagation(fused: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """Chefer et al. (2021)'s relevance update through the layers: ``R ← R + Ā_l · R``.

    Args:
        fused: (L, B, N, N) or one (B, N, N) per layer: ``Ā_l = mean_h (∇A_l ⊙ A_l)⁺``.

    Returns:
        (B, N, N) relevance matrix; row 0 (the class token), columns 1: are the patch map.
    """
    layers = _fused_layers(fused)
    batch, n, _ = layers[0].shape
    relevance = torch.eye(n, device=layers[0].device).expand(batch, n, n)  # (B, N, N)
    for layer in layers:
        relevance = relevance + layer.float() @ relevance  # (B, N, N)
    return relevance


def _fused_layers(fused: Sequence[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
    """The per-layer (B, N, N) maps of ``fused``, checked."""
    shape = tuple(fused.shape) if isinstance(fused, torch.Tensor) else None
    layers = list(fused) if shape is None or len(shape) == 4 else []
    if not layers or any(not isinstance(m, torch.Tensor) or m.ndim != 3
                         or m.shape != layers[0].shape or m.shape[-1] != m.shape[-2]
                         for m in layers):
        got = shape if shape is not None else [getattr(m, "shape", type(m)) for m in layers]
        raise ValueError("fused must be (L, B, N, N) or a non-empty list of equal (B, N, N) "
                         f"tensors; got {got}.")
    require_nonempty("fused", layers[0], "(B, N, N)")
    return layers


def _one_image(loaded: Any, image: Any, class_index: int, head_fusion: str) -> torch.Tensor:
    """(L, 1, N, N) gradient-weighted maps of one image for one class."""
    pixels = loaded.batch([image])  # (1, 3, H, W)
    found = attention_gradients(loaded, pixels, [class_index])
    return grad_weighted_attention(found.attentions, found.gradients[0], head_fusion)


def gradient_rollout(loaded: Any, image: Any, class_index: int, discard_ratio: float = 0.0,
                     head_fusion: str = "mean") -> torch.Tensor:
    """Class-specific attention rollout of one image.

    Each layer's attention is multiplied by its gradient with respect to the class's logit,
    negatives are clamped, heads averaged (``head_fusion``), and the layers rolled out as in
    :func:`helpers.maps.rollout.attention_rollout`.

    Args:
        loaded: What :func:`helpers.models.load` returned.
        image: Anything :func:`helpers.data.images.load_image` accepts.
        class_index: The class to explain.
        discard_ratio: Fraction in [0, 1) of each layer's lowest entries to drop.
        head_fusion: ``"mean"``, ``"max"`` or ``"min"``.

    Returns:
        (num_patches,) map over the patches, row by row; it sums to less than 1 (the class
        token keeps the rest).
    """
    return rollout_fused(_one_image(loaded, image, class_index, head_fusion), discard_ratio)[0]


def chefer_relevance(loaded: Any, image: Any, class_index: int) -> torch.Tensor:
    """Chefer et al. (2021)'s class-specific relevance map of one image.

    Args:
        loaded: What :func:`helpers.models.load` returned.
        image: Anything :func:`helpers.data.images.load_image` accepts.
        class_index: The class to explain.

    Returns:
        (num_patches,) relevance of each patch for the class token, row by row.
    """
    return relevance_propagation(_one_image(loaded, image, class_index, "mean"))[0, 0, 1:]
